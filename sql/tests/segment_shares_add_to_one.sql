-- The segments' member shares add up to 1 (to rounding): every member is in exactly one
-- segment; so do their revenue shares when there is revenue at all (a night with no paid
-- order has every revenue share 0). A night without segments has no rows to check.
SELECT SUM(share) AS member_share, SUM(revenue_share) AS revenue_share
FROM segment_profiles
HAVING COUNT(*) > 0
   AND (ABS(SUM(share) - 1) > 1e-6
        OR (COALESCE(SUM(revenue_share), 0) > 0 AND ABS(SUM(revenue_share) - 1) > 1e-6))
