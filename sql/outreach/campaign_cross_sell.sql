-- campaign_cross_sell — cross-sell (连带销售) from the member's product recommendations
-- (basket rules: bought A, B → C).
--
-- Eligible: every member with at least one recommendation.
-- Score: the confidence of their best recommendation.
-- recommended_products: their top `cross_sell_products` recommendations, best first;
-- reasons: the rule behind each. Offer: the bundle / 满减 offer in the job file.
-- msg_product_names: their names (products.name), best first, joined with 、.
--
-- The lists are in rank order without `array_agg(x ORDER BY rank)`: DataFusion 55 runs an
-- ordered array_agg through one accumulator object per group, 9.9 operator-seconds for
-- 600k rows at scale 10, against 0.1 s unordered (docs/sql.md, rule 7). So each element
-- is prefixed with its rank, zero-padded to 10 digits, and a unit separator (chr(31));
-- array_sort then orders them by rank, and the prefixes are cut off after joining the
-- list with record separators (chr(30)) and splitting it again. Those two control
-- characters are replaced by spaces inside the values first, so a value can never be
-- cut in two.
WITH keyed AS (
    SELECT
        r.member_id,
        MAX(r.score) AS score,
        array_sort(array_agg(lpad(CAST(r.rank AS VARCHAR), 10, '0') || chr(31) || translate(r.reason, chr(30) || chr(31), '  '))) AS reasons,
        array_sort(array_agg(lpad(CAST(r.rank AS VARCHAR), 10, '0') || chr(31) || translate(r.product_id, chr(30) || chr(31), '  '))) AS products,
        array_sort(array_agg(lpad(CAST(r.rank AS VARCHAR), 10, '0') || chr(31) || translate(COALESCE(p.name, r.product_id), chr(30) || chr(31), '  '))) AS names
    FROM recommendations r
    LEFT JOIN products p ON p.product_id = r.product_id
    WHERE r.rank <= $cross_sell_products
    GROUP BY r.member_id
)
SELECT
    member_id,
    score,
    string_to_array(regexp_replace(array_to_string(reasons, chr(30)), '(^|\x1e)[0-9]{10}\x1f', '\1', 'g'), chr(30)) AS reasons,
    string_to_array(regexp_replace(array_to_string(products, chr(30)), '(^|\x1e)[0-9]{10}\x1f', '\1', 'g'), chr(30)) AS recommended_products,
    -- Message fields (docs/outreach.md): the recommended products' names, best first.
    regexp_replace(regexp_replace(array_to_string(names, chr(30)), '(^|\x1e)[0-9]{10}\x1f', '\1', 'g'), '\x1e', '、', 'g') AS msg_product_names
FROM keyed
