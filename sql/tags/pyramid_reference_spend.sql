-- pyramid_reference_spend: the spend each customer-pyramid ranking (客户金字塔) ranks
-- buyers by, one row per (basis, period, member) with positive spend. pyramid_layers
-- turns it into layers, so every pyramid is cut the same way.
--
--   current   tonight's pyramid (member_pyramid): paid spend over the last
--             `pyramid_window_days` days (default 365); period_index is null.
--   month     the diagnosis (member_month_layers): for each month of diagnosis_periods,
--             spend in the `diagnosis_reference_months` (default 12) complete months
--             before it, so a month's layer is frozen before the month.
--   decliner  the 止血 list (revenue_decliners): spend in the `pyramid_window_days`
--             before the current `decliner_window_days` period began; period_index null.
--
-- Spends are DECIMAL(38, 2) in every branch (DataFusion 55 declares a union of
-- DECIMAL(28, 2) and DECIMAL(38, 2) sums as the narrower type and then fails to write it).
SELECT 'current' AS basis, CAST(NULL AS BIGINT) AS period_index, member_id,
       CAST(SUM(paid_amount) AS DECIMAL(38, 2)) AS reference_spend
FROM paid_orders
WHERE ordered_at >= $as_of - $pyramid_window_days
GROUP BY member_id
HAVING SUM(paid_amount) > 0
UNION ALL
SELECT 'month' AS basis, p.period_index, m.member_id,
       CAST(SUM(m.spend) AS DECIMAL(38, 2)) AS reference_spend
FROM diagnosis_periods p
JOIN member_months m
  ON m.month_index >= p.period_index - $diagnosis_reference_months
 AND m.month_index < p.period_index
GROUP BY p.period_index, m.member_id
HAVING SUM(m.spend) > 0
UNION ALL
SELECT 'decliner' AS basis, CAST(NULL AS BIGINT) AS period_index, member_id,
       CAST(SUM(paid_amount) AS DECIMAL(38, 2)) AS reference_spend
FROM paid_orders
WHERE ordered_at < $as_of - $decliner_window_days
  AND ordered_at >= $as_of - $decliner_window_days - $pyramid_window_days
GROUP BY member_id
HAVING SUM(paid_amount) > 0
