-- member_fatigue: members rested tonight because they ignored their last contacts
-- (营销疲劳; the outreach step's `fatigue` table: every member listed is removed from
-- every campaign tonight and counted as removed_fatigue in outreach_summary).
--
-- A contact is judged once its attribution window has closed: sent (not holdout: a
-- control-group member was not contacted) at least `attribution_days` (14) before the
-- run date. It was ignored when no conversion falls within `attribution_days` after the
-- send. A member whose last `fatigue_contacts` (3) judged contacts were all ignored is
-- rested for `fatigue_rest_days` (30) from the day the last of them was judged (its send
-- date + attribution_days): rested_until is the first day they may be contacted again.
-- A contact they do convert on starts their count again. `fatigue_contacts = 0` rests
-- nobody.
WITH judged AS (
    SELECT
        member_id,
        CAST(sent_at AS DATE) AS sent_on,
        converted_at IS NULL
            OR converted_at < sent_at
            OR to_unixtime(converted_at) - to_unixtime(sent_at) >= $attribution_days * 86400
            AS ignored,
        ROW_NUMBER() OVER (PARTITION BY member_id ORDER BY sent_at DESC, campaign DESC, channel DESC)
            AS recent_rank
    FROM contact_history
    WHERE NOT COALESCE(holdout, false)
      AND CAST(sent_at AS DATE) <= $as_of - $attribution_days
),
last_contacts AS (
    SELECT
        member_id,
        COUNT(*) AS contacts,
        BOOL_AND(ignored) AS all_ignored,
        MAX(sent_on) AS last_sent_on
    FROM judged
    WHERE recent_rank <= $fatigue_contacts
    GROUP BY member_id
)
SELECT
    member_id,
    contacts AS ignored_contacts,
    last_sent_on,
    CAST(last_sent_on + ($attribution_days + $fatigue_rest_days) AS DATE) AS rested_until
FROM last_contacts
WHERE $fatigue_contacts > 0
  AND contacts = $fatigue_contacts
  AND all_ignored
  AND $as_of < last_sent_on + ($attribution_days + $fatigue_rest_days)
