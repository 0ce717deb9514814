-- group_membership: one row per member × community group (社群) the member has an event
-- in before the run date — what a group owner (群主) needs to know of each: when they came,
-- whether they are still in, when they last spoke. One scan of community_events; its own
-- table because group_members reads it twice (the rows and the group sizes) and
-- group_measures reads it for the groups' sizes (a CTE read twice is computed twice,
-- docs/sql.md rule 2). group_members publishes it with each member's role.
--
--   first_seen_at     the member's first event of any kind in the group (group_health's
--                     `members` counts a member from this month on);
--   joined_at         the first join event, or the first event when there is no join;
--   is_member         false when the member's latest join or leave is a leave (a leave and
--                     a join at the same instant read as left; a leave without any join
--                     is a leave) — the rule member_community has always used;
--   left_at           for a leaver, the leave that ended the membership (their latest);
--                     null while still in;
--   last_activity_at  the latest interaction (any event but join and leave), ever;
--   interactions      interactions in the last `community_window_days` (90) days;
--   interactions_previous  interactions in the `community_window_days` days before those.
WITH spans AS (
    SELECT
        group_id,
        member_id,
        MIN(occurred_at) AS first_seen_at,
        COALESCE(MIN(occurred_at) FILTER (WHERE event_type = 'join'), MIN(occurred_at)) AS joined_at,
        MAX(occurred_at) FILTER (WHERE event_type = 'join') AS last_join_at,
        MAX(occurred_at) FILTER (WHERE event_type = 'leave') AS last_leave_at,
        MAX(occurred_at) FILTER (WHERE event_type NOT IN ('join', 'leave')) AS last_activity_at,
        COUNT(*) FILTER (WHERE event_type NOT IN ('join', 'leave')
                           AND occurred_at >= $as_of - $community_window_days) AS interactions,
        COUNT(*) FILTER (WHERE event_type NOT IN ('join', 'leave')
                           AND occurred_at >= $as_of - 2 * $community_window_days
                           AND occurred_at < $as_of - $community_window_days) AS interactions_previous
    FROM community_events
    WHERE occurred_at < $as_of
    GROUP BY group_id, member_id
),
flagged AS (
    SELECT
        *,
        NOT COALESCE(last_leave_at >= COALESCE(last_join_at, first_seen_at), false) AS is_member
    FROM spans
)
SELECT
    group_id,
    member_id,
    first_seen_at,
    joined_at,
    is_member,
    CASE WHEN is_member THEN NULL ELSE last_leave_at END AS left_at,
    last_activity_at,
    interactions,
    interactions_previous
FROM flagged
