-- member_pyramid: the customer-pyramid layer (客户金字塔, 数人头) of every member tonight.
--
-- Buyers with positive paid spend over the reference window (`pyramid_window_days`,
-- default 365) are layered by pyramid_layers (basis `current`: positions
-- round(n × 2% / 5% / 10% / 15% / 20%) of the n buyers ranked by spend, ties by
-- member_id): top_2, top_2_5, top_5_10, top_10_15, top_15_20, top_20_100. Members
-- without spend in the window are `non_buyer`.
SELECT
    m.member_id,
    $as_of AS as_of,
    CAST(COALESCE(l.reference_spend, 0) AS DOUBLE) AS pyramid_spend,
    COALESCE(l.pyramid_layer, 'non_buyer') AS pyramid_layer
FROM current_members m
LEFT JOIN pyramid_layers l ON l.basis = 'current' AND l.member_id = m.member_id
