-- stores: one row per demo store (store_list() in _macros.sql).
-- Columns: store_id, store_name, region, country, city, timezone, opened_on.
-- Parameters: seed, stores.
SELECT
    store_id,
    store.name AS store_name,
    store.region,
    store.country,
    store.city,
    store.timezone,
    span_date(rnd($seed, store_id, 1, 730)) AS opened_on
FROM (SELECT range AS store_id, store_info(range) AS store FROM range(1, $stores + 1))
