-- inventory: month-end stock snapshots, 36 consecutive months per product-and-store series.
-- stock_value is quantity_on_hand x unit_cost; stock_status follows the quantities.
-- Columns: inventory_id, snapshot_date, product_id, store_id, quantity_on_hand, quantity_reserved,
--   reorder_level, unit_cost, stock_value, last_restocked_at, stock_status.
-- Parameters: seed, inventory, products, stores.
WITH base AS (
    SELECT
        range AS inventory_id,
        month_start((range - 1) % 36) AS month_first,
        1 + (range - 1) // 36 % $products AS product_id,
        1 + rnd($seed, (range - 1) // 36, 1, $stores) AS store_id,
        CASE WHEN rnd($seed, range, 2, 100) < 6 THEN 0 ELSE 1 + rnd($seed, range, 3, 500) END
            AS quantity_on_hand,
        10 + rnd($seed, range, 4, 41) AS reorder_level
    FROM range(1, $inventory + 1)
)
SELECT
    inventory_id,
    last_day(month_first) AS snapshot_date,
    product_id,
    store_id,
    quantity_on_hand,
    least(quantity_on_hand, rnd($seed, inventory_id, 5, 21)) AS quantity_reserved,
    reorder_level,
    cents(product_cost_cents($seed, product_id)) AS unit_cost,
    cents(quantity_on_hand * product_cost_cents($seed, product_id)) AS stock_value,
    CASE
        WHEN inventory_id % 11 = 4 THEN NULL
        ELSE instant(date_secs(month_first)
                     + rnd($seed, inventory_id, 6, (last_day(month_first) - month_first + 1) * 86400))
    END AS last_restocked_at,
    CASE
        WHEN product_discontinued($seed, product_id) THEN 'discontinued'
        WHEN quantity_on_hand = 0 THEN 'out_of_stock'
        WHEN quantity_on_hand < reorder_level THEN 'low_stock'
        ELSE 'in_stock'
    END AS stock_status
FROM base
