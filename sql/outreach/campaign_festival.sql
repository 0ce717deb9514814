-- campaign_festival — 大促预热: members to warm up before a sales festival.
--
-- The calendar is data: the job param `festival_calendar`, one festival occurrence per
-- line — `name, starts, ends, warmup_days, extension_days, categories, offer` — e.g.
--   双11, 2026-11-11, 2026-11-11, 10, 3, 美妆/个护, 满300减50
-- (dates YYYY-MM-DD; categories separated by `/`, may be empty; no commas inside a
-- field; blank lines and lines starting with # are skipped). List each year's dates
-- (春节 and 年货节 move), and last year's too: "the same festival last year" is the
-- line with the same name whose start is in the previous year.
--
-- Tonight's festival: the one whose warm-up window [starts − warmup_days, starts)
-- holds the run date; when warm-ups overlap, the one starting first (ties by name).
-- Eligible, in that warm-up window:
--   • members who bought in the same festival last year: a paid order within
--     [starts, ends + extension_days] of last year's occurrence (the festival days and
--     its 返场 extension);
--   • members whose top categories (member_tags.top_categories) are on promotion
--     (the festival's categories).
-- Score: ln(1 + last year's festival spend) + 1 when a top category is on promotion.
-- Offer: the calendar line's.
WITH lines AS (
    SELECT TRIM(line) AS line
    FROM (SELECT unnest(string_to_array($festival_calendar, chr(10))) AS line) raw
    WHERE TRIM(line) <> '' AND NOT starts_with(TRIM(line), '#')
),
-- The casts sit behind CASE: the optimiser may merge the filters above with `lines`'
-- and evaluate them on the blank and comment lines too. A malformed field still fails the run,
-- naming the value (e.g. "Cannot cast string '2026-13-01' to value of Date32 type").
calendar AS (
    SELECT
        TRIM(split_part(line, ',', 1)) AS festival,
        CASE WHEN TRIM(line) <> '' AND NOT starts_with(TRIM(line), '#') THEN CAST(TRIM(split_part(line, ',', 2)) AS DATE) END AS starts,
        CASE WHEN TRIM(line) <> '' AND NOT starts_with(TRIM(line), '#') THEN CAST(TRIM(split_part(line, ',', 3)) AS DATE) END AS ends,
        CASE WHEN TRIM(line) <> '' AND NOT starts_with(TRIM(line), '#') THEN CAST(TRIM(split_part(line, ',', 4)) AS INT) END AS warmup_days,
        CASE WHEN TRIM(line) <> '' AND NOT starts_with(TRIM(line), '#') THEN CAST(TRIM(split_part(line, ',', 5)) AS INT) END AS extension_days,
        TRIM(split_part(line, ',', 6)) AS categories,
        TRIM(split_part(line, ',', 7)) AS offer
    FROM lines
),
tonight AS (
    SELECT festival, starts, ends, categories, offer
    FROM calendar
    WHERE $as_of >= starts - warmup_days AND $as_of < starts
    ORDER BY starts, festival
    LIMIT 1
),
last_year AS (
    SELECT c.starts, c.ends + c.extension_days AS until
    FROM calendar c
    JOIN tonight t
      ON c.festival = t.festival
     AND date_part('year', c.starts) = date_part('year', t.starts) - 1
),
festival_buyers AS (
    SELECT o.member_id, SUM(o.paid_amount) AS spend
    FROM paid_orders o
    JOIN last_year l ON CAST(o.ordered_at AS DATE) >= l.starts AND CAST(o.ordered_at AS DATE) <= l.until
    GROUP BY o.member_id
),
promoted AS (
    SELECT m.member_id, MIN(c.category) AS category
    FROM (SELECT member_id, unnest(top_categories) AS category FROM member_tags) m
    JOIN (SELECT unnest(string_to_array(categories, '/')) AS category FROM tonight) c
      ON c.category = m.category
    GROUP BY m.member_id
),
eligible AS (
    SELECT COALESCE(b.member_id, p.member_id) AS member_id, b.spend, p.category
    FROM festival_buyers b
    FULL OUTER JOIN promoted p ON p.member_id = b.member_id
)
SELECT
    e.member_id,
    CAST(LN(1 + COALESCE(CAST(e.spend AS DOUBLE), 0))
         + CASE WHEN e.category IS NOT NULL THEN 1.0 ELSE 0.0 END AS DOUBLE) AS score,
    make_array(
        t.festival || ' starts ' || CAST(t.starts AS VARCHAR),
        CASE WHEN e.spend IS NOT NULL THEN
            'bought ¥' || CAST(CAST(ROUND(e.spend) AS BIGINT) AS VARCHAR) || ' in ' || t.festival || ' last year'
        END,
        CASE WHEN e.category IS NOT NULL THEN
            'buys ' || e.category || ', on promotion in ' || t.festival
        END
    ) AS reasons,
    NULLIF(t.offer, '') AS offer,
    -- Message fields (docs/outreach.md).
    t.festival AS msg_festival,
    CAST(t.starts AS VARCHAR) AS msg_festival_starts,
    e.category AS msg_category
FROM eligible e
CROSS JOIN tonight t
JOIN current_members m ON m.member_id = e.member_id
