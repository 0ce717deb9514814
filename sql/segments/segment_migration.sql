-- segment_migration: how members moved between segments since the previous published
-- run — one row per (previous segment, current segment) with the number of members.
-- previous_segment_id is null for members the previous run did not have, segment_id is
-- null for members that are gone. Empty on the first run.
SELECT
    p.segment_id AS previous_segment_id,
    c.segment_id,
    $as_of AS as_of,
    COUNT(*) AS members
FROM member_segments c
FULL OUTER JOIN previous_member_segments p ON p.member_id = c.member_id
WHERE (SELECT COUNT(*) FROM previous_member_segments) > 0
GROUP BY p.segment_id, c.segment_id
