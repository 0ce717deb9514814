-- group_members: member × community group (社群), for the group owner (群主): who is in
-- the group, since when, their role in it, and how active they are. Published, keyed by
-- group_id, member_id. The per-group role is defined here once; member_community's
-- community_role is the best of a member's roles across the groups they are still in.
--
-- Every member with an event in the group before the run date has a row (from
-- group_membership: joined_at, left_at, is_member, last_activity_at, interactions,
-- interactions_previous — see that file). Leavers are marked, not counted: a member whose
-- latest join or leave is a leave has is_member false and role `none`, and is left out of
-- the group's size and ranking.
--
-- role, per group by interactions in the last `community_window_days` (90), ranked
-- highest first with ties by member_id (group_rank; null for leavers). With n the group's
-- current members:
--   top        rank ≤ `community_top_per_group` (default 2): the KOLs;
--   organiser  rank ≤ `community_organisers_per_group` (default 10);
--   fan        the next round(n × `community_fan_share`) (default 10%) ranks, beyond the
--              top and the organisers;
--   base       every other member of the group (and any member without interactions in
--              the window) — the group's 底座;
--   none       no longer in the group (a leaver).
--
-- The group's size is an aggregate joined back, not COUNT(*) OVER (PARTITION BY
-- group_id): an unbounded window buffers its whole input outside the memory pool
-- (docs/sql.md).
WITH group_sizes AS (
    SELECT group_id, COUNT(*) AS group_size
    FROM group_membership
    WHERE is_member
    GROUP BY group_id
),
ranked AS (
    SELECT
        g.*,
        CASE WHEN g.is_member THEN
            ROW_NUMBER() OVER (PARTITION BY g.group_id ORDER BY g.is_member DESC, g.interactions DESC, g.member_id ASC)
        END AS group_rank,
        COALESCE(z.group_size, 0) AS group_size
    FROM group_membership g
    LEFT JOIN group_sizes z ON z.group_id = g.group_id
)
SELECT
    group_id,
    member_id,
    $as_of AS as_of,
    CASE
        WHEN NOT is_member THEN 'none'
        WHEN interactions > 0 AND group_rank <= $community_top_per_group THEN 'top'
        WHEN interactions > 0 AND group_rank <= $community_organisers_per_group THEN 'organiser'
        WHEN interactions > 0
         AND group_rank <= $community_organisers_per_group + ROUND(group_size * $community_fan_share) THEN 'fan'
        ELSE 'base'
    END AS role,
    CAST(group_rank AS BIGINT) AS group_rank,
    group_size,
    joined_at,
    left_at,
    is_member,
    last_activity_at,
    interactions,
    interactions_previous
FROM ranked
