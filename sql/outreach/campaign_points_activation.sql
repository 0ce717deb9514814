-- campaign_points_activation — 积分激活: the members the points can move.
--
-- Eligible, two groups (a member in both is in the first):
--   close      balance in the "close but not there" band below the redemption threshold
--              (临界点): points_close_from (1,200) ≤ balance < points_redeem_threshold
--              (1,500), whether or not anything expires — the book's group to push
--              first. (Points expiring soon are the `reminder` campaign's, priority 80,
--              which wins a member in both.)
--   follow_up  扩大战果: redeemed points in the last `points_followup_days` (14) and no
--              paid order since the redemption — a gift in hand is the moment to turn
--              them into a buyer.
-- Score: close members first, nearest the threshold first (1 + balance / threshold, in
-- [1.8, 2) by default); follow-ups after them, the most recent redemption first
-- (1 − days since / (points_followup_days + 1), in (0, 1]).
-- Offer: close `points_offer_close` (points + cash to reach the threshold; the reasons say
-- how many points are missing), follow_up `points_offer_follow_up`.
WITH redeemed AS (
    SELECT member_id, MAX(occurred_at) AS redeemed_at
    FROM points_ledger
    WHERE kind = 'redeem'
      AND occurred_at < $as_of
      AND occurred_at >= $as_of - $points_followup_days
    GROUP BY member_id
),
-- "No order since" against each member's last paid order, joined on member_id alone:
-- an outer join with an extra inequality runs as a filtered sort-merge join on a
-- Ballista cluster, which DataFusion 55 panics on (filter.rs index out of bounds).
last_orders AS (
    SELECT member_id, MAX(ordered_at) AS last_ordered_at
    FROM paid_orders
    GROUP BY member_id
),
follow_up AS (
    SELECT r.member_id, r.redeemed_at
    FROM redeemed r
    LEFT JOIN last_orders o ON o.member_id = r.member_id
    WHERE o.last_ordered_at IS NULL OR o.last_ordered_at < r.redeemed_at
)
SELECT
    t.member_id,
    CAST(CASE
        WHEN t.points_balance >= $points_close_from AND t.points_balance < $points_redeem_threshold
            THEN 1.0 + CAST(t.points_balance AS DOUBLE) / $points_redeem_threshold
        ELSE 1.0 - CAST($as_of - CAST(f.redeemed_at AS DATE) AS DOUBLE) / ($points_followup_days + 1)
    END AS DOUBLE) AS score,
    CASE
        WHEN t.points_balance >= $points_close_from AND t.points_balance < $points_redeem_threshold
            THEN make_array(
                'points_band=C: ' || CAST(t.points_balance AS VARCHAR) || ' points, '
                    || CAST($points_redeem_threshold - t.points_balance AS VARCHAR)
                    || ' short of the ' || CAST($points_redeem_threshold AS VARCHAR) || '-point threshold')
        ELSE make_array(
            'redeemed points on ' || CAST(CAST(f.redeemed_at AS DATE) AS VARCHAR) || ', no order since')
    END AS reasons,
    CASE
        WHEN t.points_balance >= $points_close_from AND t.points_balance < $points_redeem_threshold
            THEN $points_offer_close
        ELSE $points_offer_follow_up
    END AS offer,
    -- Message fields (docs/outreach.md): the balance, and how far the threshold is.
    CAST(t.points_balance AS VARCHAR) AS msg_points_balance,
    CAST($points_redeem_threshold AS VARCHAR) AS msg_points_threshold,
    CASE WHEN t.points_balance < $points_redeem_threshold
        THEN CAST($points_redeem_threshold - t.points_balance AS VARCHAR) END AS msg_points_to_threshold
FROM member_tags t
LEFT JOIN follow_up f ON f.member_id = t.member_id
WHERE (t.points_balance >= $points_close_from AND t.points_balance < $points_redeem_threshold)
   OR f.member_id IS NOT NULL
