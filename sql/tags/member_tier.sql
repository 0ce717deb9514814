-- member_tier: membership tier 普卡 / 金卡 / 白金卡 by trailing spend rank.
--
-- As 《营销5.0》 does, all members (buyers or not) are ranked by their paid spend over
-- the tier window (`tier_window_days`, default 365): the top `tier_platinum_share`
-- (default 5%) of members are platinum, the next `tier_gold_share` (15%) gold, the rest
-- regular. The cut-offs are round(members × share) positions. Ties in spend are broken
-- by member_id so the split is exact and deterministic; a member with no spend in the
-- window is never above regular, even when the top shares are not filled.
WITH spend AS (
    SELECT m.member_id, COALESCE(s.spend, 0) AS spend
    FROM current_members m
    LEFT JOIN (
        SELECT member_id, SUM(paid_amount) AS spend
        FROM paid_orders
        WHERE ordered_at >= $as_of - $tier_window_days
        GROUP BY member_id
    ) s ON s.member_id = m.member_id
),
-- The member count as a one-row aggregate, not COUNT(*) OVER (): an unbounded window
-- buffers its whole input outside the memory pool (docs/sql.md).
total AS (
    SELECT COUNT(*) AS members FROM current_members
),
ranked AS (
    SELECT
        s.member_id,
        s.spend,
        ROW_NUMBER() OVER (ORDER BY s.spend DESC, s.member_id ASC) AS spend_rank,
        t.members
    FROM spend s
    CROSS JOIN total t
)
SELECT
    member_id,
    $as_of AS as_of,
    CAST(spend AS DOUBLE) AS tier_spend,
    spend_rank,
    CASE
        WHEN spend > 0 AND spend_rank <= ROUND(members * $tier_platinum_share) THEN 'platinum'
        WHEN spend > 0 AND spend_rank <= ROUND(members * ($tier_platinum_share + $tier_gold_share)) THEN 'gold'
        ELSE 'regular'
    END AS tier,
    CASE
        WHEN spend > 0 AND spend_rank <= ROUND(members * $tier_platinum_share) THEN '白金卡'
        WHEN spend > 0 AND spend_rank <= ROUND(members * ($tier_platinum_share + $tier_gold_share)) THEN '金卡'
        ELSE '普卡'
    END AS tier_label
FROM ranked
