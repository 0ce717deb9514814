-- group_measures: each community group's month — members, n, f, e, v — as group_health
-- defines them (see sql/diagnosis/group_health.sql). Its own table because group_health
-- reads it twice: once for the month means, once per group; a CTE read twice would be
-- computed twice.
WITH events AS (
    SELECT member_id, group_id, event_type, target_member_id,
           CAST(date_part('year', occurred_at) AS BIGINT) * 12 + CAST(date_part('month', occurred_at) AS BIGINT) - 1 AS month_index
    FROM community_events
    WHERE occurred_at < $as_of
),
window_months AS (
    SELECT CAST(date_part('year', $as_of) AS BIGINT) * 12 + CAST(date_part('month', $as_of) AS BIGINT) - 1 AS current_index
),
buyers AS (
    SELECT DISTINCT member_id FROM paid_orders
),
activity_counts AS (
    SELECT
        e.group_id,
        e.month_index,
        COUNT(*) FILTER (WHERE e.event_type NOT IN ('join', 'leave')) AS interactions,
        COUNT(*) FILTER (WHERE e.event_type = 'message') AS messages,
        COUNT(*) FILTER (WHERE e.event_type = 'share') AS shares,
        COUNT(*) FILTER (WHERE e.event_type = 'invite' AND b.member_id IS NOT NULL) AS converted_invites
    FROM events e
    LEFT JOIN buyers b ON b.member_id = e.target_member_id
    CROSS JOIN window_months w
    WHERE e.month_index < w.current_index AND e.month_index >= w.current_index - $diagnosis_months
    GROUP BY e.group_id, e.month_index
),
active_members AS (
    SELECT DISTINCT group_id, month_index, member_id
    FROM events
    WHERE event_type NOT IN ('join', 'leave')
),
-- n per group and month from the distinct active members (a COUNT(DISTINCT) here would
-- hold a hash set per group-month that cannot spill).
active_counts AS (
    SELECT group_id, month_index, COUNT(*) AS n FROM active_members GROUP BY group_id, month_index
),
activity AS (
    SELECT
        c.group_id,
        c.month_index,
        COALESCE(ac.n, 0) AS n,
        c.interactions,
        c.messages,
        c.shares,
        c.converted_invites
    FROM activity_counts c
    LEFT JOIN active_counts ac ON ac.group_id = c.group_id AND ac.month_index = c.month_index
),
first_seen AS (
    SELECT group_id, member_id, MIN(month_index) AS first_index FROM events GROUP BY group_id, member_id
),
-- Members who joined a group in each month, then the running total at each active
-- month: joining per month (not per member) keeps the join small on big communities.
joined AS (
    SELECT group_id, first_index, COUNT(*) AS joined FROM first_seen GROUP BY group_id, first_index
),
sizes AS (
    SELECT a.group_id, a.month_index, COALESCE(SUM(j.joined), 0) AS members
    FROM activity a
    JOIN joined j ON j.group_id = a.group_id AND j.first_index <= a.month_index
    GROUP BY a.group_id, a.month_index
),
value AS (
    SELECT a.group_id, a.month_index, SUM(m.spend) AS v
    FROM active_members a
    JOIN member_months m ON m.member_id = a.member_id AND m.month_index = a.month_index
    GROUP BY a.group_id, a.month_index
)
SELECT
    a.group_id,
    a.month_index,
    s.members,
    a.n,
    a.interactions,
    a.messages,
    a.shares + a.converted_invites AS engaged,
    CASE WHEN a.n > 0 THEN CAST(a.interactions AS DOUBLE) / a.n ELSE 0.0 END AS f,
    CASE WHEN a.messages > 0 THEN CAST(a.shares + a.converted_invites AS DOUBLE) / a.messages ELSE 0.0 END AS e,
    CAST(COALESCE(v.v, 0) AS DOUBLE) AS v
FROM activity a
JOIN sizes s ON s.group_id = a.group_id AND s.month_index = a.month_index
LEFT JOIN value v ON v.group_id = a.group_id AND v.month_index = a.month_index
