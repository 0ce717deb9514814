-- member_features: one row per member with their purchase facts as of the run date.
--
-- Only `paid` orders count as purchases. Windows follow the contract:
-- "the last N days" = as_of - N days <= ordered_at < as_of, as_of at local midnight.
-- recency_days is the number of days from the date of the last paid order to as_of
-- (null for a member who never bought); monetary_avg is money per order. `$as_of - n`
-- is the date n days before the run date; comparing a timestamp with it compares with
-- local midnight. aov: all-time paid spend per paid order; tenure_days: days since
-- joining; refund_rate: refunded orders / (paid + refunded orders), all time.
WITH per_member AS (
    SELECT
        member_id,
        MIN(ordered_at) AS first_order_at,
        MAX(ordered_at) AS last_order_at,
        COUNT(*) AS orders_all_time,
        COUNT(*) FILTER (WHERE ordered_at >= $as_of - $frequency_window_days) AS frequency,
        SUM(paid_amount) FILTER (WHERE ordered_at >= $as_of - $frequency_window_days) AS spend_frequency_window,
        SUM(paid_amount) FILTER (WHERE ordered_at >= $as_of - $spend_window_days) AS spend_window,
        SUM(paid_amount) AS spend_all_time
    FROM paid_orders
    GROUP BY member_id
),
refunds AS (
    SELECT
        member_id,
        COUNT(*) FILTER (WHERE status = 'refunded') AS refunded,
        COUNT(*) FILTER (WHERE status IN ('paid', 'refunded')) AS settled
    FROM orders
    WHERE member_id IS NOT NULL AND ordered_at < $as_of
    GROUP BY member_id
)
SELECT
    m.member_id,
    $as_of AS as_of,
    $as_of - CAST(p.last_order_at AS DATE) AS recency_days,
    COALESCE(p.frequency, 0) AS frequency,
    -- RFM's M: the average paid amount per order in the frequency window (《营销5.0》
    -- defines M per transaction, not as the total); null without orders in the window.
    -- Rounded in cents, so a half cent rounds up as in decimal arithmetic (88.21 / 2 =
    -- 44.11), not as its nearest binary double would.
    ROUND(CAST(p.spend_frequency_window * 100 AS DOUBLE) / NULLIF(p.frequency, 0)) / 100 AS monetary_avg,
    CAST(ROUND(CAST(COALESCE(p.spend_window, 0) AS DOUBLE), 2) AS DOUBLE) AS total_spend_365d,
    COALESCE(p.orders_all_time, 0) AS orders_all_time,
    CAST(p.first_order_at AS DATE) AS first_order_date,
    CAST(p.last_order_at AS DATE) AS last_order_date,
    ROUND(CAST(p.spend_all_time * 100 AS DOUBLE) / NULLIF(p.orders_all_time, 0)) / 100 AS aov,
    $as_of - CAST(m.joined_at AS DATE) AS tenure_days,
    -- Rounded half up to 4 places in integers (as group_health's ratios): the same in
    -- every engine, unlike ROUND of a double.
    FLOOR((20000 * r.refunded + r.settled) / NULLIF(2 * r.settled, 0)) / 10000.0 AS refund_rate
FROM current_members m
LEFT JOIN per_member p ON p.member_id = m.member_id
LEFT JOIN refunds r ON r.member_id = m.member_id
