-- member_category_spend: each member's paid line amount per product category over the
-- last `preference_window_days` (default 365) — what member_preferences ranks for
-- top_categories and campaign_opportunity turns into category affinity. Its own table
-- because both read it (and campaign_opportunity twice): the join of paid orders, their
-- items and products is the heaviest in the job, and a CTE read three times would run it
-- three times (docs/sql.md, rule 2).
SELECT o.member_id, p.category, SUM(i.line_amount) AS spend
FROM paid_orders o
JOIN order_items i ON i.order_id = o.order_id
JOIN products p ON p.product_id = i.product_id
WHERE o.ordered_at >= $as_of - $preference_window_days
GROUP BY o.member_id, p.category
