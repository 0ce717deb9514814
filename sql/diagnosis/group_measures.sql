-- group_measures: each community group's month — members, n, f, e, v — as group_health
-- defines them (see sql/diagnosis/group_health.sql), and the counts behind its
-- buyer_share, growth and quiet_share. Its own table because group_health reads it
-- twice: once for the month means, once per group; a CTE read twice would be computed
-- twice.
-- One scan of the window's events makes every per-month count: a first aggregate per
-- (group, month, member), then per (group, month). The window bounds are constants of
-- $as_of, not a join with a one-row table (a nested-loop join over every event).
WITH events AS (
    SELECT member_id, group_id, event_type, target_member_id,
           CAST(date_part('year', occurred_at) AS BIGINT) * 12 + CAST(date_part('month', occurred_at) AS BIGINT) - 1 AS month_index
    FROM community_events
    WHERE occurred_at < $as_of
),
per_member AS (
    SELECT
        e.group_id,
        e.month_index,
        e.member_id,
        COUNT(*) FILTER (WHERE e.event_type NOT IN ('join', 'leave')) AS interactions,
        COUNT(*) FILTER (WHERE e.event_type = 'message') AS messages,
        COUNT(*) FILTER (WHERE e.event_type = 'share') AS shares,
        COUNT(*) FILTER (WHERE e.event_type = 'join') AS joins,
        COUNT(*) FILTER (WHERE e.event_type = 'leave') AS leaves
    FROM events e
    WHERE e.month_index < CAST(date_part('year', $as_of) AS BIGINT) * 12 + CAST(date_part('month', $as_of) AS BIGINT) - 1
      AND e.month_index >= CAST(date_part('year', $as_of) AS BIGINT) * 12 + CAST(date_part('month', $as_of) AS BIGINT) - 1 - $diagnosis_months
    GROUP BY e.group_id, e.month_index, e.member_id
),
-- n counts the members with an interaction; v sums their spend that month.
activity AS (
    SELECT
        p.group_id,
        p.month_index,
        COUNT(*) FILTER (WHERE p.interactions > 0) AS n,
        SUM(p.interactions) AS interactions,
        SUM(p.messages) AS messages,
        SUM(p.shares) AS shares,
        SUM(p.joins) AS joins,
        SUM(p.leaves) AS leaves,
        SUM(m.spend) FILTER (WHERE p.interactions > 0) AS v
    FROM per_member p
    LEFT JOIN member_months m ON m.member_id = p.member_id AND m.month_index = p.month_index
    GROUP BY p.group_id, p.month_index
),
-- Invites of the group's month that converted (invite_conversions: the invitee's first
-- invitation, first paid order after it within the window).
conversions AS (
    SELECT group_id, invited_month_index AS month_index, COUNT(*) AS converted_invites
    FROM invite_conversions
    GROUP BY group_id, invited_month_index
),
-- A member counts in a group's size from the month of their first event in it on
-- (group_membership.first_seen_at: one row per group and member, not another scan of
-- the events).
first_seen AS (
    SELECT group_id, member_id,
           CAST(date_part('year', first_seen_at) AS BIGINT) * 12 + CAST(date_part('month', first_seen_at) AS BIGINT) - 1 AS first_index
    FROM group_membership
),
-- Members who joined a group in each month; a group's size at a month is the running
-- total: joining per month (not per member) keeps the join small on big communities.
joined AS (
    SELECT group_id, first_index, COUNT(*) AS joined FROM first_seen GROUP BY group_id, first_index
),
-- The group's members (as `members` counts them) with a paid order in the month:
-- member_months has a row per member and month with a paid order.
buyers AS (
    SELECT s.group_id, b.month_index, COUNT(*) AS buyers
    FROM first_seen s
    JOIN member_months b ON b.member_id = s.member_id AND b.month_index >= s.first_index
    WHERE b.month_index >= CAST(date_part('year', $as_of) AS BIGINT) * 12 + CAST(date_part('month', $as_of) AS BIGINT) - 1 - $diagnosis_months
    GROUP BY s.group_id, b.month_index
)
SELECT
    a.group_id,
    a.month_index,
    COALESCE(SUM(j.joined), 0) AS members,
    a.n,
    a.interactions,
    a.messages,
    a.shares + COALESCE(c.converted_invites, 0) AS engaged,
    CASE WHEN a.n > 0 THEN CAST(a.interactions AS DOUBLE) / a.n ELSE 0.0 END AS f,
    CASE WHEN a.messages > 0 THEN CAST(a.shares + COALESCE(c.converted_invites, 0) AS DOUBLE) / a.messages ELSE 0.0 END AS e,
    CAST(COALESCE(a.v, 0) AS DOUBLE) AS v,
    COALESCE(b.buyers, 0) AS buyers,
    a.joins,
    a.leaves
FROM activity a
JOIN joined j ON j.group_id = a.group_id AND j.first_index <= a.month_index
LEFT JOIN conversions c ON c.group_id = a.group_id AND c.month_index = a.month_index
LEFT JOIN buyers b ON b.group_id = a.group_id AND b.month_index = a.month_index
GROUP BY a.group_id, a.month_index, a.n, a.interactions, a.messages, a.shares, c.converted_invites, a.v,
         b.buyers, a.joins, a.leaves
