-- basket_categories: the category-level baskets — one row per (paid order, category) over
-- the last `rules_window_days`, for rules between categories (生鲜 ⇒ 乳品).
SELECT DISTINCT
    order_id AS basket,
    category AS item
FROM paid_lines
WHERE ordered_at >= $as_of - $rules_window_days
  AND category IS NOT NULL
