-- group_actions: tonight's suggested actions for each community group's owner (群主), one
-- row per group × action × member (member_id null for an action on the whole group),
-- each with `why`: the numbers behind it. Published, keyed by group_id, action,
-- member_id. Members and their counts come from group_members (see that file).
--
--   welcome    欢迎: members who joined in the last `group_welcome_days` (default 7) days
--              (group_members.joined_at: their first join in the group) and are still in;
--   revive     唤醒: quiet members who used to be active — still in, no interaction in the
--              last `community_window_days` (90) days, but at least
--              `group_revive_min_interactions` (5) in the `community_window_days` days
--              before: the group's 底座 (base) gone silent;
--   thank      感谢: the group's top contributors (their role in this group is `top`);
--   post_hour  发帖时间: the local hour of the day (0–23, in `hour`) with the most
--              interactions in the group over the last `community_window_days` days, ties
--              to the earliest hour; one row per group with an interaction in that window,
--              member_id null. Every interaction in the group counts, a leaver's too: it
--              is when the group is read and answered.
--
-- A group's interactions in the window are the sum of its group_members rows' (the same
-- events), so the hours are the only scan of community_events here.
WITH hours AS (
    SELECT
        group_id,
        CAST(date_part('hour', occurred_at) AS BIGINT) AS hour,
        COUNT(*) AS interactions
    FROM community_events
    WHERE occurred_at < $as_of
      AND occurred_at >= $as_of - $community_window_days
      AND event_type NOT IN ('join', 'leave')
    GROUP BY group_id, CAST(date_part('hour', occurred_at) AS BIGINT)
),
busiest AS (
    SELECT
        group_id,
        hour,
        interactions,
        ROW_NUMBER() OVER (PARTITION BY group_id ORDER BY interactions DESC, hour ASC) AS pick
    FROM hours
),
group_totals AS (
    SELECT group_id, SUM(interactions) AS interactions
    FROM group_members
    GROUP BY group_id
)
SELECT
    group_id,
    'welcome' AS action,
    member_id,
    $as_of AS as_of,
    CAST(NULL AS BIGINT) AS hour,
    'joined ' || CAST(CAST(joined_at AS DATE) AS VARCHAR)
        || ' (' || CAST(CAST($as_of - CAST(joined_at AS DATE) AS BIGINT) AS VARCHAR) || ' days ago); '
        || CAST(interactions AS VARCHAR) || ' interactions in the last '
        || CAST($community_window_days AS VARCHAR) || ' days' AS why
FROM group_members
WHERE is_member
  AND joined_at >= $as_of - $group_welcome_days
UNION ALL
SELECT
    group_id,
    'revive' AS action,
    member_id,
    $as_of AS as_of,
    CAST(NULL AS BIGINT) AS hour,
    'no interaction in the last ' || CAST($community_window_days AS VARCHAR) || ' days; '
        || CAST(interactions_previous AS VARCHAR) || ' in the ' || CAST($community_window_days AS VARCHAR)
        || ' days before; last on ' || CAST(CAST(last_activity_at AS DATE) AS VARCHAR) AS why
FROM group_members
WHERE is_member
  AND interactions = 0
  AND interactions_previous >= $group_revive_min_interactions
UNION ALL
SELECT
    group_id,
    'thank' AS action,
    member_id,
    $as_of AS as_of,
    CAST(NULL AS BIGINT) AS hour,
    'top contributor: rank ' || CAST(group_rank AS VARCHAR) || ' of ' || CAST(group_size AS VARCHAR)
        || ' members with ' || CAST(interactions AS VARCHAR) || ' interactions in the last '
        || CAST($community_window_days AS VARCHAR) || ' days' AS why
FROM group_members
WHERE role = 'top'
UNION ALL
SELECT
    b.group_id,
    'post_hour' AS action,
    CAST(NULL AS VARCHAR) AS member_id,
    $as_of AS as_of,
    b.hour,
    CAST(b.interactions AS VARCHAR) || ' of ' || CAST(t.interactions AS VARCHAR)
        || ' interactions in the last ' || CAST($community_window_days AS VARCHAR) || ' days were at '
        || LPAD(CAST(b.hour AS VARCHAR), 2, '0') || ':00–' || LPAD(CAST(b.hour AS VARCHAR), 2, '0') || ':59' AS why
FROM busiest b
JOIN group_totals t ON t.group_id = b.group_id
WHERE b.pick = 1
