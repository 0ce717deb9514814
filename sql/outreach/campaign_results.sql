-- campaign_results: how past campaigns did against their holdout groups, from
-- contact_history, per campaign and member segment (segment_id 'all' = the whole
-- campaign; 'none' = members without a segment tonight).
--
-- Contacts: sent in the last `results_window_days` days before the run date. A member
-- counts once per campaign, in the group contact_history puts them in (holdout = true:
-- selected but deliberately not contacted). A member converted when converted_at falls
-- within `attribution_days` days after their first send of the campaign; revenue is
-- what those conversions brought.
-- uplift = conversion_contacted − conversion_holdout, with a 95% normal (Wald) interval:
-- uplift ± 1.96 × sqrt(p_c(1 − p_c)/n_c + p_h(1 − p_h)/n_h).
-- enough_data is false when either group has fewer than `results_min_group` members or
-- fewer than `results_min_conversions` (default 5) conversions or non-conversions (the
-- interval is then not to be trusted).
-- window_complete is false while the last send's attribution window is still open.
WITH contacts AS (
    SELECT
        campaign,
        member_id,
        holdout,
        MIN(sent_at) AS sent_at,
        MAX(sent_at) AS last_sent_at
    FROM contact_history
    WHERE sent_at >= $as_of - $results_window_days AND sent_at < $as_of
    GROUP BY campaign, member_id, holdout
),
outcomes AS (
    SELECT
        c.campaign,
        c.member_id,
        c.holdout,
        c.sent_at,
        c.last_sent_at,
        MAX(CASE WHEN h.converted_at >= c.sent_at
                  AND to_unixtime(h.converted_at) - to_unixtime(c.sent_at) < $attribution_days * 86400
                 THEN 1 ELSE 0 END) AS converted,
        SUM(CASE WHEN h.converted_at >= c.sent_at
                  AND to_unixtime(h.converted_at) - to_unixtime(c.sent_at) < $attribution_days * 86400
                 THEN COALESCE(CAST(h.revenue AS DOUBLE), 0) ELSE 0 END) AS revenue
    FROM contacts c
    JOIN contact_history h
      ON h.campaign = c.campaign AND h.member_id = c.member_id AND h.holdout = c.holdout
    WHERE h.sent_at >= $as_of - $results_window_days AND h.sent_at < $as_of
    GROUP BY c.campaign, c.member_id, c.holdout, c.sent_at, c.last_sent_at
),
segmented AS (
    SELECT o.*, COALESCE(t.segment_id, 'none') AS segment
    FROM outcomes o
    LEFT JOIN member_tags t ON t.member_id = o.member_id
),
groups AS (
    SELECT
        campaign,
        segment,
        COUNT(*) FILTER (WHERE NOT holdout) AS contacted,
        COUNT(*) FILTER (WHERE holdout) AS holdout,
        COALESCE(SUM(converted) FILTER (WHERE NOT holdout), 0) AS converted_contacted,
        COALESCE(SUM(converted) FILTER (WHERE holdout), 0) AS converted_holdout,
        COALESCE(SUM(revenue) FILTER (WHERE NOT holdout), 0) AS revenue_contacted,
        COALESCE(SUM(revenue) FILTER (WHERE holdout), 0) AS revenue_holdout,
        MIN(sent_at) AS first_sent_at,
        MAX(last_sent_at) AS last_sent_at
    FROM segmented
    GROUP BY GROUPING SETS ((campaign, segment), (campaign))
),
rates AS (
    SELECT
        campaign,
        COALESCE(segment, 'all') AS segment_id,
        contacted,
        holdout,
        converted_contacted,
        converted_holdout,
        CASE WHEN contacted > 0 THEN CAST(converted_contacted AS DOUBLE) / contacted END AS p_c,
        CASE WHEN holdout > 0 THEN CAST(converted_holdout AS DOUBLE) / holdout END AS p_h,
        CASE WHEN contacted > 0 THEN revenue_contacted / contacted END AS rpm_c,
        CASE WHEN holdout > 0 THEN revenue_holdout / holdout END AS rpm_h,
        first_sent_at,
        last_sent_at
    FROM groups
)
SELECT
    campaign,
    segment_id,
    $as_of AS as_of,
    contacted,
    holdout,
    converted_contacted,
    converted_holdout,
    ROUND(p_c, 6) AS conversion_contacted,
    ROUND(p_h, 6) AS conversion_holdout,
    ROUND(p_c - p_h, 6) AS uplift,
    ROUND(p_c - p_h - 1.96 * SQRT(p_c * (1 - p_c) / contacted + p_h * (1 - p_h) / holdout), 6) AS uplift_low,
    ROUND(p_c - p_h + 1.96 * SQRT(p_c * (1 - p_c) / contacted + p_h * (1 - p_h) / holdout), 6) AS uplift_high,
    ROUND(rpm_c, 2) AS revenue_per_member_contacted,
    ROUND(rpm_h, 2) AS revenue_per_member_holdout,
    ROUND(rpm_c - rpm_h, 2) AS revenue_uplift_per_member,
    COALESCE(
        contacted >= $results_min_group AND holdout >= $results_min_group
        AND converted_contacted >= $results_min_conversions
        AND contacted - converted_contacted >= $results_min_conversions
        AND converted_holdout >= $results_min_conversions
        AND holdout - converted_holdout >= $results_min_conversions,
        false
    ) AS enough_data,
    first_sent_at,
    last_sent_at,
    to_unixtime(last_sent_at) + $attribution_days * 86400 <= to_unixtime(CAST($as_of AS TIMESTAMP))
        AS window_complete
FROM rates
