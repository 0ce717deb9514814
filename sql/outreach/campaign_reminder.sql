-- campaign_reminder — 提醒 reminder (《营销5.0》 CRM contact type 5): points about to expire.
--
-- Eligible: members with points expiring within `points_expiry_window_days`
-- (member_tags.points_expiring > 0).
-- Offer: by where the balance stands against the redemption threshold (临界点,
-- member_tags.points_band; `points_redeem_threshold`, 1,500 by default): A (≥
-- `points_band_high`, 2,000) can redeem a larger gift; B (at or past the threshold) can
-- redeem a gift now; C (≥ `points_close_from`, 1,200: close but not there) is offered
-- points + cash to get there; D is nudged to earn before the points lapse.
-- Score: points expiring (more at stake first).
SELECT
    member_id,
    CAST(points_expiring AS DOUBLE) AS score,
    make_array(
        CAST(points_expiring AS VARCHAR) || ' points expire on ' || CAST(points_expiring_at AS VARCHAR),
        'points_band=' || points_band || ' (balance ' || CAST(points_balance AS VARCHAR) || ')'
    ) AS reasons,
    CASE points_band
        WHEN 'A' THEN '积分兑大礼 redeem a larger gift'
        WHEN 'B' THEN '积分兑礼 redeem a gift now'
        WHEN 'C' THEN '积分+现金换购 points + cash'
        ELSE '消费赚积分 earn before they lapse'
    END AS offer,
    -- Message fields (docs/outreach.md): the points at stake and their date.
    CAST(points_expiring AS VARCHAR) AS msg_points_expiring,
    CAST(points_expiring_at AS VARCHAR) AS msg_points_expiring_at,
    CAST(points_balance AS VARCHAR) AS msg_points_balance
FROM member_tags
WHERE points_expiring > 0
