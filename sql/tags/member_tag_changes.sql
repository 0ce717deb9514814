-- member_tag_changes: member × tag whose value changed since the previous published
-- night, for a CRM that syncs changes instead of a full dump (docs/tags.md, "Changes").
--
-- Tags are those of member_tags whose `changes` is true in sql/tags/dictionary.toml (the
-- day counters and the value model's continuous outputs move every night for almost
-- everyone and are left out; a CRM computes those from the dates). A test keeps the list
-- below equal to the dictionary's. Values are text, as in member_tag_long; a value that
-- became null is a change with new_value null.
--
-- change: `new` — the member was not in the previous night (on a job's first night,
-- every member: every tag is new); `changed`; `removed` — the member is not in tonight's
-- member_tags (every tag they had, new_value null).
--
-- One join of the two wide tables on member_id (not of member_tag_long with its previous
-- night: 55 M rows a side at scale 10), then the changed tags of each member unnested.
WITH pairs AS (
    SELECT
        COALESCE(c.member_id, p.member_id) AS member_id,
        CASE
            WHEN p.member_id IS NULL THEN 'new'
            WHEN c.member_id IS NULL THEN 'removed'
            ELSE 'changed'
        END AS change,
        make_array(
            CASE WHEN CAST(c.frequency AS VARCHAR) IS DISTINCT FROM CAST(p.frequency AS VARCHAR)
                THEN named_struct('tag', 'frequency', 'old_value', CAST(p.frequency AS VARCHAR), 'new_value', CAST(c.frequency AS VARCHAR)) END,
            CASE WHEN CAST(c.monetary_avg AS VARCHAR) IS DISTINCT FROM CAST(p.monetary_avg AS VARCHAR)
                THEN named_struct('tag', 'monetary_avg', 'old_value', CAST(p.monetary_avg AS VARCHAR), 'new_value', CAST(c.monetary_avg AS VARCHAR)) END,
            CASE WHEN CAST(c.total_spend_365d AS VARCHAR) IS DISTINCT FROM CAST(p.total_spend_365d AS VARCHAR)
                THEN named_struct('tag', 'total_spend_365d', 'old_value', CAST(p.total_spend_365d AS VARCHAR), 'new_value', CAST(c.total_spend_365d AS VARCHAR)) END,
            CASE WHEN CAST(c.orders_all_time AS VARCHAR) IS DISTINCT FROM CAST(p.orders_all_time AS VARCHAR)
                THEN named_struct('tag', 'orders_all_time', 'old_value', CAST(p.orders_all_time AS VARCHAR), 'new_value', CAST(c.orders_all_time AS VARCHAR)) END,
            CASE WHEN CAST(c.first_order_date AS VARCHAR) IS DISTINCT FROM CAST(p.first_order_date AS VARCHAR)
                THEN named_struct('tag', 'first_order_date', 'old_value', CAST(p.first_order_date AS VARCHAR), 'new_value', CAST(c.first_order_date AS VARCHAR)) END,
            CASE WHEN CAST(c.last_order_date AS VARCHAR) IS DISTINCT FROM CAST(p.last_order_date AS VARCHAR)
                THEN named_struct('tag', 'last_order_date', 'old_value', CAST(p.last_order_date AS VARCHAR), 'new_value', CAST(c.last_order_date AS VARCHAR)) END,
            CASE WHEN CAST(c.aov AS VARCHAR) IS DISTINCT FROM CAST(p.aov AS VARCHAR)
                THEN named_struct('tag', 'aov', 'old_value', CAST(p.aov AS VARCHAR), 'new_value', CAST(c.aov AS VARCHAR)) END,
            CASE WHEN CAST(c.refund_rate AS VARCHAR) IS DISTINCT FROM CAST(p.refund_rate AS VARCHAR)
                THEN named_struct('tag', 'refund_rate', 'old_value', CAST(p.refund_rate AS VARCHAR), 'new_value', CAST(c.refund_rate AS VARCHAR)) END,
            CASE WHEN CAST(c.rfm_r AS VARCHAR) IS DISTINCT FROM CAST(p.rfm_r AS VARCHAR)
                THEN named_struct('tag', 'rfm_r', 'old_value', CAST(p.rfm_r AS VARCHAR), 'new_value', CAST(c.rfm_r AS VARCHAR)) END,
            CASE WHEN CAST(c.rfm_f AS VARCHAR) IS DISTINCT FROM CAST(p.rfm_f AS VARCHAR)
                THEN named_struct('tag', 'rfm_f', 'old_value', CAST(p.rfm_f AS VARCHAR), 'new_value', CAST(c.rfm_f AS VARCHAR)) END,
            CASE WHEN CAST(c.rfm_m AS VARCHAR) IS DISTINCT FROM CAST(p.rfm_m AS VARCHAR)
                THEN named_struct('tag', 'rfm_m', 'old_value', CAST(p.rfm_m AS VARCHAR), 'new_value', CAST(c.rfm_m AS VARCHAR)) END,
            CASE WHEN CAST(c.rfm_class AS VARCHAR) IS DISTINCT FROM CAST(p.rfm_class AS VARCHAR)
                THEN named_struct('tag', 'rfm_class', 'old_value', CAST(p.rfm_class AS VARCHAR), 'new_value', CAST(c.rfm_class AS VARCHAR)) END,
            CASE WHEN CAST(c.rfm_class_label AS VARCHAR) IS DISTINCT FROM CAST(p.rfm_class_label AS VARCHAR)
                THEN named_struct('tag', 'rfm_class_label', 'old_value', CAST(p.rfm_class_label AS VARCHAR), 'new_value', CAST(c.rfm_class_label AS VARCHAR)) END,
            CASE WHEN CAST(c.lifecycle_stage AS VARCHAR) IS DISTINCT FROM CAST(p.lifecycle_stage AS VARCHAR)
                THEN named_struct('tag', 'lifecycle_stage', 'old_value', CAST(p.lifecycle_stage AS VARCHAR), 'new_value', CAST(c.lifecycle_stage AS VARCHAR)) END,
            CASE WHEN CAST(c.journey_stage AS VARCHAR) IS DISTINCT FROM CAST(p.journey_stage AS VARCHAR)
                THEN named_struct('tag', 'journey_stage', 'old_value', CAST(p.journey_stage AS VARCHAR), 'new_value', CAST(c.journey_stage AS VARCHAR)) END,
            CASE WHEN CAST(c.tier AS VARCHAR) IS DISTINCT FROM CAST(p.tier AS VARCHAR)
                THEN named_struct('tag', 'tier', 'old_value', CAST(p.tier AS VARCHAR), 'new_value', CAST(c.tier AS VARCHAR)) END,
            CASE WHEN CAST(c.tier_label AS VARCHAR) IS DISTINCT FROM CAST(p.tier_label AS VARCHAR)
                THEN named_struct('tag', 'tier_label', 'old_value', CAST(p.tier_label AS VARCHAR), 'new_value', CAST(c.tier_label AS VARCHAR)) END,
            CASE WHEN CAST(c.tier_change AS VARCHAR) IS DISTINCT FROM CAST(p.tier_change AS VARCHAR)
                THEN named_struct('tag', 'tier_change', 'old_value', CAST(p.tier_change AS VARCHAR), 'new_value', CAST(c.tier_change AS VARCHAR)) END,
            CASE WHEN CAST(c.pyramid_layer AS VARCHAR) IS DISTINCT FROM CAST(p.pyramid_layer AS VARCHAR)
                THEN named_struct('tag', 'pyramid_layer', 'old_value', CAST(p.pyramid_layer AS VARCHAR), 'new_value', CAST(c.pyramid_layer AS VARCHAR)) END,
            CASE WHEN CAST(c.churn_risk AS VARCHAR) IS DISTINCT FROM CAST(p.churn_risk AS VARCHAR)
                THEN named_struct('tag', 'churn_risk', 'old_value', CAST(p.churn_risk AS VARCHAR), 'new_value', CAST(c.churn_risk AS VARCHAR)) END,
            CASE WHEN CAST(c.value_band AS VARCHAR) IS DISTINCT FROM CAST(p.value_band AS VARCHAR)
                THEN named_struct('tag', 'value_band', 'old_value', CAST(p.value_band AS VARCHAR), 'new_value', CAST(c.value_band AS VARCHAR)) END,
            CASE WHEN CAST(c.high_potential AS VARCHAR) IS DISTINCT FROM CAST(p.high_potential AS VARCHAR)
                THEN named_struct('tag', 'high_potential', 'old_value', CAST(p.high_potential AS VARCHAR), 'new_value', CAST(c.high_potential AS VARCHAR)) END,
            CASE WHEN CAST(c.price_sensitivity AS VARCHAR) IS DISTINCT FROM CAST(p.price_sensitivity AS VARCHAR)
                THEN named_struct('tag', 'price_sensitivity', 'old_value', CAST(p.price_sensitivity AS VARCHAR), 'new_value', CAST(c.price_sensitivity AS VARCHAR)) END,
            CASE WHEN CAST(c.preferred_channel AS VARCHAR) IS DISTINCT FROM CAST(p.preferred_channel AS VARCHAR)
                THEN named_struct('tag', 'preferred_channel', 'old_value', CAST(p.preferred_channel AS VARCHAR), 'new_value', CAST(c.preferred_channel AS VARCHAR)) END,
            CASE WHEN array_to_string(c.top_categories, ',') IS DISTINCT FROM array_to_string(p.top_categories, ',')
                THEN named_struct('tag', 'top_categories', 'old_value', array_to_string(p.top_categories, ','), 'new_value', array_to_string(c.top_categories, ',')) END,
            CASE WHEN CAST(c.peak_hour AS VARCHAR) IS DISTINCT FROM CAST(p.peak_hour AS VARCHAR)
                THEN named_struct('tag', 'peak_hour', 'old_value', CAST(p.peak_hour AS VARCHAR), 'new_value', CAST(c.peak_hour AS VARCHAR)) END,
            CASE WHEN CAST(c.peak_weekday AS VARCHAR) IS DISTINCT FROM CAST(p.peak_weekday AS VARCHAR)
                THEN named_struct('tag', 'peak_weekday', 'old_value', CAST(p.peak_weekday AS VARCHAR), 'new_value', CAST(c.peak_weekday AS VARCHAR)) END,
            CASE WHEN CAST(c.community_messages AS VARCHAR) IS DISTINCT FROM CAST(p.community_messages AS VARCHAR)
                THEN named_struct('tag', 'community_messages', 'old_value', CAST(p.community_messages AS VARCHAR), 'new_value', CAST(c.community_messages AS VARCHAR)) END,
            CASE WHEN CAST(c.community_check_ins AS VARCHAR) IS DISTINCT FROM CAST(p.community_check_ins AS VARCHAR)
                THEN named_struct('tag', 'community_check_ins', 'old_value', CAST(p.community_check_ins AS VARCHAR), 'new_value', CAST(c.community_check_ins AS VARCHAR)) END,
            CASE WHEN CAST(c.community_shares AS VARCHAR) IS DISTINCT FROM CAST(p.community_shares AS VARCHAR)
                THEN named_struct('tag', 'community_shares', 'old_value', CAST(p.community_shares AS VARCHAR), 'new_value', CAST(c.community_shares AS VARCHAR)) END,
            CASE WHEN CAST(c.community_invites AS VARCHAR) IS DISTINCT FROM CAST(p.community_invites AS VARCHAR)
                THEN named_struct('tag', 'community_invites', 'old_value', CAST(p.community_invites AS VARCHAR), 'new_value', CAST(c.community_invites AS VARCHAR)) END,
            CASE WHEN CAST(c.community_interactions AS VARCHAR) IS DISTINCT FROM CAST(p.community_interactions AS VARCHAR)
                THEN named_struct('tag', 'community_interactions', 'old_value', CAST(p.community_interactions AS VARCHAR), 'new_value', CAST(c.community_interactions AS VARCHAR)) END,
            CASE WHEN CAST(c.invites_converted AS VARCHAR) IS DISTINCT FROM CAST(p.invites_converted AS VARCHAR)
                THEN named_struct('tag', 'invites_converted', 'old_value', CAST(p.invites_converted AS VARCHAR), 'new_value', CAST(c.invites_converted AS VARCHAR)) END,
            CASE WHEN CAST(c.community_role AS VARCHAR) IS DISTINCT FROM CAST(p.community_role AS VARCHAR)
                THEN named_struct('tag', 'community_role', 'old_value', CAST(p.community_role AS VARCHAR), 'new_value', CAST(c.community_role AS VARCHAR)) END,
            CASE WHEN CAST(c.silent_buyer AS VARCHAR) IS DISTINCT FROM CAST(p.silent_buyer AS VARCHAR)
                THEN named_struct('tag', 'silent_buyer', 'old_value', CAST(p.silent_buyer AS VARCHAR), 'new_value', CAST(c.silent_buyer AS VARCHAR)) END,
            CASE WHEN CAST(c.points_balance AS VARCHAR) IS DISTINCT FROM CAST(p.points_balance AS VARCHAR)
                THEN named_struct('tag', 'points_balance', 'old_value', CAST(p.points_balance AS VARCHAR), 'new_value', CAST(c.points_balance AS VARCHAR)) END,
            CASE WHEN CAST(c.points_expiring AS VARCHAR) IS DISTINCT FROM CAST(p.points_expiring AS VARCHAR)
                THEN named_struct('tag', 'points_expiring', 'old_value', CAST(p.points_expiring AS VARCHAR), 'new_value', CAST(c.points_expiring AS VARCHAR)) END,
            CASE WHEN CAST(c.points_expiring_at AS VARCHAR) IS DISTINCT FROM CAST(p.points_expiring_at AS VARCHAR)
                THEN named_struct('tag', 'points_expiring_at', 'old_value', CAST(p.points_expiring_at AS VARCHAR), 'new_value', CAST(c.points_expiring_at AS VARCHAR)) END,
            CASE WHEN CAST(c.points_band AS VARCHAR) IS DISTINCT FROM CAST(p.points_band AS VARCHAR)
                THEN named_struct('tag', 'points_band', 'old_value', CAST(p.points_band AS VARCHAR), 'new_value', CAST(c.points_band AS VARCHAR)) END,
            CASE WHEN CAST(c.birthday_soon AS VARCHAR) IS DISTINCT FROM CAST(p.birthday_soon AS VARCHAR)
                THEN named_struct('tag', 'birthday_soon', 'old_value', CAST(p.birthday_soon AS VARCHAR), 'new_value', CAST(c.birthday_soon AS VARCHAR)) END,
            CASE WHEN CAST(c.anniversary_soon AS VARCHAR) IS DISTINCT FROM CAST(p.anniversary_soon AS VARCHAR)
                THEN named_struct('tag', 'anniversary_soon', 'old_value', CAST(p.anniversary_soon AS VARCHAR), 'new_value', CAST(c.anniversary_soon AS VARCHAR)) END,
            CASE WHEN CAST(c.membership_years AS VARCHAR) IS DISTINCT FROM CAST(p.membership_years AS VARCHAR)
                THEN named_struct('tag', 'membership_years', 'old_value', CAST(p.membership_years AS VARCHAR), 'new_value', CAST(c.membership_years AS VARCHAR)) END,
            CASE WHEN CAST(c.age AS VARCHAR) IS DISTINCT FROM CAST(p.age AS VARCHAR)
                THEN named_struct('tag', 'age', 'old_value', CAST(p.age AS VARCHAR), 'new_value', CAST(c.age AS VARCHAR)) END,
            CASE WHEN CAST(c.age_band AS VARCHAR) IS DISTINCT FROM CAST(p.age_band AS VARCHAR)
                THEN named_struct('tag', 'age_band', 'old_value', CAST(p.age_band AS VARCHAR), 'new_value', CAST(c.age_band AS VARCHAR)) END,
            CASE WHEN CAST(c.gender AS VARCHAR) IS DISTINCT FROM CAST(p.gender AS VARCHAR)
                THEN named_struct('tag', 'gender', 'old_value', CAST(p.gender AS VARCHAR), 'new_value', CAST(c.gender AS VARCHAR)) END,
            CASE WHEN CAST(c.city AS VARCHAR) IS DISTINCT FROM CAST(p.city AS VARCHAR)
                THEN named_struct('tag', 'city', 'old_value', CAST(p.city AS VARCHAR), 'new_value', CAST(c.city AS VARCHAR)) END,
            CASE WHEN CAST(c.city_tier AS VARCHAR) IS DISTINCT FROM CAST(p.city_tier AS VARCHAR)
                THEN named_struct('tag', 'city_tier', 'old_value', CAST(p.city_tier AS VARCHAR), 'new_value', CAST(c.city_tier AS VARCHAR)) END,
            CASE WHEN CAST(c.city_tier_label AS VARCHAR) IS DISTINCT FROM CAST(p.city_tier_label AS VARCHAR)
                THEN named_struct('tag', 'city_tier_label', 'old_value', CAST(p.city_tier_label AS VARCHAR), 'new_value', CAST(c.city_tier_label AS VARCHAR)) END,
            CASE WHEN CAST(c.home_store_id AS VARCHAR) IS DISTINCT FROM CAST(p.home_store_id AS VARCHAR)
                THEN named_struct('tag', 'home_store_id', 'old_value', CAST(p.home_store_id AS VARCHAR), 'new_value', CAST(c.home_store_id AS VARCHAR)) END,
            CASE WHEN CAST(c.service_store_id AS VARCHAR) IS DISTINCT FROM CAST(p.service_store_id AS VARCHAR)
                THEN named_struct('tag', 'service_store_id', 'old_value', CAST(p.service_store_id AS VARCHAR), 'new_value', CAST(c.service_store_id AS VARCHAR)) END,
            CASE WHEN CAST(c.guide_id AS VARCHAR) IS DISTINCT FROM CAST(p.guide_id AS VARCHAR)
                THEN named_struct('tag', 'guide_id', 'old_value', CAST(p.guide_id AS VARCHAR), 'new_value', CAST(c.guide_id AS VARCHAR)) END,
            CASE WHEN CAST(c.next_replenishment_at AS VARCHAR) IS DISTINCT FROM CAST(p.next_replenishment_at AS VARCHAR)
                THEN named_struct('tag', 'next_replenishment_at', 'old_value', CAST(p.next_replenishment_at AS VARCHAR), 'new_value', CAST(c.next_replenishment_at AS VARCHAR)) END,
            CASE WHEN CAST(c.next_replenishment_product AS VARCHAR) IS DISTINCT FROM CAST(p.next_replenishment_product AS VARCHAR)
                THEN named_struct('tag', 'next_replenishment_product', 'old_value', CAST(p.next_replenishment_product AS VARCHAR), 'new_value', CAST(c.next_replenishment_product AS VARCHAR)) END,
            CASE WHEN CAST(c.segment_id AS VARCHAR) IS DISTINCT FROM CAST(p.segment_id AS VARCHAR)
                THEN named_struct('tag', 'segment_id', 'old_value', CAST(p.segment_id AS VARCHAR), 'new_value', CAST(c.segment_id AS VARCHAR)) END,
            CASE WHEN CAST(c.segment_name AS VARCHAR) IS DISTINCT FROM CAST(p.segment_name AS VARCHAR)
                THEN named_struct('tag', 'segment_name', 'old_value', CAST(p.segment_name AS VARCHAR), 'new_value', CAST(c.segment_name AS VARCHAR)) END
        ) AS diffs
    FROM member_tags c
    FULL OUTER JOIN previous_member_tags p ON p.member_id = c.member_id
),
changes AS (
    SELECT member_id, change, unnest(diffs) AS d
    FROM pairs
)
SELECT
    member_id,
    d['tag'] AS tag,
    $as_of AS as_of,
    d['old_value'] AS old_value,
    d['new_value'] AS new_value,
    change
FROM changes
WHERE d IS NOT NULL
