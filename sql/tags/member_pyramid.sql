-- member_pyramid: the customer-pyramid layer (客户金字塔, 数人头) of every member.
--
-- Buyers with positive paid spend over the reference window (`pyramid_window_days`,
-- default 365) are ranked by spend, highest first, ties by member_id. With n buyers,
-- the layer boundaries are the positions round(n × 2%), 5%, 10%, 15% and 20%:
-- top_2, top_2_5, top_5_10, top_10_15, top_15_20, top_20_100. Members without spend
-- in the window are `non_buyer`.
WITH spend AS (
    SELECT member_id, SUM(paid_amount) AS spend
    FROM paid_orders
    WHERE ordered_at >= $as_of - $pyramid_window_days
    GROUP BY member_id
    HAVING SUM(paid_amount) > 0
),
ranked AS (
    SELECT
        member_id,
        spend,
        ROW_NUMBER() OVER (ORDER BY spend DESC, member_id ASC) AS spend_rank,
        COUNT(*) OVER () AS buyers
    FROM spend
)
SELECT
    m.member_id,
    $as_of AS as_of,
    CAST(COALESCE(r.spend, 0) AS DOUBLE) AS pyramid_spend,
    CASE
        WHEN r.spend_rank IS NULL THEN 'non_buyer'
        WHEN r.spend_rank <= ROUND(r.buyers * 0.02) THEN 'top_2'
        WHEN r.spend_rank <= ROUND(r.buyers * 0.05) THEN 'top_2_5'
        WHEN r.spend_rank <= ROUND(r.buyers * 0.10) THEN 'top_5_10'
        WHEN r.spend_rank <= ROUND(r.buyers * 0.15) THEN 'top_10_15'
        WHEN r.spend_rank <= ROUND(r.buyers * 0.20) THEN 'top_15_20'
        ELSE 'top_20_100'
    END AS pyramid_layer
FROM members m
LEFT JOIN ranked r ON r.member_id = m.member_id
