-- sales: one order line per row; refunds carry a negative total_amount.
-- sale_date is the UTC date of sold_at; unit_price is the product's price; region and currency
-- are the store's.
-- Columns: sale_id, order_number, sold_at, sale_date, customer_id, product_id, store_id, region,
--   channel, quantity, unit_price, discount_amount, tax_amount, total_amount, currency,
--   payment_method, status, notes.
-- Parameters: seed, sales, customers, products, stores.
WITH base AS (
    SELECT
        range AS sale_id,
        event_secs($seed, range, 1) AS sold_secs,
        1 + rnd($seed, range, 2, $customers) AS customer_id,
        1 + rnd($seed, range, 3, $products) AS product_id,
        1 + rnd($seed, range, 4, $stores) AS store_id,
        rnd($seed, range, 5, 100) AS channel_roll,
        rnd($seed, range, 6, 100) AS status_roll,
        CASE rnd($seed, range, 7, 10) WHEN 0 THEN 3 + rnd($seed, range, 8, 8) WHEN 1 THEN 2 WHEN 2 THEN 2 ELSE 1 END
            AS quantity
    FROM range(1, $sales + 1)
), priced AS (
    SELECT
        *,
        store_info(store_id) AS store,
        product_price_cents($seed, product_id) AS unit_cents,
        quantity * product_price_cents($seed, product_id) AS gross_cents,
        CASE WHEN rnd($seed, sale_id, 9, 10) < 7 THEN 0 ELSE 5 * (1 + rnd($seed, sale_id, 10, 5)) END
            AS discount_percent
    FROM base
), taxed AS (
    SELECT
        *,
        gross_cents * discount_percent // 100 AS discount_cents,
        (gross_cents - gross_cents * discount_percent // 100)
            * CASE store.region WHEN 'NA' THEN 8 WHEN 'LATAM' THEN 16 WHEN 'EMEA' THEN 20 ELSE 10 END
            // 100 AS tax_cents,
        CASE
            WHEN status_roll < 85 THEN 'completed'
            WHEN status_roll < 91 THEN 'pending'
            WHEN status_roll < 96 THEN 'refunded'
            ELSE 'cancelled'
        END AS status
    FROM priced
)
SELECT
    sale_id,
    'SO-' || lpad(CAST(sale_id AS VARCHAR), 10, '0') AS order_number,
    instant(sold_secs) AS sold_at,
    utc_date(sold_secs) AS sale_date,
    customer_id,
    product_id,
    store_id,
    store.region,
    CASE
        WHEN channel_roll < 50 THEN 'store'
        WHEN channel_roll < 85 THEN 'online'
        WHEN channel_roll < 93 THEN 'phone'
        ELSE 'partner'
    END AS channel,
    quantity,
    cents(unit_cents) AS unit_price,
    cents(discount_cents) AS discount_amount,
    cents(tax_cents) AS tax_amount,
    cents(CASE status WHEN 'refunded' THEN -1 ELSE 1 END * (gross_cents - discount_cents + tax_cents))
        AS total_amount,
    store.currency,
    pick(['card', 'card', 'card', 'card', 'card', 'card', 'cash', 'bank_transfer', 'invoice', 'voucher'],
         $seed, sale_id, 11) AS payment_method,
    status,
    CASE
        WHEN is_odd(sale_id, $sales, 1) THEN odd_pick(odd_texts(), sale_id, $sales, 1)
        WHEN rnd($seed, sale_id, 12, 10) < 8 THEN NULL
        ELSE pick(['Gift wrap requested', 'Deliver to back door', 'Customer asked for an invoice copy',
                   'Price match applied', 'Loyalty points redeemed', 'Refund approved by store manager'],
                  $seed, sale_id, 13)
    END AS notes
FROM taxed
