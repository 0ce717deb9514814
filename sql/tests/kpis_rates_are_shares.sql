-- The month KPIs' rates are shares: between 0 and 1.
SELECT period, repurchase_rate, returning_buyer_share
FROM kpis
WHERE repurchase_rate < 0 OR repurchase_rate > 1
   OR returning_buyer_share < 0 OR returning_buyer_share > 1
