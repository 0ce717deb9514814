-- revenue_diagnosis (数人头): revenue per month and pyramid layer, and why it changed.
--
-- The whole member base's rows of revenue_split, which computes the decomposition for
-- every scope (store_kpis reads its stores). For each of the last `diagnosis_months`
-- complete months and each layer (frozen from the months before, see
-- member_month_layers): heads (buyers), orders, revenue, frequency (orders per head),
-- ticket (revenue per order) and revenue per head.
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
SELECT
    period, comparison, pyramid_layer, as_of, heads, orders, revenue, frequency, ticket,
    revenue_per_head, heads_base, orders_base, revenue_base, revenue_delta, heads_effect,
    frequency_effect, ticket_effect
FROM revenue_split
WHERE scope = 'all'
