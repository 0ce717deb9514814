-- Every value of a categorical tag is one the tag dictionary lists (sql/tags/dictionary.toml):
-- a CRM shows the dictionary's labels, so a value without one would show as a raw code.
-- Nulls have no row in member_tag_long and are not counted.
WITH allowed AS (
    SELECT tag, v['value'] AS value
    FROM (SELECT tag, unnest(allowed_values) AS v FROM tag_dictionary) d
),
categorical AS (
    SELECT DISTINCT tag FROM allowed
)
SELECT l.tag, l.value, COUNT(*) AS members
FROM member_tag_long l
JOIN categorical c ON c.tag = l.tag
LEFT JOIN allowed a ON a.tag = l.tag AND a.value = l.value
WHERE a.tag IS NULL
GROUP BY l.tag, l.value
