-- member_lifecycle: lifecycle stage (生命周期) and customer-journey stage (进/活/粘/值/荐).
--
-- lifecycle_stage, first rule that holds:
--   prospect  no paid order before the run date (a member who never bought is never
--             "churned");
--   new       first paid order within `lifecycle_new_days` (default 90);
--   won_back  last paid order within `lifecycle_active_days` (default 90) after a gap of
--             more than `lifecycle_churn_days` (default 180) since the order before it;
--   active    last paid order within `lifecycle_active_days`;
--   silent    last paid order within `lifecycle_churn_days`;
--   churned   otherwise.
-- journey_stage, the furthest stage reached:
--   recommending (荐)  at least one member they referred (members.referrer_id) has a
--                      paid order, or one of their community invites converted
--                      (invite_conversions);
--   valuable (值)      in the top 20% of buyers by the pyramid (top_2 … top_15_20);
--   sticky (粘)        two or more paid orders in the last `journey_sticky_days`
--                      (default 365): stickiness decays — two orders five years ago
--                      are not 粘 today;
--   activated (活)     has bought (once, or more but not recently enough to be sticky);
--   acquired (进)      a member who has not bought yet.
WITH gaps AS (
    SELECT
        member_id,
        order_date,
        order_date - LAG(order_date) OVER (PARTITION BY member_id ORDER BY ordered_at, order_id) AS gap_days,
        ROW_NUMBER() OVER (PARTITION BY member_id ORDER BY ordered_at DESC, order_id DESC) AS recent_rank
    FROM paid_orders
),
last_gap AS (
    SELECT member_id, gap_days AS last_gap_days FROM gaps WHERE recent_rank = 1
),
recent_orders AS (
    SELECT member_id, COUNT(*) AS orders
    FROM paid_orders
    WHERE ordered_at >= $as_of - $journey_sticky_days
    GROUP BY member_id
),
recommenders AS (
    SELECT i.referrer_id AS member_id
    FROM current_members i
    JOIN (SELECT DISTINCT member_id FROM paid_orders) b ON b.member_id = i.member_id
    WHERE i.referrer_id IS NOT NULL
    UNION
    SELECT inviter_id AS member_id FROM invite_conversions
)
SELECT
    f.member_id,
    $as_of AS as_of,
    CASE
        WHEN f.recency_days IS NULL THEN 'prospect'
        WHEN f.first_order_date >= $as_of - $lifecycle_new_days THEN 'new'
        WHEN f.recency_days <= $lifecycle_active_days AND g.last_gap_days > $lifecycle_churn_days THEN 'won_back'
        WHEN f.recency_days <= $lifecycle_active_days THEN 'active'
        WHEN f.recency_days <= $lifecycle_churn_days THEN 'silent'
        ELSE 'churned'
    END AS lifecycle_stage,
    CASE
        WHEN r.member_id IS NOT NULL THEN 'recommending'
        WHEN p.pyramid_layer IN ('top_2', 'top_2_5', 'top_5_10', 'top_10_15', 'top_15_20') THEN 'valuable'
        WHEN ro.orders >= 2 THEN 'sticky'
        WHEN f.orders_all_time >= 1 THEN 'activated'
        ELSE 'acquired'
    END AS journey_stage
FROM member_features f
LEFT JOIN last_gap g ON g.member_id = f.member_id
LEFT JOIN member_pyramid p ON p.member_id = f.member_id
LEFT JOIN recommenders r ON r.member_id = f.member_id
LEFT JOIN recent_orders ro ON ro.member_id = f.member_id
