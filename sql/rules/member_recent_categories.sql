-- member_recent_categories: the categories each member bought from over the last
-- `recommend_window_days`; category recommendations are categories they have not.
SELECT DISTINCT
    o.member_id,
    p.category AS item
FROM paid_orders o
JOIN order_items i ON i.order_id = o.order_id
JOIN products p ON p.product_id = i.product_id
WHERE o.ordered_at >= $as_of - $recommend_window_days
  AND p.category IS NOT NULL
