-- group_health: the health of each community group (社群) per month, for the last
-- `diagnosis_months` complete months in which the group had activity.
--
--   members  the group's size: members with any event in the group before the month ends;
--   n        active members: members with an interaction (any event but join and leave)
--            in the group that month;
--   f        interactions per active member (frequency);
--   e        engagement quality: (shares + the month's invites that converted — the
--            invitee's first invitation, their first paid order after it within
--            `invite_conversion_days`, see invite_conversions) per message (0 without
--            messages);
--   v        value: the paid spend that month of the group's active members (a member
--            active in two groups counts in both);
--   cv       community value: n, f, e and v each divided by that month's mean over all
--            groups, multiplied (1 = an average group on every count);
--   interaction_effect  f × e × n / members: frequency × quality × participation;
--   buyer_share  of the `members`, the share with a paid order in the month;
--   growth       the month's join events minus its leave events in the group (a member
--                who joins and leaves counts both);
--   quiet_share  of the `members`, the share without an interaction in the group that
--                month: (members − n) / members;
--   health_rank  the group's place among the month's groups by cv, 1 = best (highest),
--                ties by group_id.
-- buyer_share and quiet_share share `members`' base: everyone with an event in the group
-- by the month's end (a member who has left still counts there, as in `members`).
--
-- The month means come from a GROUP BY joined back, not AVG(x) OVER (PARTITION BY
-- month_index): an unbounded window buffers its whole input outside the memory pool
-- (docs/sql.md).
WITH month_means AS (
    SELECT
        month_index,
        AVG(CAST(n AS DOUBLE)) AS n_mean,
        AVG(f) AS f_mean,
        AVG(e) AS e_mean,
        AVG(v) AS v_mean
    FROM group_measures
    GROUP BY month_index
),
normalised AS (
    SELECT
        g.*,
        (g.n / NULLIF(a.n_mean, 0))
        * (g.f / NULLIF(a.f_mean, 0))
        * (g.e / NULLIF(a.e_mean, 0))
        * (g.v / NULLIF(a.v_mean, 0)) AS cv
    FROM group_measures g
    JOIN month_means a ON a.month_index = g.month_index
),
-- Ranked by the published (rounded) cv, so that a tie is a tie in every engine.
ranked AS (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY month_index ORDER BY ROUND(COALESCE(cv, 0.0), 4) DESC, group_id ASC) AS health_rank
    FROM normalised
)
SELECT
    group_id,
    make_date(CAST(FLOOR(month_index / 12) AS BIGINT), CAST(month_index % 12 + 1 AS BIGINT), 1) AS period,
    $as_of AS as_of,
    members,
    n,
    -- f, e and interaction_effect are ratios of counts, rounded half up to 4 places in
    -- integers: FLOOR((2·10⁴·p + q) / 2q) / 10⁴ is the same in every engine, where
    -- ROUND(p / q, 4) on a double is not (19/160 = 0.11875 is a hair below in binary).
    COALESCE(CASE WHEN n > 0 THEN FLOOR((20000 * interactions + n) / (2 * n)) / 10000.0 END, 0.0) AS f,
    COALESCE(CASE WHEN messages > 0 THEN FLOOR((20000 * engaged + messages) / (2 * messages)) / 10000.0 END, 0.0) AS e,
    ROUND(v, 2) AS v,
    ROUND(COALESCE(cv, 0.0), 4) AS cv,
    -- f × e × n / members = interactions × engaged / (messages × members).
    COALESCE(CASE WHEN messages > 0 AND members > 0
        THEN FLOOR((20000 * interactions * engaged + messages * members) / (2 * messages * members)) / 10000.0
    END, 0.0) AS interaction_effect,
    COALESCE(CASE WHEN members > 0 THEN FLOOR((20000 * buyers + members) / (2 * members)) / 10000.0 END, 0.0) AS buyer_share,
    joins - leaves AS growth,
    COALESCE(CASE WHEN members > 0 THEN FLOOR((20000 * (members - n) + members) / (2 * members)) / 10000.0 END, 0.0) AS quiet_share,
    CAST(health_rank AS BIGINT) AS health_rank
FROM ranked
