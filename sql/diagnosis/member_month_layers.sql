-- member_month_layers: each buyer's pyramid layer frozen for a month, from their spend
-- in the `diagnosis_reference_months` (default 12) complete months before it
-- (pyramid_layers, basis `month`). Freezing the layer before the month means a drop is
-- attributed to the customers who caused it, not to the layer they fell into. Members
-- who buy in a month without reference spend are `new_or_returning` for that month:
-- first-time buyers, or buyers back after the reference window (they bought in the
-- month, so they are not non-buyers — that name is kept for member_tags, where it
-- means no spend in the window).
SELECT
    b.month_index AS period_index,
    b.member_id,
    b.orders,
    b.spend,
    COALESCE(l.pyramid_layer, 'new_or_returning') AS pyramid_layer
FROM member_months b
JOIN diagnosis_periods p ON p.period_index = b.month_index
LEFT JOIN pyramid_layers l
  ON l.basis = 'month' AND l.period_index = b.month_index AND l.member_id = b.member_id
