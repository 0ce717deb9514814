-- revenue_split: the 数人头 decomposition of diagnosis_cells, for every scope (the whole
-- base by pyramid layer, and each service store) — one SQL for revenue_diagnosis and
-- store_kpis.
--
-- For each of the last `diagnosis_months` complete months and each cell: heads (buyers),
-- orders, revenue. Against the previous month (`prev_month`) and the same month last
-- year (`prev_year`), the revenue change is split with the log-mean Divisia index
-- (LMDI-I): revenue = heads × frequency × ticket, and with L = (R₁ − R₀) / (ln R₁ − ln R₀)
-- the mean of the two revenues,
--   heads_effect = L·ln(H₁/H₀), frequency_effect = L·ln(F₁/F₀), ticket_effect = L·ln(T₁/T₀),
-- which add up to R₁ − R₀ with no residual. Effects are money rounded to cents; the
-- ticket effect takes the sub-cent rounding so the three add up to revenue_delta to
-- the cent. When a cell had no revenue in one of the two months, the whole change is a
-- heads effect (customers arrived or left). Every layer of the whole base is a cell in
-- every month, and every store that has a cell in any month is one in every month.
WITH layers AS (
    SELECT pyramid_layer FROM (VALUES ('top_2'), ('top_2_5'), ('top_5_10'), ('top_10_15'),
                                      ('top_15_20'), ('top_20_100'), ('new_or_returning')) AS t(pyramid_layer)
),
comparisons AS (
    SELECT comparison, months_back FROM (VALUES ('prev_month', 1), ('prev_year', 12)) AS t(comparison, months_back)
),
periods AS (
    -- Every month of the window and the year before it, with orders or not: a month
    -- nobody bought in (a store closed for a refit) is a month of zeros, not a gap that
    -- drops the next month's comparison.
    SELECT period_index
    FROM UNNEST(range(
        CAST(date_part('year', $as_of) AS BIGINT) * 12 + CAST(date_part('month', $as_of) AS BIGINT) - 1 - $diagnosis_months - 12,
        CAST(date_part('year', $as_of) AS BIGINT) * 12 + CAST(date_part('month', $as_of) AS BIGINT) - 1
    )) AS t(period_index)
),
keys AS (
    SELECT 'all' AS scope, '' AS scope_id, pyramid_layer FROM layers
    UNION
    SELECT DISTINCT scope, scope_id, pyramid_layer FROM diagnosis_cells
),
grid AS (
    SELECT
        k.scope,
        k.scope_id,
        p.period_index,
        k.pyramid_layer,
        COALESCE(c.heads, 0) AS heads,
        COALESCE(c.orders, 0) AS orders,
        COALESCE(c.revenue, CAST(0 AS DECIMAL(28, 2))) AS revenue
    FROM periods p
    CROSS JOIN keys k
    LEFT JOIN diagnosis_cells c
      ON c.period_index = p.period_index AND c.scope = k.scope AND c.scope_id = k.scope_id
     AND c.pyramid_layer = k.pyramid_layer
),
current AS (
    SELECT g.*, k.comparison, g.period_index - k.months_back AS base_index
    FROM grid g
    CROSS JOIN comparisons k
    WHERE g.period_index >= CAST(date_part('year', $as_of) AS BIGINT) * 12 + CAST(date_part('month', $as_of) AS BIGINT) - 1
                            - $diagnosis_months
),
pairs AS (
    SELECT
        cur.scope,
        cur.scope_id,
        cur.period_index,
        cur.comparison,
        cur.pyramid_layer,
        cur.heads, cur.orders, cur.revenue,
        base.heads AS heads_base, base.orders AS orders_base, base.revenue AS revenue_base,
        CAST(cur.revenue AS DOUBLE) AS r1,
        CAST(base.revenue AS DOUBLE) AS r0
    FROM current cur
    JOIN grid base
      ON base.period_index = cur.base_index AND base.scope = cur.scope AND base.scope_id = cur.scope_id
     AND base.pyramid_layer = cur.pyramid_layer
),
effects AS (
    SELECT
        *,
        revenue - revenue_base AS delta,
        CASE WHEN r1 > 0 AND r0 > 0 THEN
            CASE WHEN r1 = r0 THEN r1 ELSE (r1 - r0) / (ln(r1) - ln(r0)) END
        END AS log_mean
    FROM pairs
),
split AS (
    SELECT
        *,
        CASE WHEN log_mean IS NULL THEN delta
             ELSE CAST(ROUND(log_mean * ln(CAST(heads AS DOUBLE) / heads_base), 2) AS DECIMAL(28, 2))
        END AS heads_effect,
        CASE WHEN log_mean IS NULL THEN CAST(0 AS DECIMAL(28, 2))
             ELSE CAST(ROUND(log_mean * ln((CAST(orders AS DOUBLE) / heads) / (CAST(orders_base AS DOUBLE) / heads_base)), 2) AS DECIMAL(28, 2))
        END AS frequency_effect
    FROM effects
)
SELECT
    scope,
    scope_id,
    make_date(CAST(FLOOR(period_index / 12) AS BIGINT), CAST(period_index % 12 + 1 AS BIGINT), 1) AS period,
    comparison,
    pyramid_layer,
    $as_of AS as_of,
    heads,
    orders,
    CAST(revenue AS DOUBLE) AS revenue,
    -- Orders per head to 4 places, half up in integers (docs/sql.md rule 4): 534 / 320 =
    -- 1.66875 is a hair below that as a double, and engines round it differently.
    FLOOR((20000 * orders + heads) / NULLIF(2 * heads, 0)) / 10000.0 AS frequency,
    ROUND(r1 * 100 / NULLIF(orders, 0)) / 100 AS ticket,
    ROUND(r1 * 100 / NULLIF(heads, 0)) / 100 AS revenue_per_head,
    heads_base,
    orders_base,
    CAST(revenue_base AS DOUBLE) AS revenue_base,
    CAST(delta AS DOUBLE) AS revenue_delta,
    CAST(heads_effect AS DOUBLE) AS heads_effect,
    CAST(frequency_effect AS DOUBLE) AS frequency_effect,
    CAST(delta - heads_effect - frequency_effect AS DOUBLE) AS ticket_effect
FROM split
