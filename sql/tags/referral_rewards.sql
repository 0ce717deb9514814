-- referral_rewards: the referral (裂变) rewards owed tonight — one row per converted
-- invite as invite_conversions defines it (read from there, never redefined here): each
-- invitee once, credited to their first invitation, never a self-invite, and only when
-- the invitee's first paid order ever followed that invitation within
-- `invite_conversion_days`. So a second inviter of the same invitee, and an invitee who
-- had bought before being invited, have no row at all. Published, keyed by invitee_id.
--
-- eligible: whether the inviter is rewarded for this invitee. The rule:
--   * once per invitee — there is one row per invitee, so at most one reward each;
--   * never for a self-invite (reason `self_invite`; invite_conversions already drops
--     them, the check stays so that a change there cannot pay one out);
--   * never for a cycle (reason `cycle`): the inviter was themselves converted by their
--     own invitee — invite_conversions also credits this invitee with converting the
--     inviter. Both rows of such a pair are not eligible: two members who invite each
--     other and both buy have recruited nobody. Only direct pairs are cycles; a longer
--     ring (A → B → C → A) is not detected.
-- reason is null when eligible.
-- The reverse conversion, if any, is a second read of the invite_conversions table (one
-- row per invitee, so at most one match).
SELECT
    c.invitee_id,
    c.inviter_id,
    $as_of AS as_of,
    c.group_id,
    c.invited_at,
    c.first_order_at,
    c.inviter_id <> c.invitee_id AND r.invitee_id IS NULL AS eligible,
    CASE
        WHEN c.inviter_id = c.invitee_id THEN 'self_invite'
        WHEN r.invitee_id IS NOT NULL THEN
            'cycle: the inviter was converted by this invitee''s invite of '
            || CAST(CAST(r.invited_at AS DATE) AS VARCHAR)
    END AS reason
FROM invite_conversions c
LEFT JOIN invite_conversions r ON r.inviter_id = c.invitee_id AND r.invitee_id = c.inviter_id
