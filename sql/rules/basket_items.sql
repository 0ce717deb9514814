-- basket_items: the baskets rule mining reads — one row per (paid order, product) over
-- the last `rules_window_days` (default 365). A basket is an order; to mine a member's
-- purchases over the window instead, select member_id AS basket.
SELECT DISTINCT
    order_id AS basket,
    product_id AS item
FROM paid_lines
WHERE ordered_at >= $as_of - $rules_window_days
