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
WITH ranked AS (
    SELECT
        basis,
        period_index,
        member_id,
        reference_spend,
        ROW_NUMBER() OVER (PARTITION BY basis, period_index ORDER BY reference_spend DESC, member_id ASC) AS spend_rank,
        COUNT(*) OVER (PARTITION BY basis, period_index) AS buyers
    FROM pyramid_reference_spend
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
