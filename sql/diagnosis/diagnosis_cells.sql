-- diagnosis_cells: the 数人头 counts — heads (buyers), paid orders and revenue — per
-- scope, month and pyramid layer, for revenue_split to decompose:
--
--   scope 'all'    the whole member base, scope_id '', one cell per layer of
--                  member_month_layers (the layer frozen from the months before);
--   scope 'store'  each service store (member_tags service_store_id, 服务门店: home store,
--                  else the store of most orders), scope_id the store, one cell with
--                  layer 'all'. A member's months count toward their service store as
--                  of tonight, online orders included: the store is measured on the
--                  members it serves (归属), as its guides are.
SELECT 'all' AS scope, '' AS scope_id, period_index, pyramid_layer,
       COUNT(*) AS heads, SUM(orders) AS orders, SUM(spend) AS revenue
FROM member_month_layers
GROUP BY period_index, pyramid_layer
UNION ALL
SELECT 'store' AS scope, p.service_store_id AS scope_id, l.period_index, 'all' AS pyramid_layer,
       COUNT(*) AS heads, SUM(l.orders) AS orders, SUM(l.spend) AS revenue
FROM member_month_layers l
JOIN member_profile p ON p.member_id = l.member_id
WHERE p.service_store_id IS NOT NULL
GROUP BY p.service_store_id, l.period_index
