-- member_recent_items: what each member bought recently — one row per (member, product)
-- over the last `recommend_window_days` (default 90) of paid orders. The recommend step
-- applies a rule when its antecedent is among these items, and does not recommend an
-- item in here again unless it is consumable.
SELECT DISTINCT
    member_id,
    product_id AS item
FROM paid_lines
WHERE ordered_at >= $as_of - $recommend_window_days
