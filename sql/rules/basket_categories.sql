-- basket_categories: the category-level baskets — one row per (paid order, category) over
-- the last `rules_window_days`, for rules between categories (生鲜 ⇒ 乳品).
SELECT DISTINCT
    o.order_id AS basket,
    p.category AS item
FROM paid_orders o
JOIN order_items i ON i.order_id = o.order_id
JOIN products p ON p.product_id = i.product_id
WHERE o.ordered_at >= $as_of - $rules_window_days
  AND p.category IS NOT NULL
