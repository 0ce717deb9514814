-- member_dates: date triggers for 问候 greetings.
--
--   days_to_birthday      days from the run date to the next birthday (0 = today); a
--                         Feb 29 birthday is celebrated on Feb 28 in non-leap years;
--   birthday_soon         days_to_birthday ≤ `birthday_window_days` (default 7);
--   days_to_anniversary   days to the next membership anniversary (入会周年), same
--                         Feb 29 rule; null before the first anniversary is due;
--   anniversary_soon      days_to_anniversary ≤ `anniversary_window_days` (default 7);
--   membership_years      whole years of membership at that next anniversary.
WITH base AS (
    SELECT
        member_id,
        birthday,
        CAST(joined_at AS DATE) AS joined_date,
        CAST(date_part('year', $as_of) AS BIGINT) AS y
    FROM current_members
),
candidates AS (
    SELECT
        member_id,
        joined_date,
        y,
        -- This year's and next year's occurrence of a month/day, with Feb 29 → Feb 28.
        CASE WHEN birthday IS NOT NULL THEN make_date(y, date_part('month', birthday),
             CASE WHEN date_part('month', birthday) = 2 AND date_part('day', birthday) = 29
                       AND NOT ((y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0) THEN 28
                  ELSE date_part('day', birthday) END) END AS bday_this,
        CASE WHEN birthday IS NOT NULL THEN make_date(y + 1, date_part('month', birthday),
             CASE WHEN date_part('month', birthday) = 2 AND date_part('day', birthday) = 29
                       AND NOT (((y + 1) % 4 = 0 AND (y + 1) % 100 <> 0) OR (y + 1) % 400 = 0) THEN 28
                  ELSE date_part('day', birthday) END) END AS bday_next,
        make_date(y, date_part('month', joined_date),
             CASE WHEN date_part('month', joined_date) = 2 AND date_part('day', joined_date) = 29
                       AND NOT ((y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0) THEN 28
                  ELSE date_part('day', joined_date) END) AS anniv_this,
        make_date(y + 1, date_part('month', joined_date),
             CASE WHEN date_part('month', joined_date) = 2 AND date_part('day', joined_date) = 29
                       AND NOT (((y + 1) % 4 = 0 AND (y + 1) % 100 <> 0) OR (y + 1) % 400 = 0) THEN 28
                  ELSE date_part('day', joined_date) END) AS anniv_next
    FROM base
),
next_dates AS (
    SELECT
        member_id,
        joined_date,
        CASE WHEN bday_this >= $as_of THEN bday_this ELSE bday_next END AS next_birthday,
        CASE WHEN anniv_this >= $as_of THEN anniv_this ELSE anniv_next END AS next_anniversary
    FROM candidates
)
SELECT
    member_id,
    $as_of AS as_of,
    next_birthday - $as_of AS days_to_birthday,
    COALESCE(next_birthday - $as_of <= $birthday_window_days, false) AS birthday_soon,
    CASE WHEN joined_date IS NOT NULL AND next_anniversary > joined_date
         THEN next_anniversary - $as_of END AS days_to_anniversary,
    COALESCE(joined_date IS NOT NULL AND next_anniversary > joined_date
             AND next_anniversary - $as_of <= $anniversary_window_days, false) AS anniversary_soon,
    CAST(date_part('year', next_anniversary) - date_part('year', joined_date) AS BIGINT) AS membership_years
FROM next_dates
