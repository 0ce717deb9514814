-- member_community: a member's activity in the retailer's communities (社群) and their
-- role in the community pyramid (社群金字塔).
--
-- Counts are over the last `community_window_days` (default 90): messages, check-ins
-- (打卡), shares, invites and all interactions (every event but join and leave).
-- invites_converted: the invitees credited to this member in invite_conversions — their
-- first invitation was this member's, and their first paid order followed it within
-- `invite_conversion_days`: the fission (裂变) that worked.
-- community_role, per group by interactions in the window, ranked highest first with
-- ties by member_id, then the member's best role across their groups. A group's members
-- are those with an event in it whose latest join or leave (before the run date) is not
-- a leave — a member who left no longer counts in the group (a leave and a join at the
-- same instant read as left). With n the group's members:
--   top        rank ≤ `community_top_per_group` (default 2): the KOLs;
--   organiser  rank ≤ `community_organisers_per_group` (default 10);
--   fan        the next round(n × `community_fan_share`) (default 10%) ranks, beyond the
--              top and the organisers (the material's ~10% of fans);
--   base       every other member of a group (and anyone without interactions);
--   none       not in any group.
-- silent_buyer (静默下单): a member of a group (role other than none) who bought within
-- `frequency_window_days` (frequency ≥ 1) and has never interacted in any community
-- (no event but join and leave, ever): they read and buy, never speak. Members outside
-- every group are not silent buyers — they are not in the community at all.
WITH events AS (
    SELECT member_id, group_id, event_type, occurred_at, target_member_id
    FROM community_events
    WHERE occurred_at < $as_of
),
recent AS (
    SELECT * FROM events WHERE occurred_at >= $as_of - $community_window_days
),
counts AS (
    SELECT
        member_id,
        COUNT(*) FILTER (WHERE event_type = 'message') AS messages,
        COUNT(*) FILTER (WHERE event_type = 'check_in') AS check_ins,
        COUNT(*) FILTER (WHERE event_type = 'share') AS shares,
        COUNT(*) FILTER (WHERE event_type = 'invite') AS invites,
        COUNT(*) FILTER (WHERE event_type NOT IN ('join', 'leave')) AS interactions
    FROM recent
    GROUP BY member_id
),
ever AS (
    SELECT member_id, COUNT(*) FILTER (WHERE event_type NOT IN ('join', 'leave')) AS interactions
    FROM events
    GROUP BY member_id
),
converted AS (
    SELECT inviter_id AS member_id, COUNT(*) AS invites_converted
    FROM invite_conversions
    GROUP BY inviter_id
),
membership AS (
    SELECT group_id, member_id
    FROM events
    GROUP BY group_id, member_id
    HAVING NOT COALESCE(
        MAX(occurred_at) FILTER (WHERE event_type = 'leave')
            >= COALESCE(MAX(occurred_at) FILTER (WHERE event_type = 'join'), MIN(occurred_at)),
        false)
),
group_members AS (
    SELECT
        e.group_id,
        e.member_id,
        COUNT(r.member_id) AS activity
    FROM membership e
    LEFT JOIN recent r
      ON r.group_id = e.group_id AND r.member_id = e.member_id AND r.event_type NOT IN ('join', 'leave')
    GROUP BY e.group_id, e.member_id
),
-- A group's size by aggregation (its current members, one membership row each), not
-- COUNT(*) OVER (PARTITION BY group_id): an unbounded window buffers its whole input
-- outside the memory pool (docs/sql.md).
group_sizes AS (
    SELECT group_id, COUNT(*) AS group_size
    FROM membership
    GROUP BY group_id
),
ranked AS (
    SELECT
        g.member_id,
        g.activity,
        ROW_NUMBER() OVER (PARTITION BY g.group_id ORDER BY g.activity DESC, g.member_id ASC) AS group_rank,
        z.group_size
    FROM group_members g
    JOIN group_sizes z ON z.group_id = g.group_id
),
roles AS (
    SELECT
        member_id,
        MAX(CASE
            WHEN activity > 0 AND group_rank <= $community_top_per_group THEN 4
            WHEN activity > 0 AND group_rank <= $community_organisers_per_group THEN 3
            WHEN activity > 0
             AND group_rank <= $community_organisers_per_group + ROUND(group_size * $community_fan_share) THEN 2
            ELSE 1
        END) AS best
    FROM ranked
    GROUP BY member_id
)
SELECT
    m.member_id,
    $as_of AS as_of,
    COALESCE(c.messages, 0) AS community_messages,
    COALESCE(c.check_ins, 0) AS community_check_ins,
    COALESCE(c.shares, 0) AS community_shares,
    COALESCE(c.invites, 0) AS community_invites,
    COALESCE(c.interactions, 0) AS community_interactions,
    COALESCE(v.invites_converted, 0) AS invites_converted,
    CASE r.best WHEN 4 THEN 'top' WHEN 3 THEN 'organiser' WHEN 2 THEN 'fan' WHEN 1 THEN 'base' ELSE 'none' END
        AS community_role,
    r.best IS NOT NULL AND COALESCE(f.frequency, 0) > 0 AND COALESCE(ev.interactions, 0) = 0
        AS silent_buyer
FROM current_members m
LEFT JOIN counts c ON c.member_id = m.member_id
LEFT JOIN converted v ON v.member_id = m.member_id
LEFT JOIN roles r ON r.member_id = m.member_id
LEFT JOIN ever ev ON ev.member_id = m.member_id
LEFT JOIN member_features f ON f.member_id = m.member_id
