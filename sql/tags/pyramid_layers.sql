-- pyramid_layers: the customer-pyramid layer (客户金字塔, 数人头) of every ranked buyer,
-- the one place the layers are cut.
--
-- Within each ranking (basis and period of pyramid_reference_spend) the n buyers are
-- ranked by reference spend, highest first, ties by member_id. The layer boundaries are
-- the positions round(n × share) of the cut-point params, 2% / 5% / 10% / 15% / 20% by
-- default as the material defines the pyramid: top_2, top_2_5, top_5_10, top_10_15,
-- top_15_20 and top_20_100 (the layer names are the material's; they stay when the
-- params move). Members without reference spend are in no row here; the tables that
-- read this call them `non_buyer`.
-- Buyers per ranking by aggregation, not COUNT(*) OVER (PARTITION BY …): an unbounded
-- window buffers its whole input outside the memory pool (docs/sql.md).
-- The join key is COALESCE(period_index, -1) (month indexes are never negative), not
-- `IS NOT DISTINCT FROM`: DataFusion plans that as a filter on a join by basis alone, so
-- every row was tested against every month's ranking (4 of the file's 7 operator-seconds
-- at scale 10).
WITH rankings AS (
    SELECT basis, COALESCE(period_index, -1) AS ranking, COUNT(*) AS buyers
    FROM pyramid_reference_spend
    GROUP BY basis, COALESCE(period_index, -1)
),
ranked AS (
    SELECT
        r.basis,
        r.period_index,
        r.member_id,
        r.reference_spend,
        ROW_NUMBER() OVER (PARTITION BY r.basis, r.period_index ORDER BY r.reference_spend DESC, r.member_id ASC) AS spend_rank,
        n.buyers
    FROM pyramid_reference_spend r
    JOIN rankings n ON n.basis = r.basis AND n.ranking = COALESCE(r.period_index, -1)
)
SELECT
    basis,
    period_index,
    member_id,
    reference_spend,
    spend_rank,
    buyers,
    CASE
        WHEN spend_rank <= ROUND(buyers * $pyramid_top_2_share) THEN 'top_2'
        WHEN spend_rank <= ROUND(buyers * $pyramid_top_5_share) THEN 'top_2_5'
        WHEN spend_rank <= ROUND(buyers * $pyramid_top_10_share) THEN 'top_5_10'
        WHEN spend_rank <= ROUND(buyers * $pyramid_top_15_share) THEN 'top_10_15'
        WHEN spend_rank <= ROUND(buyers * $pyramid_top_20_share) THEN 'top_15_20'
        ELSE 'top_20_100'
    END AS pyramid_layer
FROM ranked
