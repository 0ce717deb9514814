-- paid_lines: the lines of the recent paid orders — one row per order item of
-- paid_orders placed within the longer of the windows that read it (rules_window_days,
-- recommend_window_days), with the order's member and time and the product's category.
-- Its own table because four files read it (the product and category baskets, the
-- members' recent items and categories): the join of orders and their items is the
-- widest in the job, and each file joining for itself ran it four times (docs/sql.md,
-- rule 2).
--
--   in_products  the product is in `products` (category is null otherwise, as it is for
--                a known product without a category).
SELECT
    o.order_id,
    o.member_id,
    o.ordered_at,
    i.product_id,
    p.category,
    p.product_id IS NOT NULL AS in_products,
    i.line_amount
FROM paid_orders o
JOIN order_items i ON i.order_id = o.order_id
LEFT JOIN products p ON p.product_id = i.product_id
WHERE o.ordered_at >= $as_of - GREATEST($rules_window_days, $recommend_window_days)
