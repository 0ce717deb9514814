-- member_purchase_days: each buyer's purchase history in distinct purchase days, as the
-- value models read it (the `value` step; docs/value.md).
--
-- Several paid orders on one day are one purchase (lifetimes' daily frequency).
-- repeat_purchases (x) = purchase days − 1; recency_days_model (t_x) = last purchase
-- day − first purchase day; age_days (T) = (as_of − 1 day) − first purchase day, since
-- the data ends the day before the run date. repeat_value = paid amount on the repeat
-- days ÷ x (the first day excluded), null when x = 0 — Gamma-Gamma's monetary value.
WITH firsts AS (
    SELECT member_id, MIN(order_date) AS first_purchase_date
    FROM paid_orders
    GROUP BY member_id
),
days AS (
    -- Joined on member_id only (not on a date), then aggregated once.
    SELECT
        o.member_id,
        f.first_purchase_date,
        MAX(o.order_date) AS last_purchase_date,
        COUNT(DISTINCT o.order_date) AS purchase_days,
        SUM(o.paid_amount) FILTER (WHERE o.order_date > f.first_purchase_date) AS repeat_paid
    FROM paid_orders o
    JOIN firsts f ON f.member_id = o.member_id
    GROUP BY o.member_id, f.first_purchase_date
)
SELECT
    member_id,
    $as_of AS as_of,
    first_purchase_date,
    last_purchase_date,
    CAST(purchase_days - 1 AS BIGINT) AS repeat_purchases,
    CAST(last_purchase_date - first_purchase_date AS BIGINT) AS recency_days_model,
    CAST(($as_of - 1) - first_purchase_date AS BIGINT) AS age_days,
    CASE WHEN purchase_days > 1
         THEN CAST(COALESCE(repeat_paid, 0) AS DOUBLE) / (purchase_days - 1)
    END AS repeat_value
FROM days
