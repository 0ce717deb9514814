-- segment_features: what the segment step clusters members on, one row per member.
-- Members who never bought have no recency: they count as lapsed since they joined
-- (recency = tenure), with zero orders and spend, so they form their own segments
-- instead of being imputed as typical buyers. price_sensitivity is null for them and is
-- imputed with the median by the segment step (counted in the manifest).
SELECT
    f.member_id,
    CAST(COALESCE(f.recency_days, f.tenure_days) AS DOUBLE) AS recency_days,
    CAST(f.frequency AS DOUBLE) AS frequency,
    COALESCE(f.monetary_avg, 0) AS monetary_avg,
    COALESCE(f.total_spend_365d, 0) AS total_spend_365d,
    CAST(f.tenure_days AS DOUBLE) AS tenure_days,
    pr.price_sensitivity,
    CAST(cm.community_interactions AS DOUBLE) AS community_interactions,
    CAST(COALESCE(pt.points_balance, 0) AS DOUBLE) AS points_balance
FROM member_features f
JOIN member_preferences pr ON pr.member_id = f.member_id
JOIN member_community cm ON cm.member_id = f.member_id
JOIN member_points pt ON pt.member_id = f.member_id
