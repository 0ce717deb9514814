-- campaign_cross_sell — cross-sell (连带销售) from the member's product recommendations
-- (basket rules: bought A, B → C).
--
-- Eligible: every member with at least one recommendation.
-- Score: the confidence of their best recommendation.
-- recommended_products: their top `cross_sell_products` recommendations, best first;
-- reasons: the rule behind each. Offer: the bundle / 满减 offer in the job file.
SELECT
    member_id,
    MAX(score) AS score,
    array_agg(reason ORDER BY rank) AS reasons,
    array_agg(product_id ORDER BY rank) AS recommended_products
FROM recommendations
WHERE rank <= $cross_sell_products
GROUP BY member_id
