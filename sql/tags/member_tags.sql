-- member_tags: one row per member with every tag, as of the run date. The tag
-- dictionary (docs/tags.md) defines each column and names the SQL file behind it.
-- `previous_member_tier` is the member_tier table of the job's latest earlier
-- published run (empty on the first run).
SELECT
    f.member_id,
    $as_of AS as_of,
    f.recency_days,
    f.frequency,
    f.monetary_avg,
    f.total_spend_365d,
    f.orders_all_time,
    f.first_order_date,
    f.last_order_date,
    f.aov,
    f.tenure_days,
    f.refund_rate,
    r.rfm_r,
    r.rfm_f,
    r.rfm_m,
    r.rfm_class,
    r.rfm_class_label,
    l.lifecycle_stage,
    l.journey_stage,
    t.tier,
    t.tier_label,
    -- Against the previous published run: null on the first run, `new` for a member
    -- the previous run did not have.
    CASE
        WHEN NOT h.has_previous THEN NULL
        WHEN prev.member_id IS NULL THEN 'new'
        WHEN prev.tier = t.tier THEN 'same'
        WHEN (CASE t.tier WHEN 'platinum' THEN 3 WHEN 'gold' THEN 2 ELSE 1 END)
           > (CASE prev.tier WHEN 'platinum' THEN 3 WHEN 'gold' THEN 2 ELSE 1 END) THEN 'upgrade'
        ELSE 'downgrade'
    END AS tier_change,
    p.pyramid_layer,
    c.churn_risk,
    c.interval_days,
    c.next_purchase_expected_at,
    c.overdue_days,
    v.p_alive,
    v.expected_orders,
    v.clv,
    v.value_band,
    v.high_potential,
    pr.price_sensitivity,
    pr.preferred_channel,
    pr.top_categories,
    pr.peak_hour,
    pr.peak_weekday,
    cm.community_messages,
    cm.community_check_ins,
    cm.community_shares,
    cm.community_invites,
    cm.community_interactions,
    cm.invites_converted,
    cm.community_role,
    cm.silent_buyer,
    pt.points_balance,
    pt.points_expiring,
    pt.points_expiring_at,
    pt.points_band,
    d.days_to_birthday,
    d.birthday_soon,
    d.days_to_anniversary,
    d.anniversary_soon,
    d.membership_years,
    pf.age,
    pf.age_band,
    pf.gender,
    pf.city,
    pf.city_tier,
    pf.city_tier_label,
    pf.home_store_id,
    pf.service_store_id,
    pf.guide_id,
    rp.next_replenishment_at,
    rp.next_replenishment_product,
    sg.segment_id,
    sg.segment_name
FROM member_features f
JOIN member_rfm r ON r.member_id = f.member_id
JOIN member_lifecycle l ON l.member_id = f.member_id
JOIN member_tier t ON t.member_id = f.member_id
LEFT JOIN previous_member_tier prev ON prev.member_id = f.member_id
CROSS JOIN (SELECT COUNT(*) > 0 AS has_previous FROM previous_member_tier) h
JOIN member_pyramid p ON p.member_id = f.member_id
JOIN member_churn c ON c.member_id = f.member_id
JOIN member_preferences pr ON pr.member_id = f.member_id
JOIN member_community cm ON cm.member_id = f.member_id
JOIN member_points pt ON pt.member_id = f.member_id
JOIN member_dates d ON d.member_id = f.member_id
JOIN member_profile pf ON pf.member_id = f.member_id
LEFT JOIN (
    -- The earliest due consumable per member, ties by product_id: one aggregate over an
    -- ISO-date-then-product key (sorts as the date, then the id). Not MIN() OVER, since
    -- unbounded windows buffer outside the memory pool, and not a join back on the date,
    -- which lost half the members' dates on Ballista (cause not pinned down).
    SELECT member_id,
           CAST(substr(MIN(k), 1, 10) AS DATE) AS next_replenishment_at,
           substr(MIN(k), 12) AS next_replenishment_product
    FROM (
        SELECT member_id,
               CAST(next_replenishment_at AS VARCHAR) || ' ' || product_id AS k
        FROM member_replenishment
        WHERE next_replenishment_at IS NOT NULL
    ) keyed
    GROUP BY member_id
) rp ON rp.member_id = f.member_id
LEFT JOIN member_segments sg ON sg.member_id = f.member_id
LEFT JOIN member_value v ON v.member_id = f.member_id
