-- member_months: paid orders and spend per member and calendar month, with a month
-- index (year × 12 + month − 1) so month arithmetic is integer arithmetic. Only
-- complete months before the run date's month are kept, back to
-- `diagnosis_months` + `diagnosis_reference_months` + 12 months (enough for the
-- diagnosis window, its reference windows and same-month-last-year comparisons).
WITH monthly AS (
    SELECT
        member_id,
        CAST(date_part('year', ordered_at) AS BIGINT) * 12 + CAST(date_part('month', ordered_at) AS BIGINT) - 1 AS month_index,
        COUNT(*) AS orders,
        SUM(paid_amount) AS spend
    FROM paid_orders
    GROUP BY 1, 2
)
SELECT member_id, month_index, orders, spend
FROM monthly
WHERE month_index < CAST(date_part('year', $as_of) AS BIGINT) * 12 + CAST(date_part('month', $as_of) AS BIGINT) - 1
  AND month_index >= CAST(date_part('year', $as_of) AS BIGINT) * 12 + CAST(date_part('month', $as_of) AS BIGINT) - 1
                     - $diagnosis_months - $diagnosis_reference_months - 12
