-- current_members: the members export as of the run date — members who joined before
-- it, or whose join time is unknown. A backfill (`--as-of` in the past) over today's
-- export must not count, rank or tag members who had not joined yet; every member-level
-- SQL file reads this table, not `members`.
SELECT *
FROM members
WHERE joined_at IS NULL OR joined_at < $as_of
