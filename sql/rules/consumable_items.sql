-- consumable_items: products bought again and again (is_consumable), which the recommend
-- step may recommend to a member who already bought them (replenishment).
SELECT product_id AS item
FROM products
WHERE is_consumable
