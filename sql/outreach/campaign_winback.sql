-- campaign_winback — 挽回 win-back (《营销5.0》 CRM contact type 3).
--
-- Eligible: churn_risk light, moderate or severe (member_tags; docs/tags.md: recency
-- against the member's own purchase interval, and the drop in frequency or spend).
-- Offer: stronger as the risk grows — `winback_offer_light`, `winback_offer_moderate`,
-- `winback_offer_severe` (job params), the same on every channel.
-- Score: the value at stake, ln(1 + clv) — the member's predicted value over the next
-- `clv_horizon_days` (member_value, docs/value.md: what a member still worth keeping
-- would bring) — or, on a night without a value model (clv null), ln(1 + yearly spend at
-- the member's usual pace), all-time spend over their buying years (at least one year);
-- times the early-treatment weight of the risk (早期治疗: a member caught early is the
-- likeliest to come back, so at equal value light goes before moderate before severe):
-- `winback_weight_light` (1.0), `winback_weight_moderate` (0.75), `winback_weight_severe`
-- (0.5). A severe member outranks a light one only when worth more than twice as much.
SELECT
    member_id,
    CAST(LN(1 + COALESCE(clv, COALESCE(aov, 0) * orders_all_time
                / GREATEST(CAST(tenure_days AS DOUBLE) / 365.0, 1.0)))
         * CASE churn_risk
               WHEN 'severe' THEN $winback_weight_severe
               WHEN 'moderate' THEN $winback_weight_moderate
               ELSE $winback_weight_light
           END AS DOUBLE) AS score,
    make_array(
        'churn_risk=' || churn_risk,
        CASE WHEN overdue_days > 0 THEN
            'overdue ' || CAST(overdue_days AS VARCHAR) || ' days (usual interval '
            || CAST(CAST(ROUND(interval_days) AS BIGINT) AS VARCHAR) || ' days)'
        END,
        CASE WHEN last_order_date IS NOT NULL THEN
            'last order ' || CAST(last_order_date AS VARCHAR)
        END,
        CASE WHEN clv IS NOT NULL THEN
            'predicted value ¥' || CAST(CAST(ROUND(clv) AS BIGINT) AS VARCHAR)
            || ', P(alive) ' || CAST(CAST(ROUND(p_alive * 100) AS BIGINT) AS VARCHAR) || '%'
        END
    ) AS reasons,
    CASE churn_risk
        WHEN 'severe' THEN $winback_offer_severe
        WHEN 'moderate' THEN $winback_offer_moderate
        ELSE $winback_offer_light
    END AS offer,
    -- Message fields (docs/outreach.md): since when the member has been away.
    CAST(last_order_date AS VARCHAR) AS msg_last_order_date,
    CAST(recency_days AS VARCHAR) AS msg_days_since_last_order
FROM member_tags
WHERE churn_risk IN ('light', 'moderate', 'severe')
