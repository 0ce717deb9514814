-- revenue_diagnosis (数人头): revenue per month and pyramid layer, and why it changed.
--
-- For each of the last `diagnosis_months` complete months and each layer (frozen from
-- the months before, see member_month_layers): heads (buyers), orders, revenue,
-- frequency (orders per head), ticket (revenue per order) and revenue per head.
-- Against the previous month (`prev_month`) and the same month last year
-- (`prev_year`), the revenue change is split with the log-mean Divisia index (LMDI-I):
-- revenue = heads × frequency × ticket, and with L = (R₁ − R₀) / (ln R₁ − ln R₀) the
-- mean of the two revenues,
--   heads_effect = L·ln(H₁/H₀), frequency_effect = L·ln(F₁/F₀), ticket_effect = L·ln(T₁/T₀),
-- which add up to R₁ − R₀ with no residual. Effects are money rounded to cents; the
-- ticket effect takes the sub-cent rounding so the three add up to revenue_delta to
-- the cent. When a layer had no revenue in one of the two months, the whole change is
-- a heads effect (customers arrived or left). Money ratios are rounded in cents, so a
-- half cent rounds up as in decimal arithmetic.
WITH layers AS (
    SELECT pyramid_layer FROM (VALUES ('top_2'), ('top_2_5'), ('top_5_10'), ('top_10_15'),
                                      ('top_15_20'), ('top_20_100'), ('new_or_returning')) AS t(pyramid_layer)
),
comparisons AS (
    SELECT comparison, months_back FROM (VALUES ('prev_month', 1), ('prev_year', 12)) AS t(comparison, months_back)
),
periods AS (
    SELECT DISTINCT period_index FROM member_month_layers
),
cells AS (
    SELECT period_index, pyramid_layer, COUNT(*) AS heads, SUM(orders) AS orders, SUM(spend) AS revenue
    FROM member_month_layers
    GROUP BY period_index, pyramid_layer
),
grid AS (
    SELECT
        p.period_index,
        l.pyramid_layer,
        COALESCE(c.heads, 0) AS heads,
        COALESCE(c.orders, 0) AS orders,
        COALESCE(c.revenue, CAST(0 AS DECIMAL(28, 2))) AS revenue
    FROM periods p
    CROSS JOIN layers l
    LEFT JOIN cells c ON c.period_index = p.period_index AND c.pyramid_layer = l.pyramid_layer
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
        cur.period_index,
        cur.comparison,
        cur.pyramid_layer,
        cur.heads, cur.orders, cur.revenue,
        base.heads AS heads_base, base.orders AS orders_base, base.revenue AS revenue_base,
        CAST(cur.revenue AS DOUBLE) AS r1,
        CAST(base.revenue AS DOUBLE) AS r0
    FROM current cur
    JOIN grid base ON base.period_index = cur.base_index AND base.pyramid_layer = cur.pyramid_layer
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
    make_date(CAST(FLOOR(period_index / 12) AS BIGINT), CAST(period_index % 12 + 1 AS BIGINT), 1) AS period,
    comparison,
    pyramid_layer,
    $as_of AS as_of,
    heads,
    orders,
    CAST(revenue AS DOUBLE) AS revenue,
    ROUND(CAST(orders AS DOUBLE) / NULLIF(heads, 0), 4) AS frequency,
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
