-- Export type sales: one row per sale, with the customer, product and store it names,
-- the product cost of the quantity sold and the margin left after tax and cost.
-- Columns:
--   sale_id, order_number, sold_at, sale_date, customer_id, customer_name,
--   customer_segment, product_id, sku, product_name, category, store_id, store_name,
--   region, channel, quantity, unit_price, discount_amount, tax_amount, total_amount,
--   cost_amount, margin_amount, margin_percent, currency, payment_method, status, notes
-- Parameters: none. The query builder selects from this query as a subquery and binds
-- every filter value itself, so this file holds no placeholders.
SELECT
    s.sale_id,
    s.order_number,
    s.sold_at,
    s.sale_date,
    s.customer_id,
    COALESCE(NULLIF(CONCAT_WS(' ', c.first_name, c.last_name), ''), c.company_name) AS customer_name,
    c.segment AS customer_segment,
    s.product_id,
    p.sku,
    p.product_name,
    p.category,
    s.store_id,
    st.store_name,
    s.region,
    s.channel,
    s.quantity,
    s.unit_price,
    s.discount_amount,
    s.tax_amount,
    s.total_amount,
    CAST(p.unit_cost * s.quantity AS DECIMAL(14, 2)) AS cost_amount,
    CAST(s.total_amount - s.tax_amount - p.unit_cost * s.quantity AS DECIMAL(14, 2)) AS margin_amount,
    CAST(
        CAST(s.total_amount - s.tax_amount - p.unit_cost * s.quantity AS DECIMAL(18, 4)) * 100
        / NULLIF(s.total_amount - s.tax_amount, 0)
        AS DECIMAL(18, 2)
    ) AS margin_percent,
    s.currency,
    s.payment_method,
    s.status,
    s.notes
FROM sales AS s
LEFT JOIN customers AS c ON c.customer_id = s.customer_id
LEFT JOIN products AS p ON p.product_id = s.product_id
LEFT JOIN stores AS st ON st.store_id = s.store_id
