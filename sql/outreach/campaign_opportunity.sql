-- campaign_opportunity — 机会 opportunity (《营销5.0》 CRM contact type 2): new products
-- (新品) to the members most likely to buy them.
--
-- New products: launched in the last `opportunity_new_days` days (products.launched_at).
-- A member is eligible for a category with new products when either
--   * the category is at least `opportunity_min_affinity` of their paid spend over the
--     last `preference_window_days` days (category affinity), or
--   * the category rules recommend that category to them with at least that confidence
--     (category_recommendations, from basket rules: bought X → likely to buy this
--     category).
-- Score: the strongest of those signals (spend share, or the rule's confidence); the
-- member's best category is the one offered. recommended_products: up to
-- `opportunity_products` of that category's newest products (newest first, then id).
WITH new_products AS (
    SELECT product_id, name, category, launched_at
    FROM products
    WHERE launched_at >= $as_of - $opportunity_new_days AND launched_at < $as_of
),
new_categories AS (
    SELECT
        category,
        array_agg(product_id ORDER BY launched_at DESC, product_id) AS products,
        array_agg(name ORDER BY launched_at DESC, product_id) AS names
    FROM new_products
    GROUP BY category
),
-- A member's total by aggregation, not SUM(spend) OVER (PARTITION BY member_id): an
-- unbounded window buffers its whole input outside the memory pool (docs/sql.md).
member_spend AS (
    SELECT member_id, SUM(spend) AS total
    FROM member_category_spend
    GROUP BY member_id
),
affinity AS (
    SELECT
        c.member_id,
        c.category,
        CAST(c.spend AS DOUBLE) / CAST(t.total AS DOUBLE) AS share
    FROM member_category_spend c
    JOIN member_spend t ON t.member_id = c.member_id
),
signals AS (
    SELECT
        member_id,
        category,
        share AS strength,
        'buys ' || category || ' (' || CAST(CAST(ROUND(share * 100) AS BIGINT) AS VARCHAR)
            || '% of spend)' AS reason
    FROM affinity
    WHERE share >= $opportunity_min_affinity
    UNION ALL
    SELECT member_id, category, score AS strength, reason
    FROM category_recommendations
    WHERE score >= $opportunity_min_affinity
),
-- The pick before the join with the product lists: ranking rows that carry two arrays
-- each held every signal's copy of its category's lists in the sort (3.2 GB at scale
-- 10); the semi join keeps only categories with new products, as the join did.
best AS (
    SELECT
        member_id,
        category,
        strength,
        reason,
        ROW_NUMBER() OVER (PARTITION BY member_id ORDER BY strength DESC, category, reason) AS pick
    FROM signals
    WHERE category IN (SELECT category FROM new_categories)
)
SELECT
    b.member_id,
    CAST(b.strength AS DOUBLE) AS score,
    make_array(
        b.reason,
        'new in ' || b.category || ': '
            || array_to_string(array_slice(n.names, 1, $opportunity_products), ', ')
    ) AS reasons,
    array_slice(n.products, 1, $opportunity_products) AS recommended_products,
    -- Message fields (docs/outreach.md): the category and the new products' names.
    b.category AS msg_category,
    array_to_string(array_slice(n.names, 1, $opportunity_products), '、') AS msg_product_names
FROM best b
JOIN new_categories n ON n.category = b.category
WHERE b.pick = 1
