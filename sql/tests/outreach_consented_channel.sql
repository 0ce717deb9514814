-- Outreach goes only through a channel the member consented to, and WeCom only to a
-- member with a shopping guide (docs/outreach.md, the contact policy). Consent is never
-- bypassed: any row here fails the night. Holdout rows count too: they were chosen for
-- that channel.
SELECT o.member_id, o.campaign, o.channel
FROM outreach o
LEFT JOIN members m ON m.member_id = o.member_id
WHERE NOT COALESCE(
    CASE o.channel
        WHEN 'sms' THEN m.consent_sms
        WHEN 'wechat' THEN m.consent_wechat
        WHEN 'email' THEN m.consent_email
        WHEN 'app_push' THEN m.consent_app_push
        WHEN 'wecom' THEN m.consent_wecom AND m.guide_id IS NOT NULL
    END,
    false)
