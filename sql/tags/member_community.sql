-- member_community: a member's activity in the retailer's communities (社群) and their
-- role in the community pyramid (社群金字塔).
--
-- Counts are over the last `community_window_days` (default 90): messages, check-ins
-- (打卡), shares, invites and all interactions (every event but join and leave).
-- invites_converted: the invitees credited to this member in invite_conversions — their
-- first invitation was this member's, and their first paid order followed it within
-- `invite_conversion_days`: the fission (裂变) that worked.
-- community_role, per group by interactions in the window, ranked highest first with
-- ties by member_id (defined once, in group_members, which publishes each member's role
-- per group), then the member's best role across their groups. A group's members are
-- those with an event in it whose latest join or leave (before the run date) is not a
-- leave — a member who left no longer counts in the group (a leave and a join at the
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
WITH recent AS (
    SELECT member_id, event_type
    FROM community_events
    WHERE occurred_at < $as_of AND occurred_at >= $as_of - $community_window_days
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
-- Interactions ever, from group_membership (each member's latest interaction per group)
-- rather than a scan of every event.
ever AS (
    SELECT member_id, COUNT(last_activity_at) AS groups_spoken_in
    FROM group_membership
    GROUP BY member_id
),
converted AS (
    SELECT inviter_id AS member_id, COUNT(*) AS invites_converted
    FROM invite_conversions
    GROUP BY inviter_id
),
-- Each member's role per group is group_members' (where the ranking is defined, one row
-- per member × group); the member's role here is the best of those in the groups they
-- are still in.
roles AS (
    SELECT
        member_id,
        MAX(CASE role WHEN 'top' THEN 4 WHEN 'organiser' THEN 3 WHEN 'fan' THEN 2 ELSE 1 END) AS best
    FROM group_members
    WHERE is_member
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
    r.best IS NOT NULL AND COALESCE(f.frequency, 0) > 0 AND COALESCE(ev.groups_spoken_in, 0) = 0
        AS silent_buyer
FROM current_members m
LEFT JOIN counts c ON c.member_id = m.member_id
LEFT JOIN converted v ON v.member_id = m.member_id
LEFT JOIN roles r ON r.member_id = m.member_id
LEFT JOIN ever ev ON ev.member_id = m.member_id
LEFT JOIN member_features f ON f.member_id = m.member_id
