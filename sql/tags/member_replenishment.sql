-- member_replenishment: when each member is due to buy a consumable again (补货提醒), one
-- row per member × consumable product (products.is_consumable) bought on at least two
-- different days within `replenishment_window_days` (default 365).
--
--   purchases               distinct days the member bought the product in the window;
--   interval_days           the member's own interval for it: (last − first day) /
--                           (purchases − 1), one decimal;
--   last_bought_on          the last of those days;
--   next_replenishment_at   last_bought_on + interval_days (rounded to whole days); it
--                           may be before the run date (overdue).
-- member_tags carries each member's earliest next_replenishment_at and its product.
WITH days AS (
    SELECT DISTINCT o.member_id, i.product_id, CAST(o.ordered_at AS DATE) AS bought_on
    FROM paid_orders o
    JOIN order_items i ON i.order_id = o.order_id
    JOIN products p ON p.product_id = i.product_id
    WHERE p.is_consumable
      AND o.ordered_at >= $as_of - $replenishment_window_days
)
SELECT
    member_id,
    product_id,
    $as_of AS as_of,
    COUNT(*) AS purchases,
    ROUND(CAST(MAX(bought_on) - MIN(bought_on) AS DOUBLE) / (COUNT(*) - 1) * 10) / 10 AS interval_days,
    MAX(bought_on) AS last_bought_on,
    CAST(MAX(bought_on)
         + CAST(ROUND(CAST(MAX(bought_on) - MIN(bought_on) AS DOUBLE) / (COUNT(*) - 1)) AS INT) AS DATE)
        AS next_replenishment_at
FROM days
GROUP BY member_id, product_id
HAVING COUNT(*) >= 2
