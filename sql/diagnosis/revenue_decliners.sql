-- revenue_decliners: the 止血 ("stop the bleeding") list — members whose spend fell
-- most against their own previous period, by pyramid layer.
--
-- Current period: the last `decliner_window_days` days (default 90); previous period:
-- the same length before it. A member is listed when they spent in the previous
-- period and less in the current one. Their layer is frozen from the
-- `pyramid_window_days` before the current period began (pyramid_layers, basis
-- `decliner`), as in revenue_diagnosis, so a top customer who stopped buying is still
-- listed as a top customer (`new_or_returning` if they had no spend in that window,
-- possible only when it is shorter than the two periods). Within each
-- layer the largest drops come first; `decliners_per_layer` (default 200) are kept.
WITH spend AS (
    SELECT
        member_id,
        SUM(paid_amount) FILTER (WHERE ordered_at >= $as_of - $decliner_window_days) AS spend_current,
        SUM(paid_amount) FILTER (WHERE ordered_at < $as_of - $decliner_window_days
                                   AND ordered_at >= $as_of - 2 * $decliner_window_days) AS spend_previous
    FROM paid_orders
    GROUP BY member_id
),
layered AS (
    SELECT
        s.member_id,
        COALESCE(l.pyramid_layer, 'new_or_returning') AS pyramid_layer,
        COALESCE(s.spend_previous, 0) AS spend_previous,
        COALESCE(s.spend_current, 0) AS spend_current
    FROM spend s
    LEFT JOIN pyramid_layers l ON l.basis = 'decliner' AND l.member_id = s.member_id
    WHERE COALESCE(s.spend_previous, 0) > COALESCE(s.spend_current, 0)
),
ordered AS (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY pyramid_layer ORDER BY spend_current - spend_previous ASC, member_id ASC) AS rank_in_layer
    FROM layered
)
SELECT
    member_id,
    $as_of AS as_of,
    pyramid_layer,
    rank_in_layer,
    CAST(spend_previous AS DOUBLE) AS spend_previous,
    CAST(spend_current AS DOUBLE) AS spend_current,
    CAST(spend_current - spend_previous AS DOUBLE) AS spend_delta
FROM ordered
WHERE rank_in_layer <= $decliners_per_layer
