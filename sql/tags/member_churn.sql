-- member_churn: churn risk (流失风险) graded none / light (轻度) / moderate (中度) /
-- severe (重度), from the "RFM comparison" of 《营销5.0》: each buyer against their own
-- rhythm and their own previous period.
--
-- interval_days: the member's average days between paid orders ((last − first) /
-- (orders − 1)); for a one-order member, the median interval of all repeat buyers.
-- next_purchase_expected_at = last order date + interval_days (rounded);
-- overdue_days = days past that date as of the run date (0 when not yet due).
-- The member's own rhythm comes first. The window rules compare a current window (the
-- last `churn_compare_days` days, default 180) with the previous one of the same length;
-- they apply only where the member's own interval is unknown (one order) or shorter
-- than that window — a member who buys once a year, or only at 双11, is judged by their
-- yearly rhythm alone, never by "bought in the previous 180 days, not in these".
-- Where the window rules apply, so does the BG/NBD model's P(alive) (member_value,
-- docs/value.md): a member whose own rhythm is long is judged by the rhythm alone, however
-- low P(alive) is; P(alive) only adds a grade, never removes one, and without a model
-- tonight (p_alive null) it adds nothing. (The model gives one-order members P(alive) = 1,
-- so for them it is the window rules that speak.)
-- First rule that holds:
--   severe    recency_days ≥ `churn_severe_ratio` × interval (default 3), or [window]
--             orders in the previous window and none in the current one, or [window]
--             p_alive < `churn_p_alive_severe` (0.1);
--   moderate  recency_days ≥ `churn_moderate_ratio` × interval (default 2), or [window]
--             current orders fell below `churn_moderate_orders_share` (default 0.5,
--             half) of the previous window's, or [window] p_alive < `churn_p_alive_moderate` (0.3);
--   light     recency_days ≥ `churn_light_ratio` × interval (default 1.5), or [window]
--             current spend fell by more than `churn_light_spend_drop` (default 0.3) of
--             the previous window's, or [window] p_alive < `churn_p_alive_light` (0.5);
--   none      otherwise, and always for members who never bought.
WITH windows AS (
    SELECT
        member_id,
        COUNT(*) FILTER (WHERE ordered_at >= $as_of - $churn_compare_days) AS orders_current,
        COUNT(*) FILTER (WHERE ordered_at < $as_of - $churn_compare_days
                           AND ordered_at >= $as_of - 2 * $churn_compare_days) AS orders_previous,
        COALESCE(SUM(paid_amount) FILTER (WHERE ordered_at >= $as_of - $churn_compare_days), 0) AS spend_current,
        COALESCE(SUM(paid_amount) FILTER (WHERE ordered_at < $as_of - $churn_compare_days
                           AND ordered_at >= $as_of - 2 * $churn_compare_days), 0) AS spend_previous
    FROM paid_orders
    GROUP BY member_id
),
rhythm AS (
    SELECT
        member_id,
        CASE WHEN orders_all_time >= 2
             THEN CAST(last_order_date - first_order_date AS DOUBLE) / (orders_all_time - 1)
        END AS own_interval
    FROM member_features
    WHERE recency_days IS NOT NULL
),
typical AS (
    SELECT MEDIAN(own_interval) AS median_interval FROM rhythm
),
judged AS (
    SELECT
        f.member_id,
        f.recency_days,
        f.last_order_date,
        GREATEST(COALESCE(r.own_interval, t.median_interval, $churn_default_interval_days), 1.0) AS interval_days,
        r.own_interval IS NULL OR r.own_interval < $churn_compare_days AS window_rules,
        w.orders_current,
        w.orders_previous,
        w.spend_current,
        w.spend_previous,
        v.p_alive
    FROM member_features f
    JOIN rhythm r ON r.member_id = f.member_id
    CROSS JOIN typical t
    LEFT JOIN windows w ON w.member_id = f.member_id
    LEFT JOIN member_value v ON v.member_id = f.member_id
)
SELECT
    f.member_id,
    $as_of AS as_of,
    ROUND(j.interval_days * 10) / 10 AS interval_days,
    CAST(j.last_order_date + CAST(ROUND(j.interval_days) AS INT) AS DATE) AS next_purchase_expected_at,
    CASE WHEN j.member_id IS NULL THEN NULL
         ELSE GREATEST($as_of - CAST(j.last_order_date + CAST(ROUND(j.interval_days) AS INT) AS DATE), 0)
    END AS overdue_days,
    CASE
        WHEN j.member_id IS NULL THEN 'none'
        WHEN j.recency_days >= $churn_severe_ratio * j.interval_days
          OR (j.window_rules AND j.orders_previous > 0 AND j.orders_current = 0)
          OR (j.window_rules AND j.p_alive < $churn_p_alive_severe) THEN 'severe'
        WHEN j.recency_days >= $churn_moderate_ratio * j.interval_days
          OR (j.window_rules AND j.orders_previous > 0
              AND j.orders_current < $churn_moderate_orders_share * j.orders_previous)
          OR (j.window_rules AND j.p_alive < $churn_p_alive_moderate) THEN 'moderate'
        WHEN j.recency_days >= $churn_light_ratio * j.interval_days
          OR (j.window_rules AND j.spend_previous > 0
              AND j.spend_current < (1 - $churn_light_spend_drop) * j.spend_previous)
          OR (j.window_rules AND j.p_alive < $churn_p_alive_light) THEN 'light'
        ELSE 'none'
    END AS churn_risk
FROM member_features f
LEFT JOIN judged j ON j.member_id = f.member_id
