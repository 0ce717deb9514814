-- campaign_first_order — 首单 (进 → 活): members who joined and never bought.
--
-- Eligible: joined between `first_order_after_days` (3) and `first_order_within_days`
-- (180) days before the run date, with no paid order ever (orders_all_time = 0).
-- Consent and suppression are the contact policy's (docs/outreach.md).
-- Score: how likely a first order is, by how recently they joined and by acquisition
-- channel: the channel's first-order rate × freshness, where
--   rate       = (members of the channel who joined in the `first_order_within_days`
--                 before the eligible ones and ordered within that many days of joining
--                 + 1) / (those members + 2) — measured on the retailer's own members,
--                 smoothed so a small channel is neither 0 nor 1 (an unknown channel is
--                 its own channel, `unknown`);
--   freshness  = 1 − days since joining / (`first_order_within_days` + 1): the first
--                weeks after joining are when a member is most likely to buy.
-- Offer: the job file's (a first-order coupon).
WITH joined AS (
    SELECT
        m.member_id,
        CAST(m.joined_at AS DATE) AS joined_on,
        $as_of - CAST(m.joined_at AS DATE) AS days_member,
        COALESCE(NULLIF(TRIM(CAST(m.acquisition_channel AS VARCHAR)), ''), 'unknown') AS channel,
        f.first_order_date
    FROM current_members m
    JOIN member_features f ON f.member_id = m.member_id
    WHERE m.joined_at IS NOT NULL
),
rates AS (
    -- Members who joined in the window before the eligible ones: did they order in time?
    SELECT
        channel,
        (COUNT(*) FILTER (WHERE first_order_date IS NOT NULL
                            AND first_order_date - joined_on <= $first_order_within_days) + 1.0)
            / (COUNT(*) + 2.0) AS rate
    FROM joined
    WHERE days_member > $first_order_within_days
      AND days_member <= 2 * $first_order_within_days
    GROUP BY channel
)
SELECT
    j.member_id,
    CAST(COALESCE(r.rate, 0.5)
         * (1.0 - CAST(j.days_member AS DOUBLE) / ($first_order_within_days + 1)) AS DOUBLE) AS score,
    make_array(
        'joined ' || CAST(j.days_member AS VARCHAR) || ' days ago via ' || j.channel || ', no order yet',
        'first-order rate of ' || j.channel || ' members '
            || CAST(CAST(ROUND(COALESCE(r.rate, 0.5) * 100) AS BIGINT) AS VARCHAR) || '%'
    ) AS reasons,
    -- Message fields (docs/outreach.md).
    CAST(j.days_member AS VARCHAR) AS msg_days_since_joined
FROM joined j
JOIN member_tags t ON t.member_id = j.member_id
LEFT JOIN rates r ON r.channel = j.channel
WHERE t.orders_all_time = 0
  AND j.days_member >= $first_order_after_days
  AND j.days_member <= $first_order_within_days
