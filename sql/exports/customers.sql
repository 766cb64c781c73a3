-- Export type customers: one row per customer, with a display name (the person, or the
-- company when no person is named).
-- Columns:
--   customer_id, customer_name, first_name, last_name, company_name, email, phone,
--   segment, region, country, city, signup_date, last_order_at, lifetime_value,
--   is_active, marketing_opt_in, notes
-- Parameters: none. The query builder selects from this query as a subquery and binds
-- every filter value itself, so this file holds no placeholders.
SELECT
    c.customer_id,
    COALESCE(NULLIF(CONCAT_WS(' ', c.first_name, c.last_name), ''), c.company_name) AS customer_name,
    c.first_name,
    c.last_name,
    c.company_name,
    c.email,
    c.phone,
    c.segment,
    c.region,
    c.country,
    c.city,
    c.signup_date,
    c.last_order_at,
    c.lifetime_value,
    c.is_active,
    c.marketing_opt_in,
    c.notes
FROM customers AS c
