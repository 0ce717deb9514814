-- campaign_upgrade — 提升 upgrade (《营销5.0》 CRM contact type 4): members closest to the
-- next tier.
--
-- Tiers are shares of buyers ranked by spend (member_tier), so the entry spend of the
-- next tier tonight is the lowest spend among its members. A regular (gold) member is
-- eligible when their tier spend is at least `upgrade_min_closeness` of gold's
-- (platinum's) entry spend. Platinum members have no next tier.
-- Score: upgrade likelihood × value, where likelihood = closeness (spend / entry spend),
-- times `upgrade_inactive_factor` (default 0.5) for members who are not active, new or
-- won back (lifecycle_stage), and value = ln(1 + clv), the member's predicted spend over
-- the next `clv_horizon_days` (member_value, docs/value.md): the value at stake, and the
-- likelier the gap is closed. On a night without a value model (clv null),
-- ln(1 + average order value): a bigger basket closes the gap in fewer orders.
-- Offer: by tier, in the job file.
WITH entry AS (
    SELECT
        MIN(tier_spend) FILTER (WHERE tier = 'gold') AS gold_from,
        MIN(tier_spend) FILTER (WHERE tier = 'platinum') AS platinum_from
    FROM member_tier
),
gaps AS (
    SELECT
        t.member_id,
        t.tier_spend,
        CASE t.tier WHEN 'regular' THEN 'gold' ELSE 'platinum' END AS next_tier,
        CASE t.tier WHEN 'regular' THEN '金卡' ELSE '白金卡' END AS next_label,
        CASE t.tier WHEN 'regular' THEN e.gold_from ELSE e.platinum_from END AS next_from
    FROM member_tier t
    CROSS JOIN entry e
    WHERE t.tier IN ('regular', 'gold') AND t.tier_spend > 0
),
candidates AS (
    SELECT
        g.member_id,
        g.tier_spend,
        g.next_tier,
        g.next_label,
        g.next_from,
        g.tier_spend / g.next_from AS closeness,
        m.lifecycle_stage,
        m.aov,
        m.clv
    FROM gaps g
    JOIN member_tags m ON m.member_id = g.member_id
    WHERE g.next_from > g.tier_spend AND g.tier_spend >= $upgrade_min_closeness * g.next_from
)
SELECT
    member_id,
    CAST(closeness
         * CASE WHEN lifecycle_stage IN ('active', 'new', 'won_back') THEN 1.0 ELSE $upgrade_inactive_factor END
         * LN(1 + COALESCE(clv, aov, 0)) AS DOUBLE) AS score,
    make_array(
        '¥' || CAST(CAST(CEIL(next_from - tier_spend) AS BIGINT) AS VARCHAR) || ' more to reach '
            || next_label || ' (' || next_tier || ')',
        'spent ¥' || CAST(CAST(ROUND(tier_spend) AS BIGINT) AS VARCHAR) || ' of ¥'
            || CAST(CAST(ROUND(next_from) AS BIGINT) AS VARCHAR) || ' in '
            || CAST($pyramid_window_days AS VARCHAR) || ' days',
        'lifecycle=' || lifecycle_stage
    ) AS reasons,
    -- Message fields (docs/outreach.md): the next tier and the spend still missing.
    next_label AS msg_next_tier,
    CAST(CAST(CEIL(next_from - tier_spend) AS BIGINT) AS VARCHAR) AS msg_amount_to_next_tier
FROM candidates
