-- campaign_reminder — 提醒 reminder (《营销5.0》 CRM contact type 5): points about to expire.
--
-- Eligible: members with points expiring within `points_expiry_window_days`
-- (member_tags.points_expiring > 0).
-- Offer: by activation band of the balance (member_tags.points_band, thresholds
-- points_band_a / b / c): A can redeem a gift now; B is close, so points + cash; C gets a
-- points-as-cash offset; D is nudged to earn before they lapse.
-- Score: points expiring (more at stake first).
SELECT
    member_id,
    CAST(points_expiring AS DOUBLE) AS score,
    make_array(
        CAST(points_expiring AS VARCHAR) || ' points expire on ' || CAST(points_expiring_at AS VARCHAR),
        'points_band=' || points_band || ' (balance ' || CAST(points_balance AS VARCHAR) || ')'
    ) AS reasons,
    CASE points_band
        WHEN 'A' THEN '积分兑礼 redeem a gift now'
        WHEN 'B' THEN '积分+现金换购 points + cash'
        WHEN 'C' THEN '积分抵现 points as cash'
        ELSE '消费赚积分 earn before they lapse'
    END AS offer
FROM member_tags
WHERE points_expiring > 0
