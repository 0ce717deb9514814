-- member_month_layers: each buyer's pyramid layer frozen for a month, from their spend
-- in the `diagnosis_reference_months` (default 12) complete months before it. Freezing
-- the layer before the month means a drop is attributed to the customers who caused
-- it, not to the layer they fell into. Boundaries as in member_pyramid: positions
-- round(n × 2% / 5% / 10% / 15% / 20%) of the n members with reference spend, ranked by
-- spend (ties by member_id). Members who buy in a month without reference spend (new or
-- returning) are `non_buyer` for that month.
WITH periods AS (
    SELECT DISTINCT month_index AS period_index
    FROM member_months
    WHERE month_index >= CAST(date_part('year', $as_of) AS BIGINT) * 12 + CAST(date_part('month', $as_of) AS BIGINT) - 1
                         - $diagnosis_months - 12
),
reference AS (
    SELECT p.period_index, m.member_id, SUM(m.spend) AS reference_spend
    FROM periods p
    JOIN member_months m
      ON m.month_index >= p.period_index - $diagnosis_reference_months
     AND m.month_index < p.period_index
    GROUP BY p.period_index, m.member_id
    HAVING SUM(m.spend) > 0
),
ranked AS (
    SELECT
        period_index,
        member_id,
        ROW_NUMBER() OVER (PARTITION BY period_index ORDER BY reference_spend DESC, member_id ASC) AS spend_rank,
        COUNT(*) OVER (PARTITION BY period_index) AS buyers
    FROM reference
)
SELECT
    b.month_index AS period_index,
    b.member_id,
    b.orders,
    b.spend,
    CASE
        WHEN r.spend_rank IS NULL THEN 'non_buyer'
        WHEN r.spend_rank <= ROUND(r.buyers * 0.02) THEN 'top_2'
        WHEN r.spend_rank <= ROUND(r.buyers * 0.05) THEN 'top_2_5'
        WHEN r.spend_rank <= ROUND(r.buyers * 0.10) THEN 'top_5_10'
        WHEN r.spend_rank <= ROUND(r.buyers * 0.15) THEN 'top_10_15'
        WHEN r.spend_rank <= ROUND(r.buyers * 0.20) THEN 'top_15_20'
        ELSE 'top_20_100'
    END AS pyramid_layer
FROM member_months b
JOIN periods p ON p.period_index = b.month_index
LEFT JOIN ranked r ON r.period_index = b.month_index AND r.member_id = b.member_id
