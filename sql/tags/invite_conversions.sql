-- invite_conversions: the fission (裂变) that worked — one row per invitee credited to
-- the member who invited them. Only real fission counts:
--   * each invitee is credited once, to their first invitation (earliest invite event
--     naming them; ties by inviter id, then group);
--   * a self-invite is no invitation;
--   * the invitee's first paid order ever must come after that invitation, within
--     `invite_conversion_days` (default 90) — an existing customer, or one who bought
--     before being invited, was not won by the invite.
-- Read by member_community (invites_converted), member_lifecycle (荐) and
-- group_measures (group_health's E).
WITH invites AS (
    SELECT
        member_id AS inviter_id,
        target_member_id AS invitee_id,
        group_id,
        occurred_at AS invited_at,
        ROW_NUMBER() OVER (PARTITION BY target_member_id ORDER BY occurred_at, member_id, group_id) AS nth
    FROM community_events
    WHERE event_type = 'invite'
      AND occurred_at < $as_of
      AND member_id IS NOT NULL
      AND target_member_id IS NOT NULL
      AND target_member_id <> member_id
),
firsts AS (
    SELECT member_id, MIN(ordered_at) AS first_order_at
    FROM paid_orders
    GROUP BY member_id
)
SELECT
    i.invitee_id,
    i.inviter_id,
    i.group_id,
    i.invited_at,
    f.first_order_at,
    CAST(date_part('year', i.invited_at) AS BIGINT) * 12 + CAST(date_part('month', i.invited_at) AS BIGINT) - 1 AS invited_month_index
FROM invites i
JOIN firsts f ON f.member_id = i.invitee_id
WHERE i.nth = 1
  AND f.first_order_at > i.invited_at
  AND date_part('epoch', f.first_order_at) - date_part('epoch', i.invited_at) <= $invite_conversion_days * 86400
