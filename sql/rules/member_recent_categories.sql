-- member_recent_categories: the categories each member bought from over the last
-- `recommend_window_days`; category recommendations are categories they have not.
SELECT DISTINCT
    member_id,
    category AS item
FROM paid_lines
WHERE ordered_at >= $as_of - $recommend_window_days
  AND category IS NOT NULL
