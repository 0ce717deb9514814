-- store_outreach: tonight's lists as a store manager reads them in the morning, per
-- service store × campaign (from the outreach step's list; members without a service
-- store are the rows with a null store_id, so the stores add up to the campaign).
--
--   listed            members on the campaign's list tonight (holdouts included);
--   holdout           of them, the control group (not sent);
--   contacted         listed − holdout: the messages that go out;
--   wecom_sent, wechat_sent, app_push_sent, sms_sent, email_sent
--                     contacted members per channel (wecom = 1:1 by the store's guides);
--   guides            shopping guides with at least one WeCom message of the campaign
--                     (holdouts included: they hold the guide's slot);
--   members_served    the store's members tonight (member_tags service_store_id);
--   contacted_share   contacted ÷ members_served, 4 places half up (null without members).
WITH lists AS (
    SELECT
        store_id,
        campaign,
        COUNT(*) AS listed,
        COUNT(*) FILTER (WHERE holdout) AS holdout,
        COUNT(*) FILTER (WHERE NOT holdout) AS contacted,
        COUNT(*) FILTER (WHERE NOT holdout AND channel = 'wecom') AS wecom_sent,
        COUNT(*) FILTER (WHERE NOT holdout AND channel = 'wechat') AS wechat_sent,
        COUNT(*) FILTER (WHERE NOT holdout AND channel = 'app_push') AS app_push_sent,
        COUNT(*) FILTER (WHERE NOT holdout AND channel = 'sms') AS sms_sent,
        COUNT(*) FILTER (WHERE NOT holdout AND channel = 'email') AS email_sent,
        COUNT(DISTINCT guide_id) FILTER (WHERE channel = 'wecom') AS guides
    FROM outreach
    GROUP BY store_id, campaign
),
served AS (
    SELECT service_store_id AS store_id, COUNT(*) AS members_served
    FROM member_profile
    WHERE service_store_id IS NOT NULL
    GROUP BY service_store_id
)
SELECT
    l.store_id,
    l.campaign,
    $as_of AS as_of,
    l.listed,
    l.holdout,
    l.contacted,
    l.wecom_sent,
    l.wechat_sent,
    l.app_push_sent,
    l.sms_sent,
    l.email_sent,
    l.guides,
    COALESCE(s.members_served, 0) AS members_served,
    CASE WHEN s.members_served > 0
        THEN FLOOR((20000 * l.contacted + s.members_served) / (2 * s.members_served)) / 10000.0
    END AS contacted_share
FROM lists l
LEFT JOIN served s ON s.store_id = l.store_id
