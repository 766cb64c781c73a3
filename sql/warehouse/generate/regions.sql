-- regions: the four sales regions.
-- Columns: region, region_name. Parameters: none.
SELECT region, region_name
FROM (VALUES
    ('NA', 'North America'),
    ('LATAM', 'Latin America'),
    ('EMEA', 'Europe, Middle East & Africa'),
    ('APAC', 'Asia-Pacific')
) AS r (region, region_name)
