-- kpis: the monthly health of the member base, for the last `diagnosis_months`
-- complete months.
--
--   new_members         members who joined in the month (入会);
--   first_time_buyers   members whose first paid order ever is in the month;
--   active_buyers       members with a paid order in the month;
--   repurchase_rate     复购率 as the material defines it: buyers with two or more paid
--                       orders in the month ÷ buyers in the month;
--   returning_buyer_share  share of the month's buyers who had bought before the month
--                       (what repurchase_rate meant until 2026-12-05);
--   retention_m1 … m12  of the members whose first paid order was in the month, the
--                       share who bought again k months later (null until month k is
--                       complete);
--   points_issued / points_redeemed / points_expired   points earned, redeemed and
--                       expired in the month (redeemed and expired as positive numbers);
--   referral_k_factor   裂变 K 因子: the month's invites that converted (invite_conversions,
--                       by the month of the invitation) ÷ the members who sent at least
--                       one invite that month (an invite as invite_conversions reads one:
--                       naming an invitee other than the sender); null without inviters.
--                       Rounded half up to 4 places in integers (docs/sql.md rule 4).
WITH bounds AS (
    SELECT
        CAST(date_part('year', $as_of) AS BIGINT) * 12 + CAST(date_part('month', $as_of) AS BIGINT) - 1 AS current_index
),
periods AS (
    SELECT period_index
    FROM UNNEST(range(
        CAST(date_part('year', $as_of) AS BIGINT) * 12 + CAST(date_part('month', $as_of) AS BIGINT) - 1 - $diagnosis_months,
        CAST(date_part('year', $as_of) AS BIGINT) * 12 + CAST(date_part('month', $as_of) AS BIGINT) - 1
    )) AS t(period_index)
),
firsts AS (
    SELECT member_id,
           MIN(CAST(date_part('year', ordered_at) AS BIGINT) * 12 + CAST(date_part('month', ordered_at) AS BIGINT) - 1) AS first_index
    FROM paid_orders
    GROUP BY member_id
),
joined AS (
    SELECT CAST(date_part('year', joined_at) AS BIGINT) * 12 + CAST(date_part('month', joined_at) AS BIGINT) - 1 AS period_index,
           COUNT(*) AS new_members
    FROM members
    WHERE joined_at < $as_of
    GROUP BY 1
),
buyers AS (
    SELECT m.month_index AS period_index,
           COUNT(*) AS active_buyers,
           COUNT(*) FILTER (WHERE m.orders >= 2) AS repeat_buyers,
           COUNT(*) FILTER (WHERE f.first_index < m.month_index) AS returning_buyers,
           COUNT(*) FILTER (WHERE f.first_index = m.month_index) AS first_time_buyers
    FROM member_months m
    JOIN firsts f ON f.member_id = m.member_id
    GROUP BY m.month_index
),
retention AS (
    SELECT f.first_index AS period_index, m.month_index - f.first_index AS k, COUNT(*) AS retained
    FROM firsts f
    JOIN member_months m ON m.member_id = f.member_id
    WHERE m.month_index - f.first_index BETWEEN 1 AND 12
    GROUP BY 1, 2
),
points AS (
    SELECT CAST(date_part('year', occurred_at) AS BIGINT) * 12 + CAST(date_part('month', occurred_at) AS BIGINT) - 1 AS period_index,
           COALESCE(SUM(points) FILTER (WHERE kind = 'earn'), 0) AS points_issued,
           COALESCE(-SUM(points) FILTER (WHERE kind = 'redeem'), 0) AS points_redeemed,
           COALESCE(-SUM(points) FILTER (WHERE kind = 'expire'), 0) AS points_expired
    FROM points_ledger
    WHERE occurred_at < $as_of
    GROUP BY 1
),
inviters AS (
    SELECT CAST(date_part('year', occurred_at) AS BIGINT) * 12 + CAST(date_part('month', occurred_at) AS BIGINT) - 1 AS period_index,
           COUNT(DISTINCT member_id) AS inviters
    FROM community_events
    WHERE event_type = 'invite'
      AND occurred_at < $as_of
      AND target_member_id IS NOT NULL
      AND target_member_id <> member_id
    GROUP BY 1
),
converted AS (
    SELECT invited_month_index AS period_index, COUNT(*) AS converted_invites
    FROM invite_conversions
    GROUP BY invited_month_index
),
cohorts AS (
    SELECT p.period_index, COALESCE(b.first_time_buyers, 0) AS cohort
    FROM periods p LEFT JOIN buyers b ON b.period_index = p.period_index
),
rates AS (
    SELECT
        c.period_index,
        MAX(CASE WHEN k.k = 1 THEN r.retained END) AS m1, MAX(CASE WHEN k.k = 2 THEN r.retained END) AS m2,
        MAX(CASE WHEN k.k = 3 THEN r.retained END) AS m3, MAX(CASE WHEN k.k = 4 THEN r.retained END) AS m4,
        MAX(CASE WHEN k.k = 5 THEN r.retained END) AS m5, MAX(CASE WHEN k.k = 6 THEN r.retained END) AS m6,
        MAX(CASE WHEN k.k = 7 THEN r.retained END) AS m7, MAX(CASE WHEN k.k = 8 THEN r.retained END) AS m8,
        MAX(CASE WHEN k.k = 9 THEN r.retained END) AS m9, MAX(CASE WHEN k.k = 10 THEN r.retained END) AS m10,
        MAX(CASE WHEN k.k = 11 THEN r.retained END) AS m11, MAX(CASE WHEN k.k = 12 THEN r.retained END) AS m12
    FROM cohorts c
    CROSS JOIN (SELECT * FROM UNNEST(range(1, 13)) AS t(k)) k
    LEFT JOIN retention r ON r.period_index = c.period_index AND r.k = k.k
    GROUP BY c.period_index
)
SELECT
    make_date(CAST(FLOOR(p.period_index / 12) AS BIGINT), CAST(p.period_index % 12 + 1 AS BIGINT), 1) AS period,
    $as_of AS as_of,
    COALESCE(j.new_members, 0) AS new_members,
    COALESCE(b.first_time_buyers, 0) AS first_time_buyers,
    COALESCE(b.active_buyers, 0) AS active_buyers,
    ROUND(CAST(b.repeat_buyers AS DOUBLE) / NULLIF(b.active_buyers, 0), 4) AS repurchase_rate,
    ROUND(CAST(b.returning_buyers AS DOUBLE) / NULLIF(b.active_buyers, 0), 4) AS returning_buyer_share,
    -- Month k after the cohort month is complete when period + k < the run date's month.
    CASE WHEN p.period_index + 1 < bd.current_index THEN ROUND(CAST(COALESCE(r.m1, 0) AS DOUBLE) / NULLIF(c.cohort, 0), 4) END AS retention_m1,
    CASE WHEN p.period_index + 2 < bd.current_index THEN ROUND(CAST(COALESCE(r.m2, 0) AS DOUBLE) / NULLIF(c.cohort, 0), 4) END AS retention_m2,
    CASE WHEN p.period_index + 3 < bd.current_index THEN ROUND(CAST(COALESCE(r.m3, 0) AS DOUBLE) / NULLIF(c.cohort, 0), 4) END AS retention_m3,
    CASE WHEN p.period_index + 4 < bd.current_index THEN ROUND(CAST(COALESCE(r.m4, 0) AS DOUBLE) / NULLIF(c.cohort, 0), 4) END AS retention_m4,
    CASE WHEN p.period_index + 5 < bd.current_index THEN ROUND(CAST(COALESCE(r.m5, 0) AS DOUBLE) / NULLIF(c.cohort, 0), 4) END AS retention_m5,
    CASE WHEN p.period_index + 6 < bd.current_index THEN ROUND(CAST(COALESCE(r.m6, 0) AS DOUBLE) / NULLIF(c.cohort, 0), 4) END AS retention_m6,
    CASE WHEN p.period_index + 7 < bd.current_index THEN ROUND(CAST(COALESCE(r.m7, 0) AS DOUBLE) / NULLIF(c.cohort, 0), 4) END AS retention_m7,
    CASE WHEN p.period_index + 8 < bd.current_index THEN ROUND(CAST(COALESCE(r.m8, 0) AS DOUBLE) / NULLIF(c.cohort, 0), 4) END AS retention_m8,
    CASE WHEN p.period_index + 9 < bd.current_index THEN ROUND(CAST(COALESCE(r.m9, 0) AS DOUBLE) / NULLIF(c.cohort, 0), 4) END AS retention_m9,
    CASE WHEN p.period_index + 10 < bd.current_index THEN ROUND(CAST(COALESCE(r.m10, 0) AS DOUBLE) / NULLIF(c.cohort, 0), 4) END AS retention_m10,
    CASE WHEN p.period_index + 11 < bd.current_index THEN ROUND(CAST(COALESCE(r.m11, 0) AS DOUBLE) / NULLIF(c.cohort, 0), 4) END AS retention_m11,
    CASE WHEN p.period_index + 12 < bd.current_index THEN ROUND(CAST(COALESCE(r.m12, 0) AS DOUBLE) / NULLIF(c.cohort, 0), 4) END AS retention_m12,
    COALESCE(pt.points_issued, 0) AS points_issued,
    COALESCE(pt.points_redeemed, 0) AS points_redeemed,
    COALESCE(pt.points_expired, 0) AS points_expired,
    CASE WHEN iv.inviters > 0
        THEN FLOOR((20000 * COALESCE(cv.converted_invites, 0) + iv.inviters) / (2 * iv.inviters)) / 10000.0
    END AS referral_k_factor
FROM periods p
CROSS JOIN bounds bd
LEFT JOIN joined j ON j.period_index = p.period_index
LEFT JOIN buyers b ON b.period_index = p.period_index
LEFT JOIN cohorts c ON c.period_index = p.period_index
LEFT JOIN rates r ON r.period_index = p.period_index
LEFT JOIN points pt ON pt.period_index = p.period_index
LEFT JOIN inviters iv ON iv.period_index = p.period_index
LEFT JOIN converted cv ON cv.period_index = p.period_index
