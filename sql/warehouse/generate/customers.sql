-- customers: people and companies buying from the stores; every nullable column has NULLs.
-- Columns: customer_id, first_name, last_name, email, phone, company_name, segment, region,
--   country, city, signup_date, last_order_at, lifetime_value, is_active, marketing_opt_in, notes.
-- Parameters: seed, customers, stores.
WITH base AS (
    SELECT
        range AS customer_id,
        store_info(1 + rnd($seed, range, 1, $stores)) AS home,
        pick(first_names(), $seed, range, 2) AS first,
        pick(last_names(), $seed, range, 3) AS last,
        rnd($seed, range, 4, 100) AS segment_roll,
        rnd($seed, range, 5, span_days()) AS signup_day,
        range % 8 = 1 AS never_ordered
    FROM range(1, $customers + 1)
)
SELECT
    customer_id,
    CASE
        WHEN customer_id % 17 = 3 THEN NULL
        WHEN is_odd(customer_id, $customers, 1) THEN odd_pick(odd_names(), customer_id, $customers, 1)
        ELSE first
    END AS first_name,
    CASE
        WHEN customer_id % 19 = 5 THEN NULL
        WHEN is_odd(customer_id, $customers, 2) THEN odd_pick(odd_names(), customer_id, $customers, 2)
        ELSE last
    END AS last_name,
    CASE
        WHEN customer_id % 13 = 6 THEN NULL
        WHEN is_odd(customer_id, $customers, 3)
            THEN odd_pick(['zoë.müller@exämple.de', '"smith, john"@example.com', '=cmd@example.com',
                           '+tag@example.com', '@example.com', 'дмитрий@пример.рф'],
                          customer_id, $customers, 3)
        ELSE replace(lower(strip_accents(first || '.' || last)), ' ', '')
            || customer_id || '@example.com'
    END AS email,
    CASE
        WHEN customer_id % 7 = 2 THEN NULL
        WHEN is_odd(customer_id, $customers, 4) THEN odd_pick(odd_phones(), customer_id, $customers, 4)
        ELSE home.dial || ' ' || lpad(CAST(rnd($seed, customer_id, 6, 1000000000) AS VARCHAR), 9, '0')
    END AS phone,
    CASE
        WHEN is_odd(customer_id, $customers, 5) THEN odd_pick(odd_names(), customer_id, $customers, 5)
        WHEN segment_roll < 60 THEN NULL
        ELSE pick(['Acme', 'Globex', 'Initech', 'Umbrella', 'Stark', 'Wayne', 'Hooli', 'Vandelay',
                   'Soylent', 'Tyrell', 'Wonka', 'Cyberdyne', 'Nakatomi', 'Gekko & Co'], $seed, customer_id, 7)
            || pick([' Inc.', ', Inc.', ' GmbH', ' S.A.', ' Ltd', ' LLC', ' K.K.', ' B.V.'], $seed, customer_id, 8)
    END AS company_name,
    CASE
        WHEN segment_roll < 60 THEN 'consumer'
        WHEN segment_roll < 85 THEN 'small_business'
        WHEN segment_roll < 95 THEN 'enterprise'
        ELSE 'government'
    END AS segment,
    home.region,
    home.country,
    CASE WHEN customer_id % 23 = 7 THEN NULL ELSE home.city END AS city,
    span_date(signup_day) AS signup_date,
    CASE
        WHEN never_ordered THEN NULL
        ELSE instant(span_start() + signup_day * 86400
                     + rnd($seed, customer_id, 9, (span_days() - signup_day) * 86400))
    END AS last_order_at,
    CASE
        WHEN never_ordered THEN cents(0)
        ELSE cents(rnd($seed, customer_id, 10, 3163) * rnd($seed, customer_id, 11, 3163))
    END AS lifetime_value,
    NOT never_ordered AND rnd($seed, customer_id, 12, 100) < 85 AS is_active,
    rnd($seed, customer_id, 13, 100) < 40 AS marketing_opt_in,
    CASE
        WHEN is_odd(customer_id, $customers, 6) THEN odd_pick(odd_texts(), customer_id, $customers, 6)
        WHEN rnd($seed, customer_id, 14, 10) < 7 THEN NULL
        ELSE pick(['Prefers email contact', 'VIP since 2024', 'Asked for paper invoices',
                   'Tax-exempt, certificate on file', 'Key account: quarterly review'],
                  $seed, customer_id, 15)
    END AS notes
FROM base
