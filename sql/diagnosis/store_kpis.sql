-- store_kpis: what a store manager steers by, per service store × month (the last
-- `diagnosis_months` complete months). A store's members are the members it serves
-- (member_tags service_store_id); their paid orders count wherever they were placed.
--
--   members_served    members of the store who had joined by the end of the month (a
--                     member without a join time counts from the start);
--   new_members       of them, those who joined in the month;
--   active_buyers     of them, those with a paid order in the month (the heads of 数人头);
--   buyer_share       active_buyers ÷ members_served, 4 places (null without members);
--   orders, revenue, frequency, ticket, revenue_per_head
--                     as in revenue_diagnosis: revenue = heads × frequency × ticket;
--   revenue_base, revenue_delta, heads_effect, frequency_effect, ticket_effect
--                     the change against the previous month, split as revenue_diagnosis
--                     splits it — the same SQL (revenue_split), grouped by store.
-- Every store with a member appears in every month, with zeros when nobody bought.
WITH stores AS (
    SELECT DISTINCT service_store_id AS store_id
    FROM member_profile
    WHERE service_store_id IS NOT NULL
),
periods AS (
    SELECT DISTINCT period,
           CAST(date_part('year', period) AS BIGINT) * 12 + CAST(date_part('month', period) AS BIGINT) - 1 AS period_index
    FROM revenue_split
    WHERE scope = 'all' AND comparison = 'prev_month'
),
joins AS (
    SELECT p.service_store_id AS store_id,
           COALESCE(CAST(date_part('year', m.joined_at) AS BIGINT) * 12 + CAST(date_part('month', m.joined_at) AS BIGINT) - 1, -1)
               AS join_index,
           COUNT(*) AS members
    FROM member_profile p
    JOIN current_members m ON m.member_id = p.member_id
    WHERE p.service_store_id IS NOT NULL
    GROUP BY 1, 2
),
served AS (
    SELECT s.store_id, pd.period_index,
           COALESCE(SUM(j.members) FILTER (WHERE j.join_index <= pd.period_index), 0) AS members_served,
           COALESCE(SUM(j.members) FILTER (WHERE j.join_index = pd.period_index), 0) AS new_members
    FROM stores s
    CROSS JOIN periods pd
    LEFT JOIN joins j ON j.store_id = s.store_id
    GROUP BY s.store_id, pd.period_index
)
SELECT
    s.store_id,
    pd.period,
    $as_of AS as_of,
    sv.members_served,
    sv.new_members,
    COALESCE(r.heads, 0) AS active_buyers,
    -- Rounded half up to 4 places in integers (docs/sql.md rule 4).
    CASE WHEN sv.members_served > 0
        THEN FLOOR((20000 * COALESCE(r.heads, 0) + sv.members_served) / (2 * sv.members_served)) / 10000.0
    END AS buyer_share,
    COALESCE(r.orders, 0) AS orders,
    COALESCE(r.revenue, 0.0) AS revenue,
    r.frequency,
    r.ticket,
    r.revenue_per_head,
    COALESCE(r.revenue_base, 0.0) AS revenue_base,
    COALESCE(r.revenue_delta, 0.0) AS revenue_delta,
    COALESCE(r.heads_effect, 0.0) AS heads_effect,
    COALESCE(r.frequency_effect, 0.0) AS frequency_effect,
    COALESCE(r.ticket_effect, 0.0) AS ticket_effect
FROM stores s
CROSS JOIN periods pd
JOIN served sv ON sv.store_id = s.store_id AND sv.period_index = pd.period_index
LEFT JOIN revenue_split r
  ON r.scope = 'store' AND r.scope_id = s.store_id AND r.period = pd.period AND r.comparison = 'prev_month'
