-- campaign_referral — referral invite (裂变 fission): ask the members whose word already
-- brings others in.
--
-- Eligible: community KOLs (community_role = 'top', the most active members of a group)
-- and members whose invitees went on to buy (invites_converted > 0), provided they are
-- not drifting away themselves (churn_risk none or light).
-- Score: `referral_invitee_weight` (default 2) per converted invitee
-- + `referral_kol_weight` (3) for a KOL, or `referral_organiser_weight` (1) for an
-- organiser + ln(1 + community interactions in the last `community_window_days` days).
SELECT
    member_id,
    CAST($referral_invitee_weight * invites_converted
         + CASE community_role WHEN 'top' THEN $referral_kol_weight WHEN 'organiser' THEN $referral_organiser_weight ELSE 0 END
         + LN(1 + community_interactions) AS DOUBLE) AS score,
    make_array(
        'community_role=' || community_role,
        CASE WHEN invites_converted > 0 THEN
            CAST(invites_converted AS VARCHAR)
            || CASE WHEN invites_converted = 1 THEN ' invitee' ELSE ' invitees' END || ' went on to buy'
        END,
        CAST(community_interactions AS VARCHAR) || ' community interactions in '
            || CAST($community_window_days AS VARCHAR) || ' days'
    ) AS reasons,
    -- Message fields (docs/outreach.md).
    CAST(invites_converted AS VARCHAR) AS msg_invitees_converted
FROM member_tags
WHERE (community_role = 'top' OR invites_converted > 0)
  AND churn_risk IN ('none', 'light')
