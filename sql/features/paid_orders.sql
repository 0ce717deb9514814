-- paid_orders: the purchases every tag counts.
--
-- Only `paid` orders of identified members (guest orders have no member_id) placed
-- before the run date. Refunded and cancelled orders are not purchases.
SELECT
    order_id,
    member_id,
    ordered_at,
    CAST(ordered_at AS DATE) AS order_date,
    channel,
    store_id,
    gross_amount,
    discount_amount,
    paid_amount,
    coupon_id
FROM orders
WHERE status = 'paid'
  AND member_id IS NOT NULL
  AND ordered_at < $as_of
