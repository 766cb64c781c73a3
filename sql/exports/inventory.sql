-- Export type inventory: one row per stock snapshot of a product in a store, with the
-- product and store names, the quantity free to sell and whether it is time to reorder.
-- Columns:
--   inventory_id, snapshot_date, product_id, sku, product_name, category, store_id,
--   store_name, region, quantity_on_hand, quantity_reserved, quantity_available,
--   reorder_level, needs_reorder, unit_cost, stock_value, last_restocked_at,
--   stock_status, is_discontinued
-- Parameters: none. The query builder selects from this query as a subquery and binds
-- every filter value itself, so this file holds no placeholders.
SELECT
    i.inventory_id,
    i.snapshot_date,
    i.product_id,
    p.sku,
    p.product_name,
    p.category,
    i.store_id,
    st.store_name,
    st.region,
    i.quantity_on_hand,
    i.quantity_reserved,
    CAST(i.quantity_on_hand - i.quantity_reserved AS BIGINT) AS quantity_available,
    i.reorder_level,
    (i.quantity_on_hand - i.quantity_reserved <= i.reorder_level) AS needs_reorder,
    i.unit_cost,
    i.stock_value,
    i.last_restocked_at,
    i.stock_status,
    p.is_discontinued
FROM inventory AS i
LEFT JOIN products AS p ON p.product_id = i.product_id
LEFT JOIN stores AS st ON st.store_id = i.store_id
