-- basket_items: the baskets rule mining reads — one row per (paid order, product) over
-- the last `rules_window_days` (default 365). A basket is an order; to mine a member's
-- purchases over the window instead, select member_id AS basket.
SELECT DISTINCT
    o.order_id AS basket,
    i.product_id AS item
FROM paid_orders o
JOIN order_items i ON i.order_id = o.order_id
WHERE o.ordered_at >= $as_of - $rules_window_days
