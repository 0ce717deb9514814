-- member_tag_long: every tag of member_tags as (member_id, tag, value) rows, for
-- downstream systems that want one schema whatever tags are added. Values are text
-- (lists are comma-joined); a null tag has no row.
SELECT member_id, as_of, tag, value
FROM (
    SELECT member_id, as_of, 'recency_days' AS tag, CAST(recency_days AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'frequency' AS tag, CAST(frequency AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'monetary_avg' AS tag, CAST(monetary_avg AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'total_spend_365d' AS tag, CAST(total_spend_365d AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'orders_all_time' AS tag, CAST(orders_all_time AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'first_order_date' AS tag, CAST(first_order_date AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'last_order_date' AS tag, CAST(last_order_date AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'aov' AS tag, CAST(aov AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'tenure_days' AS tag, CAST(tenure_days AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'refund_rate' AS tag, CAST(refund_rate AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'rfm_r' AS tag, CAST(rfm_r AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'rfm_f' AS tag, CAST(rfm_f AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'rfm_m' AS tag, CAST(rfm_m AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'rfm_class' AS tag, CAST(rfm_class AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'rfm_class_label' AS tag, CAST(rfm_class_label AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'lifecycle_stage' AS tag, CAST(lifecycle_stage AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'journey_stage' AS tag, CAST(journey_stage AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'tier' AS tag, CAST(tier AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'tier_label' AS tag, CAST(tier_label AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'tier_change' AS tag, CAST(tier_change AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'pyramid_layer' AS tag, CAST(pyramid_layer AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'churn_risk' AS tag, CAST(churn_risk AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'interval_days' AS tag, CAST(interval_days AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'next_purchase_expected_at' AS tag, CAST(next_purchase_expected_at AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'overdue_days' AS tag, CAST(overdue_days AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'p_alive' AS tag, CAST(p_alive AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'expected_orders' AS tag, CAST(expected_orders AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'clv' AS tag, CAST(clv AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'value_band' AS tag, CAST(value_band AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'high_potential' AS tag, CAST(high_potential AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'price_sensitivity' AS tag, CAST(price_sensitivity AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'preferred_channel' AS tag, CAST(preferred_channel AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'top_categories' AS tag, array_to_string(top_categories, ',') AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'peak_hour' AS tag, CAST(peak_hour AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'peak_weekday' AS tag, CAST(peak_weekday AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'community_messages' AS tag, CAST(community_messages AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'community_check_ins' AS tag, CAST(community_check_ins AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'community_shares' AS tag, CAST(community_shares AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'community_invites' AS tag, CAST(community_invites AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'community_interactions' AS tag, CAST(community_interactions AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'invites_converted' AS tag, CAST(invites_converted AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'community_role' AS tag, CAST(community_role AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'points_balance' AS tag, CAST(points_balance AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'points_expiring' AS tag, CAST(points_expiring AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'points_expiring_at' AS tag, CAST(points_expiring_at AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'points_band' AS tag, CAST(points_band AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'days_to_birthday' AS tag, CAST(days_to_birthday AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'birthday_soon' AS tag, CAST(birthday_soon AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'days_to_anniversary' AS tag, CAST(days_to_anniversary AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'anniversary_soon' AS tag, CAST(anniversary_soon AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'membership_years' AS tag, CAST(membership_years AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'silent_buyer' AS tag, CAST(silent_buyer AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'age' AS tag, CAST(age AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'age_band' AS tag, CAST(age_band AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'gender' AS tag, CAST(gender AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'city' AS tag, CAST(city AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'city_tier' AS tag, CAST(city_tier AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'city_tier_label' AS tag, CAST(city_tier_label AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'home_store_id' AS tag, CAST(home_store_id AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'service_store_id' AS tag, CAST(service_store_id AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'guide_id' AS tag, CAST(guide_id AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'next_replenishment_at' AS tag, CAST(next_replenishment_at AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'next_replenishment_product' AS tag, CAST(next_replenishment_product AS VARCHAR) AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'segment_id' AS tag, segment_id AS value FROM member_tags
    UNION ALL
    SELECT member_id, as_of, 'segment_name' AS tag, segment_name AS value FROM member_tags
)
WHERE value IS NOT NULL
