-- member_profile: the demographics the members export carries (人口属性), as tags.
--
--   age            whole years at the run date from `birthday` (a birthday not yet
--                  reached this year counts the year before; Feb 29 birthdays turn a
--                  year older on Mar 1 in non-leap years); null when unknown or when
--                  the birthday is not before the run date;
--   age_band       年龄段: `under_18`, `18_24`, `25_29`, `30_34`, `35_39`, `40_49`,
--                  `50_59`, `60_plus`, `unknown` — five-year bands where the retailer's
--                  members concentrate (the 90后 / 95后 mothers and young families of
--                  the material), ten-year bands above 40;
--   gender         性别 as exported (`unknown` when null or empty);
--   city           城市 as exported (null when unknown);
--   city_tier      城市等级: 1 = 一线, 2 = 二线, … as exported; city_tier_label
--                  `一线` / `二线` / `三线` / `四线` / `五线及以下` (5 and above);
--   home_store_id  归属门店, as exported (its shopping guide's store);
--   service_store_id  服务门店, the store that serves the member: home_store_id, else the
--                  store of most paid orders in the last `service_store_window_days`
--                  (365; ties: the store of the latest of those orders, then the lower
--                  store id), else null;
--   guide_id       专属导购, the member's own shopping guide, as exported.
WITH store_orders AS (
    SELECT member_id, CAST(store_id AS VARCHAR) AS store_id, COUNT(*) AS orders, MAX(ordered_at) AS latest
    FROM paid_orders
    WHERE store_id IS NOT NULL
      AND ordered_at >= $as_of - $service_store_window_days
    GROUP BY member_id, CAST(store_id AS VARCHAR)
),
best_store AS (
    -- The store with most orders per member: the maximum of (orders, latest, store) by
    -- aggregate-and-join, not ROW_NUMBER() OVER (docs/sql.md).
    SELECT s.member_id, MIN(s.store_id) AS store_id
    FROM store_orders s
    JOIN (
        SELECT o.member_id, o.orders, MAX(o.latest) AS latest
        FROM store_orders o
        JOIN (SELECT member_id, MAX(orders) AS orders FROM store_orders GROUP BY member_id) most
          ON most.member_id = o.member_id AND most.orders = o.orders
        GROUP BY o.member_id, o.orders
    ) b ON b.member_id = s.member_id AND b.orders = s.orders AND b.latest = s.latest
    GROUP BY s.member_id
),
aged AS (
    SELECT
        member_id,
        gender,
        city,
        city_tier,
        home_store_id,
        guide_id,
        CASE WHEN birthday IS NOT NULL AND CAST(birthday AS DATE) < $as_of THEN
            CAST(date_part('year', $as_of) - date_part('year', CAST(birthday AS DATE)) AS BIGINT)
            - CASE WHEN date_part('month', $as_of) * 100 + date_part('day', $as_of)
                      < date_part('month', CAST(birthday AS DATE)) * 100 + date_part('day', CAST(birthday AS DATE))
                   THEN 1 ELSE 0 END
        END AS age
    FROM current_members
)
SELECT
    a.member_id,
    $as_of AS as_of,
    a.age,
    CASE
        WHEN age IS NULL THEN 'unknown'
        WHEN age < 18 THEN 'under_18'
        WHEN age < 25 THEN '18_24'
        WHEN age < 30 THEN '25_29'
        WHEN age < 35 THEN '30_34'
        WHEN age < 40 THEN '35_39'
        WHEN age < 50 THEN '40_49'
        WHEN age < 60 THEN '50_59'
        ELSE '60_plus'
    END AS age_band,
    CASE WHEN gender IS NULL OR TRIM(CAST(gender AS VARCHAR)) = '' THEN 'unknown'
         ELSE CAST(gender AS VARCHAR) END AS gender,
    CAST(city AS VARCHAR) AS city,
    CAST(city_tier AS BIGINT) AS city_tier,
    CASE
        WHEN city_tier IS NULL THEN NULL
        WHEN city_tier <= 1 THEN '一线'
        WHEN city_tier = 2 THEN '二线'
        WHEN city_tier = 3 THEN '三线'
        WHEN city_tier = 4 THEN '四线'
        ELSE '五线及以下'
    END AS city_tier_label,
    CAST(a.home_store_id AS VARCHAR) AS home_store_id,
    COALESCE(CAST(a.home_store_id AS VARCHAR), b.store_id) AS service_store_id,
    CAST(a.guide_id AS VARCHAR) AS guide_id
FROM aged a
LEFT JOIN best_store b ON b.member_id = a.member_id
