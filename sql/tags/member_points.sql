-- member_points: points balance (积分), what is about to expire, and the activation band
-- the 提醒 reminder campaign uses.
--
--   points_balance   sum of all ledger movements before the run date;
--   points_expiring  earned points whose expiry falls in (as_of, as_of + N days], with
--                    N = `points_expiry_window_days` (default 30), capped by the balance
--                    (points that expire exactly at as_of 00:00 have already expired;
--                    those expiring at as_of + N days 00:00 are still counted). An earn
--                    row without expires_at expires by the job's policy
--                    `points_expiry_policy`: `days` = `points_expiry_days` (default 365)
--                    after the day of earning, `year_end` = 1 January after the year it
--                    was earned;
--   points_expiring_at  the earliest such expiry;
--   points_band      where the balance stands against the redemption threshold (临界点,
--                    《营销5.0》: 1,500 points by default, `points_redeem_threshold`):
--                    A: ≥ `points_band_high` (2,000), well past it — the second band;
--                    B: ≥ the threshold, can redeem; C: ≥ `points_close_from` (1,200),
--                    close but not there — the group to push first; D: below.
WITH ledger AS (
    SELECT
        member_id,
        kind,
        points,
        COALESCE(
            expires_at,
            CASE WHEN $points_expiry_policy = 'year_end'
                 THEN CAST(make_date(CAST(date_part('year', occurred_at) AS BIGINT) + 1, 1, 1) AS TIMESTAMP)
                 ELSE CAST(CAST(occurred_at AS DATE) + $points_expiry_days AS TIMESTAMP)
            END
        ) AS expiry
    FROM points_ledger
    WHERE occurred_at < $as_of
),
per_member AS (
    SELECT
        member_id,
        SUM(points) AS balance,
        SUM(points) FILTER (WHERE kind = 'earn' AND expiry > $as_of
                              AND expiry <= $as_of + $points_expiry_window_days) AS expiring,
        MIN(expiry) FILTER (WHERE kind = 'earn' AND expiry > $as_of
                              AND expiry <= $as_of + $points_expiry_window_days) AS expiring_at
    FROM ledger
    GROUP BY member_id
)
SELECT
    m.member_id,
    $as_of AS as_of,
    COALESCE(p.balance, 0) AS points_balance,
    GREATEST(LEAST(COALESCE(p.expiring, 0), COALESCE(p.balance, 0)), 0) AS points_expiring,
    CAST(p.expiring_at AS DATE) AS points_expiring_at,
    CASE
        WHEN COALESCE(p.balance, 0) >= $points_band_high THEN 'A'
        WHEN COALESCE(p.balance, 0) >= $points_redeem_threshold THEN 'B'
        WHEN COALESCE(p.balance, 0) >= $points_close_from THEN 'C'
        ELSE 'D'
    END AS points_band
FROM current_members m
LEFT JOIN per_member p ON p.member_id = m.member_id
