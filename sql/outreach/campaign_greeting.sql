-- campaign_greeting — 问候 greeting (《营销5.0》 CRM contact type 1).
--
-- Eligible: every member whose birthday is within `birthday_window_days` or whose
-- membership anniversary is within `anniversary_window_days` (member_tags.birthday_soon /
-- anniversary_soon; Feb 29 birthdays are greeted on Feb 28 in other years).
-- Score: a greeting is owed to everyone with the occasion, so the score only orders the
-- list when the budget binds: birthdays before anniversaries (`greeting_birthday_bonus`,
-- default 100, added for a birthday), then the most valuable members
-- (ln(1 + spend in the last 365 days)).
-- Offer: by tier, in the job file (higher tiers get better treatment).
SELECT
    member_id,
    CAST(CASE WHEN birthday_soon THEN $greeting_birthday_bonus ELSE 0 END + LN(1 + total_spend_365d) AS DOUBLE) AS score,
    make_array(
        CASE
            WHEN birthday_soon AND days_to_birthday = 0 THEN 'birthday today'
            WHEN birthday_soon AND days_to_birthday = 1 THEN 'birthday tomorrow'
            WHEN birthday_soon THEN 'birthday in ' || CAST(days_to_birthday AS VARCHAR) || ' days'
        END,
        CASE
            WHEN anniversary_soon AND days_to_anniversary = 0
                THEN CAST(membership_years AS VARCHAR) || '-year membership anniversary today'
            WHEN anniversary_soon AND days_to_anniversary = 1
                THEN CAST(membership_years AS VARCHAR) || '-year membership anniversary tomorrow'
            WHEN anniversary_soon
                THEN CAST(membership_years AS VARCHAR) || '-year membership anniversary in '
                     || CAST(days_to_anniversary AS VARCHAR) || ' days'
        END,
        'tier=' || tier
    ) AS reasons,
    -- Message fields (docs/outreach.md): what the greeting is for and when.
    CASE WHEN birthday_soon THEN 'birthday' ELSE 'anniversary' END AS msg_occasion,
    CAST(CASE WHEN birthday_soon THEN days_to_birthday ELSE days_to_anniversary END AS VARCHAR) AS msg_days_to_occasion,
    CASE WHEN anniversary_soon THEN CAST(membership_years AS VARCHAR) END AS msg_membership_years
FROM member_tags
WHERE birthday_soon OR anniversary_soon
