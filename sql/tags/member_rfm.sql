-- member_rfm: RFM quintile scores and the eight RFM classes (RFM 八类客户).
--
-- Scores run 1–5 among buyers (members with a paid order before the run date); members
-- who never bought have null scores and class `no_purchase` (无购买).
-- score = 1 + floor(5 × (rank − 1) / buyers), with rank ordering buyers from worst to
-- best — recency: most days first; frequency and monetary_avg: lowest first — and tied
-- values sharing the lowest rank, so equal values always get equal scores and the
-- result does not depend on row order.
-- The class compares each buyer with the buyers' mean: R is high when recency_days is
-- below the mean (bought more recently), F and M when above it. monetary_avg is taken
-- as 0 for a buyer without orders in the frequency window.
WITH buyers AS (
    SELECT member_id, recency_days, frequency, COALESCE(monetary_avg, 0) AS monetary
    FROM member_features
    WHERE recency_days IS NOT NULL
),
-- Count and means as a one-row aggregate, not COUNT(*) / AVG(x) OVER (): an unbounded
-- window buffers its whole input outside the memory pool (docs/sql.md).
stats AS (
    SELECT
        COUNT(*) AS buyers,
        AVG(recency_days) AS recency_mean,
        AVG(frequency) AS frequency_mean,
        AVG(monetary) AS monetary_mean
    FROM buyers
),
scored AS (
    SELECT
        b.member_id,
        1 + CAST(FLOOR(5.0 * (RANK() OVER (ORDER BY b.recency_days DESC) - 1) / s.buyers) AS BIGINT) AS rfm_r,
        1 + CAST(FLOOR(5.0 * (RANK() OVER (ORDER BY b.frequency ASC) - 1) / s.buyers) AS BIGINT) AS rfm_f,
        1 + CAST(FLOOR(5.0 * (RANK() OVER (ORDER BY b.monetary ASC) - 1) / s.buyers) AS BIGINT) AS rfm_m,
        b.recency_days < s.recency_mean AS r_high,
        b.frequency > s.frequency_mean AS f_high,
        b.monetary > s.monetary_mean AS m_high
    FROM buyers b
    CROSS JOIN stats s
),
classed AS (
    SELECT
        member_id, rfm_r, rfm_f, rfm_m,
        CASE
            WHEN r_high AND f_high AND m_high THEN 'important_value'
            WHEN r_high AND NOT f_high AND m_high THEN 'important_develop'
            WHEN NOT r_high AND f_high AND m_high THEN 'important_keep'
            WHEN NOT r_high AND NOT f_high AND m_high THEN 'important_retain'
            WHEN r_high AND f_high THEN 'general_value'
            WHEN r_high THEN 'general_develop'
            WHEN f_high THEN 'general_keep'
            ELSE 'general_retain'
        END AS rfm_class
    FROM scored
)
SELECT
    f.member_id,
    $as_of AS as_of,
    c.rfm_r,
    c.rfm_f,
    c.rfm_m,
    COALESCE(c.rfm_class, 'no_purchase') AS rfm_class,
    CASE COALESCE(c.rfm_class, 'no_purchase')
        WHEN 'important_value' THEN '重要价值'
        WHEN 'important_develop' THEN '重要发展'
        WHEN 'important_keep' THEN '重要保持'
        WHEN 'important_retain' THEN '重要挽留'
        WHEN 'general_value' THEN '一般价值'
        WHEN 'general_develop' THEN '一般发展'
        WHEN 'general_keep' THEN '一般保持'
        WHEN 'general_retain' THEN '一般挽留'
        ELSE '无购买'
    END AS rfm_class_label
FROM member_features f
LEFT JOIN classed c ON c.member_id = f.member_id
