-- member_preferences: how and what a member buys, over the last
-- `preference_window_days` (default 365) of paid orders.
--
--   price_sensitivity  share of paid spend on orders with a discount or a coupon
--                      (价格敏感度, 0–1; null without spend);
--   preferred_channel  the channel with most paid orders (ties: more spend, then name);
--   top_categories     up to 3 categories by paid line amount, highest first (ties by
--                      name);
--   peak_hour          local hour 0–23 with most paid orders (ties: earliest) — the
--                      send window of outreach;
--   peak_weekday       1 = Monday … 7 = Sunday with most paid orders (ties: earliest).
WITH recent AS (
    SELECT *
    FROM paid_orders
    WHERE ordered_at >= $as_of - $preference_window_days
),
sensitivity AS (
    SELECT
        member_id,
        -- In cents, rounded half up to 4 places in integers (the same in every engine).
        CASE WHEN SUM(paid_amount) > 0 THEN
            FLOOR((20000 * CAST(SUM(CASE WHEN discount_amount > 0 OR coupon_id IS NOT NULL THEN paid_amount ELSE 0 END) * 100 AS BIGINT)
                   + CAST(SUM(paid_amount) * 100 AS BIGINT))
                  / (2 * CAST(SUM(paid_amount) * 100 AS BIGINT))) / 10000.0
        END AS price_sensitivity
    FROM recent
    GROUP BY member_id
),
channels AS (
    SELECT
        member_id,
        channel,
        ROW_NUMBER() OVER (PARTITION BY member_id ORDER BY COUNT(*) DESC, SUM(paid_amount) DESC, channel ASC) AS pick
    FROM recent
    GROUP BY member_id, channel
),
-- The top 3 by a ranking window and three columns, not array_agg(… ORDER BY …): the
-- ordered array_agg kept every category of every member in order, 150 of this file's
-- 170 seconds at scale 10 (siyu explain --analyze; docs/sql.md).
ranked_categories AS (
    SELECT
        member_id,
        category,
        ROW_NUMBER() OVER (PARTITION BY member_id ORDER BY spend DESC, category ASC) AS pick
    FROM member_category_spend
),
top3 AS (
    SELECT
        member_id,
        MAX(CASE WHEN pick = 1 THEN category END) AS c1,
        MAX(CASE WHEN pick = 2 THEN category END) AS c2,
        MAX(CASE WHEN pick = 3 THEN category END) AS c3,
        COUNT(*) AS n
    FROM ranked_categories
    WHERE pick <= 3
    GROUP BY member_id
),
categories AS (
    SELECT
        member_id,
        CASE
            WHEN n = 3 THEN make_array(c1, c2, c3)
            WHEN n = 2 THEN make_array(c1, c2)
            ELSE make_array(c1)
        END AS top_categories
    FROM top3
),
hours AS (
    SELECT
        member_id,
        CAST(date_part('hour', ordered_at) AS BIGINT) AS hour,
        ROW_NUMBER() OVER (PARTITION BY member_id ORDER BY COUNT(*) DESC, CAST(date_part('hour', ordered_at) AS BIGINT) ASC) AS pick
    FROM recent
    GROUP BY member_id, CAST(date_part('hour', ordered_at) AS BIGINT)
),
weekdays AS (
    SELECT
        member_id,
        weekday,
        ROW_NUMBER() OVER (PARTITION BY member_id ORDER BY COUNT(*) DESC, weekday ASC) AS pick
    FROM (
        SELECT member_id, CAST(date_part('isodow', ordered_at) AS BIGINT) AS weekday
        FROM recent
    )
    GROUP BY member_id, weekday
)
SELECT
    m.member_id,
    $as_of AS as_of,
    s.price_sensitivity,
    c.channel AS preferred_channel,
    k.top_categories,
    h.hour AS peak_hour,
    w.weekday AS peak_weekday
FROM current_members m
LEFT JOIN sensitivity s ON s.member_id = m.member_id
LEFT JOIN channels c ON c.member_id = m.member_id AND c.pick = 1
LEFT JOIN categories k ON k.member_id = m.member_id
LEFT JOIN hours h ON h.member_id = m.member_id AND h.pick = 1
LEFT JOIN weekdays w ON w.member_id = m.member_id AND w.pick = 1
