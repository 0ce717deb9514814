-- diagnosis_periods: the complete months the 数人头 diagnosis covers, as month indexes
-- (year × 12 + month − 1): the last `diagnosis_months` months before the run date's
-- month, and 12 more before them for same-month-last-year comparisons — every such
-- month with at least one paid order.
SELECT DISTINCT month_index AS period_index
FROM member_months
WHERE month_index >= CAST(date_part('year', $as_of) AS BIGINT) * 12 + CAST(date_part('month', $as_of) AS BIGINT) - 1
                     - $diagnosis_months - 12
