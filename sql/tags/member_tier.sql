-- member_tier: membership tier 普卡 / 金卡 / 白金卡 on the pyramid's ranking.
--
-- One ranking base for the tier and the customer pyramid (客户金字塔): the buyers with
-- positive paid spend over `pyramid_window_days` (default 365), ranked by that spend,
-- ties by member_id — the `current` ranking of pyramid_layers, read from there so the
-- two can never disagree. The top `tier_platinum_share` (default 5%) of those buyers
-- are platinum, the next `tier_gold_share` (15%) gold: the cut-offs are
-- round(buyers × share) positions, so with the default shares 白金卡 is exactly the
-- pyramid's top_2 + top_2_5 and 金卡 + 白金卡 exactly its top 20% (值, valuable).
-- Members with no spend in the window are not ranked (spend_rank null) and are regular:
-- never above the lowest tier.
SELECT
    m.member_id,
    $as_of AS as_of,
    CAST(COALESCE(l.reference_spend, 0) AS DOUBLE) AS tier_spend,
    l.spend_rank,
    CASE
        WHEN l.spend_rank <= ROUND(l.buyers * $tier_platinum_share) THEN 'platinum'
        WHEN l.spend_rank <= ROUND(l.buyers * ($tier_platinum_share + $tier_gold_share)) THEN 'gold'
        ELSE 'regular'
    END AS tier,
    CASE
        WHEN l.spend_rank <= ROUND(l.buyers * $tier_platinum_share) THEN '白金卡'
        WHEN l.spend_rank <= ROUND(l.buyers * ($tier_platinum_share + $tier_gold_share)) THEN '金卡'
        ELSE '普卡'
    END AS tier_label
FROM current_members m
LEFT JOIN pyramid_layers l ON l.basis = 'current' AND l.member_id = m.member_id
