-- campaign_second_order — 复购 (活 → 粘): members with exactly one paid order, in the
-- window after it when a second purchase is most likely.
--
-- Eligible: orders_all_time = 1, placed between `second_order_from_days` (7) and
-- `second_order_to_days` (60) days before the run date — the window is a param: set it
-- from where the retailer's own second orders fall (the median days from first to
-- second order is a good centre).
-- Offer: by the first order's value — below `second_order_value_cut` (¥150)
-- `second_order_offer_small`, else `second_order_offer_large` (a coupon that fits the
-- basket the member already showed).
-- Score: ln(1 + first order's paid amount) — the value of a second basket like the first
-- — times the time left in the window (1 − days since / (to + 1)): earlier in the window
-- first.
SELECT
    member_id,
    CAST(LN(1 + COALESCE(aov, 0))
         * (1.0 - CAST(recency_days AS DOUBLE) / ($second_order_to_days + 1)) AS DOUBLE) AS score,
    make_array(
        'one order, on ' || CAST(last_order_date AS VARCHAR) || ' (¥'
            || CAST(CAST(ROUND(aov) AS BIGINT) AS VARCHAR) || ')',
        'day ' || CAST(recency_days AS VARCHAR) || ' of the '
            || CAST($second_order_from_days AS VARCHAR) || '–' || CAST($second_order_to_days AS VARCHAR)
            || '-day second-order window'
    ) AS reasons,
    CASE WHEN aov < $second_order_value_cut THEN $second_order_offer_small
         ELSE $second_order_offer_large END AS offer,
    -- Message fields (docs/outreach.md): the first order, to thank for it.
    CAST(last_order_date AS VARCHAR) AS msg_first_order_date,
    CAST(ROUND(aov, 2) AS VARCHAR) AS msg_first_order_amount
FROM member_tags
WHERE orders_all_time = 1
  AND recency_days >= $second_order_from_days
  AND recency_days <= $second_order_to_days
