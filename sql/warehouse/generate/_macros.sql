-- Macros shared by the generator SELECTs in this folder (DuckDB only).
-- TEMP: they live on the generating connection and are never stored in a warehouse.
-- Randomness is hash(seed, row, key): a pure function of its inputs, so every value is the
-- same whatever the thread count or the target. `key` separates the draws of one row.

-- A draw in 0 .. n-1.
CREATE OR REPLACE TEMP MACRO rnd(seed, i, k, n) AS CAST(hash(seed, i, k) % CAST(n AS UBIGINT) AS BIGINT);

-- One element of a list literal.
CREATE OR REPLACE TEMP MACRO pick(items, seed, i, k) AS items[rnd(seed, i, k, len(items)) + 1];

-- Money: integer cents to a DECIMAL with two places.
CREATE OR REPLACE TEMP MACRO cents(c) AS c * 0.01;

-- Time is handled as seconds since the epoch, all in UTC.
-- The demo span is 2024-01-01 00:00:00 UTC .. 2026-12-31 23:59:59 UTC (1096 days).
CREATE OR REPLACE TEMP MACRO span_start() AS CAST(epoch(TIMESTAMPTZ '2024-01-01 00:00:00+00') AS BIGINT);
CREATE OR REPLACE TEMP MACRO span_days() AS 1096;
CREATE OR REPLACE TEMP MACRO span_date(day) AS DATE '2024-01-01' + CAST(day AS INTEGER);
CREATE OR REPLACE TEMP MACRO instant(secs) AS make_timestamptz(CAST(secs AS BIGINT) * 1000000);
CREATE OR REPLACE TEMP MACRO utc_date(secs) AS DATE '1970-01-01' + CAST(secs // 86400 AS INTEGER);
CREATE OR REPLACE TEMP MACRO date_secs(d) AS CAST(d - DATE '1970-01-01' AS BIGINT) * 86400;
CREATE OR REPLACE TEMP MACRO month_start(m) AS CAST(date_add(DATE '2024-01-01', to_months(CAST(m AS INTEGER))) AS DATE);

-- The hours around the 2025 daylight-saving changes: Europe (01:00 UTC) and the US (06:00-08:00 UTC).
CREATE OR REPLACE TEMP MACRO dst_windows() AS [
    {'start': CAST(epoch(TIMESTAMPTZ '2025-03-30 00:30:00+00') AS BIGINT), 'length': 3600},
    {'start': CAST(epoch(TIMESTAMPTZ '2025-10-26 00:30:00+00') AS BIGINT), 'length': 3600},
    {'start': CAST(epoch(TIMESTAMPTZ '2025-03-09 06:00:00+00') AS BIGINT), 'length': 7200},
    {'start': CAST(epoch(TIMESTAMPTZ '2025-11-02 06:00:00+00') AS BIGINT), 'length': 7200}
];
CREATE OR REPLACE TEMP MACRO dst_secs(n, r) AS
    dst_windows()[n % 4 + 1].start + r % dst_windows()[n % 4 + 1].length;

-- An instant anywhere in the span; every 50th row (offset k) falls in a DST window instead.
CREATE OR REPLACE TEMP MACRO event_secs(seed, i, k) AS CASE
    WHEN i % 50 = k % 50 THEN dst_secs(i // 50, rnd(seed, i, k, 7200))
    ELSE span_start() + rnd(seed, i, k, span_days() * 86400)
END;

-- Exporter-breaking values go in a small, deterministic fraction of rows: in a table of n rows,
-- one row in odd_stride(n) per column (offset k), cycling through the lists below, so even a
-- few hundred rows hold each of them and a big table holds them in about 2 % of its rows.
CREATE OR REPLACE TEMP MACRO odd_stride(n) AS greatest(5, least(50, n // 45));
CREATE OR REPLACE TEMP MACRO is_odd(i, n, k) AS i % odd_stride(n) = k % odd_stride(n);
CREATE OR REPLACE TEMP MACRO odd_pick(items, i, n, k) AS items[(i // odd_stride(n) + k) % len(items) + 1];

-- Short enough for any name-like column (at most 40 characters).
CREATE OR REPLACE TEMP MACRO odd_names() AS [
    'Zoë',
    'José Núñez',
    'Müller-Lüdenscheidt',
    'Łukasz Żółć',
    'Zoe' || chr(776) || ' (combining diaeresis)',
    'Дмитрий Иванов',
    '山田 太郎',
    '王伟',
    '김민준',
    'محمد العلي',
    'דוד כהן',
    'Ana 🌟 Star',
    '👨‍👩‍👧 Family',
    'Smith, John',
    'The "Best" Shop',
    'O''Brien',
    '=SUM(A1:A9)',
    '+1 555 0100',
    '-discount',
    '@channel',
    '=HYPERLINK("http://example.com","x")',
    'Anne' || chr(10) || 'Marie',
    'Carriage' || chr(13) || chr(10) || 'Return',
    ' padded ',
    'Tab' || chr(9) || 'Separated',
    'NULL',
    '\N'
];

-- Free text: every odd name, and the longer troublemakers.
CREATE OR REPLACE TEMP MACRO odd_texts() AS list_concat(odd_names(), [
    '',
    'Comma, "quote" and' || chr(10) || 'a newline',
    'First line' || chr(13) || chr(10) || 'second line (CRLF)' || chr(13) || chr(10) || 'third',
    'Mixed scripts: Привет, 世界! 👋 مرحبا שלום — naïve café',
    'Long note: ' || repeat('The quick brown fox, "quoted", jumps over Zoë''s lazy dog. ', 200),
    'Long multi-line note:' || chr(10) || repeat('Line with, comma and "quotes"' || chr(10), 400),
    '<script>alert("x")</script>',
    'Backslashes C:\temp\new and \t',
    'Semicolon; separated; values',
    '+=1 formula-ish',
    '-- looks like SQL',
    '@SUM(1+1)*cmd|'' /C calc''!A0'
]);

CREATE OR REPLACE TEMP MACRO odd_phones() AS [
    '+1 555 0100',
    '=1+2',
    '-555 0100',
    '@555 0100',
    '(555) 010-0199 ext. 7',
    '+44 20 7946 0958',
    ''
];

CREATE OR REPLACE TEMP MACRO first_names() AS [
    'James', 'Mary', 'Liam', 'Olivia', 'Noah', 'Emma', 'Sophia', 'Lucas', 'Mia', 'Ethan',
    'Ava', 'Mateo', 'Isabella', 'Hiroshi', 'Yuki', 'Wei', 'Mei', 'Priya', 'Arjun', 'Fatima',
    'Omar', 'Lars', 'Ingrid', 'Pierre', 'Camille', 'Giulia', 'Marco', 'Sofía', 'Diego', 'Chloé',
    'Noé', 'Anna', 'Olga', 'Ivan', 'Aisha', 'Kwame', 'Amara', 'Sean', 'Niamh', 'Chen'
];

CREATE OR REPLACE TEMP MACRO last_names() AS [
    'Smith', 'Johnson', 'Williams', 'Brown', 'Garcia', 'Martinez', 'Rodriguez', 'Lopez', 'Müller', 'Schmidt',
    'Dubois', 'Martin', 'Rossi', 'Russo', 'Tanaka', 'Suzuki', 'Wang', 'Li', 'Kim', 'Park',
    'Patel', 'Singh', 'Khan', 'Ahmed', 'Nielsen', 'Jensen', 'Novak', 'Kowalski', 'Silva', 'Santos',
    'O''Connor', 'Murphy', 'Cohen', 'Levi', 'Okafor', 'Mensah', 'Ivanov', 'Petrov', 'Nguyen', 'Tran'
];

CREATE OR REPLACE TEMP MACRO departments() AS [
    'sales', 'operations', 'finance', 'marketing', 'engineering', 'hr', 'support', 'logistics'
];

CREATE OR REPLACE TEMP MACRO region_codes() AS ['NA', 'LATAM', 'EMEA', 'APAC'];

CREATE OR REPLACE TEMP MACRO region_currency(region) AS
    CASE region WHEN 'NA' THEN 'USD' WHEN 'LATAM' THEN 'BRL' WHEN 'EMEA' THEN 'EUR' ELSE 'SGD' END;

-- The 40 demo stores; customers live in these cities too.
CREATE OR REPLACE TEMP MACRO store_list() AS [
    {'name': 'Exportflow New York "Flagship"', 'city': 'New York', 'country': 'United States', 'region': 'NA', 'timezone': 'America/New_York', 'currency': 'USD', 'dial': '+1'},
    {'name': 'Exportflow Los Angeles', 'city': 'Los Angeles', 'country': 'United States', 'region': 'NA', 'timezone': 'America/Los_Angeles', 'currency': 'USD', 'dial': '+1'},
    {'name': 'Exportflow Chicago, Loop', 'city': 'Chicago', 'country': 'United States', 'region': 'NA', 'timezone': 'America/Chicago', 'currency': 'USD', 'dial': '+1'},
    {'name': 'Exportflow Denver', 'city': 'Denver', 'country': 'United States', 'region': 'NA', 'timezone': 'America/Denver', 'currency': 'USD', 'dial': '+1'},
    {'name': 'Exportflow Phoenix', 'city': 'Phoenix', 'country': 'United States', 'region': 'NA', 'timezone': 'America/Phoenix', 'currency': 'USD', 'dial': '+1'},
    {'name': 'Exportflow Honolulu', 'city': 'Honolulu', 'country': 'United States', 'region': 'NA', 'timezone': 'Pacific/Honolulu', 'currency': 'USD', 'dial': '+1'},
    {'name': 'Exportflow Toronto', 'city': 'Toronto', 'country': 'Canada', 'region': 'NA', 'timezone': 'America/Toronto', 'currency': 'CAD', 'dial': '+1'},
    {'name': 'Café Zoë, Montréal', 'city': 'Montréal', 'country': 'Canada', 'region': 'NA', 'timezone': 'America/Toronto', 'currency': 'CAD', 'dial': '+1'},
    {'name': 'Exportflow Vancouver', 'city': 'Vancouver', 'country': 'Canada', 'region': 'NA', 'timezone': 'America/Vancouver', 'currency': 'CAD', 'dial': '+1'},
    {'name': 'Exportflow São Paulo', 'city': 'São Paulo', 'country': 'Brasil', 'region': 'LATAM', 'timezone': 'America/Sao_Paulo', 'currency': 'BRL', 'dial': '+55'},
    {'name': 'Exportflow Rio de Janeiro', 'city': 'Rio de Janeiro', 'country': 'Brasil', 'region': 'LATAM', 'timezone': 'America/Sao_Paulo', 'currency': 'BRL', 'dial': '+55'},
    {'name': 'Exportflow Ciudad de México', 'city': 'Ciudad de México', 'country': 'México', 'region': 'LATAM', 'timezone': 'America/Mexico_City', 'currency': 'MXN', 'dial': '+52'},
    {'name': 'Exportflow Guadalajara', 'city': 'Guadalajara', 'country': 'México', 'region': 'LATAM', 'timezone': 'America/Mexico_City', 'currency': 'MXN', 'dial': '+52'},
    {'name': 'Exportflow Bogotá', 'city': 'Bogotá', 'country': 'Colombia', 'region': 'LATAM', 'timezone': 'America/Bogota', 'currency': 'COP', 'dial': '+57'},
    {'name': 'Exportflow Buenos Aires', 'city': 'Buenos Aires', 'country': 'Argentina', 'region': 'LATAM', 'timezone': 'America/Argentina/Buenos_Aires', 'currency': 'ARS', 'dial': '+54'},
    {'name': 'Exportflow Santiago', 'city': 'Santiago', 'country': 'Chile', 'region': 'LATAM', 'timezone': 'America/Santiago', 'currency': 'CLP', 'dial': '+56'},
    {'name': 'Exportflow Lima', 'city': 'Lima', 'country': 'Perú', 'region': 'LATAM', 'timezone': 'America/Lima', 'currency': 'PEN', 'dial': '+51'},
    {'name': 'Exportflow London', 'city': 'London', 'country': 'United Kingdom', 'region': 'EMEA', 'timezone': 'Europe/London', 'currency': 'GBP', 'dial': '+44'},
    {'name': 'Exportflow Paris', 'city': 'Paris', 'country': 'France', 'region': 'EMEA', 'timezone': 'Europe/Paris', 'currency': 'EUR', 'dial': '+33'},
    {'name': 'Exportflow Berlin', 'city': 'Berlin', 'country': 'Deutschland', 'region': 'EMEA', 'timezone': 'Europe/Berlin', 'currency': 'EUR', 'dial': '+49'},
    {'name': 'Exportflow München', 'city': 'München', 'country': 'Deutschland', 'region': 'EMEA', 'timezone': 'Europe/Berlin', 'currency': 'EUR', 'dial': '+49'},
    {'name': 'Exportflow Zürich', 'city': 'Zürich', 'country': 'Schweiz', 'region': 'EMEA', 'timezone': 'Europe/Zurich', 'currency': 'CHF', 'dial': '+41'},
    {'name': 'Exportflow Madrid', 'city': 'Madrid', 'country': 'España', 'region': 'EMEA', 'timezone': 'Europe/Madrid', 'currency': 'EUR', 'dial': '+34'},
    {'name': 'Exportflow Amsterdam', 'city': 'Amsterdam', 'country': 'Nederland', 'region': 'EMEA', 'timezone': 'Europe/Amsterdam', 'currency': 'EUR', 'dial': '+31'},
    {'name': 'Exportflow Kraków', 'city': 'Kraków', 'country': 'Polska', 'region': 'EMEA', 'timezone': 'Europe/Warsaw', 'currency': 'PLN', 'dial': '+48'},
    {'name': 'Exportflow Київ', 'city': 'Київ', 'country': 'Україна', 'region': 'EMEA', 'timezone': 'Europe/Kyiv', 'currency': 'UAH', 'dial': '+380'},
    {'name': 'Exportflow Reykjavík', 'city': 'Reykjavík', 'country': 'Ísland', 'region': 'EMEA', 'timezone': 'Atlantic/Reykjavik', 'currency': 'ISK', 'dial': '+354'},
    {'name': 'Exportflow Dubai', 'city': 'Dubai', 'country': 'United Arab Emirates', 'region': 'EMEA', 'timezone': 'Asia/Dubai', 'currency': 'AED', 'dial': '+971'},
    {'name': 'Exportflow תל אביב', 'city': 'תל אביב', 'country': 'Israel', 'region': 'EMEA', 'timezone': 'Asia/Jerusalem', 'currency': 'ILS', 'dial': '+972'},
    {'name': 'Exportflow القاهرة', 'city': 'القاهرة', 'country': 'مصر', 'region': 'EMEA', 'timezone': 'Africa/Cairo', 'currency': 'EGP', 'dial': '+20'},
    {'name': 'Exportflow Johannesburg', 'city': 'Johannesburg', 'country': 'South Africa', 'region': 'EMEA', 'timezone': 'Africa/Johannesburg', 'currency': 'ZAR', 'dial': '+27'},
    {'name': 'Exportflow 東京 渋谷', 'city': '東京', 'country': '日本', 'region': 'APAC', 'timezone': 'Asia/Tokyo', 'currency': 'JPY', 'dial': '+81'},
    {'name': 'Exportflow Osaka', 'city': 'Osaka', 'country': 'Japan', 'region': 'APAC', 'timezone': 'Asia/Tokyo', 'currency': 'JPY', 'dial': '+81'},
    {'name': 'Exportflow 서울', 'city': '서울', 'country': '대한민국', 'region': 'APAC', 'timezone': 'Asia/Seoul', 'currency': 'KRW', 'dial': '+82'},
    {'name': 'Exportflow 上海', 'city': '上海', 'country': '中国', 'region': 'APAC', 'timezone': 'Asia/Shanghai', 'currency': 'CNY', 'dial': '+86'},
    {'name': 'Exportflow Singapore', 'city': 'Singapore', 'country': 'Singapore', 'region': 'APAC', 'timezone': 'Asia/Singapore', 'currency': 'SGD', 'dial': '+65'},
    {'name': 'Exportflow Sydney', 'city': 'Sydney', 'country': 'Australia', 'region': 'APAC', 'timezone': 'Australia/Sydney', 'currency': 'AUD', 'dial': '+61'},
    {'name': 'Exportflow Adelaide', 'city': 'Adelaide', 'country': 'Australia', 'region': 'APAC', 'timezone': 'Australia/Adelaide', 'currency': 'AUD', 'dial': '+61'},
    {'name': 'Exportflow Auckland', 'city': 'Auckland', 'country': 'New Zealand', 'region': 'APAC', 'timezone': 'Pacific/Auckland', 'currency': 'NZD', 'dial': '+64'},
    {'name': 'Exportflow Kathmandu', 'city': 'Kathmandu', 'country': 'Nepal', 'region': 'APAC', 'timezone': 'Asia/Kathmandu', 'currency': 'NPR', 'dial': '+977'}
];
CREATE OR REPLACE TEMP MACRO store_info(store_id) AS store_list()[(store_id - 1) % len(store_list()) + 1];

-- Product and employee attributes that other tables repeat (sales prices, payroll salaries).
CREATE OR REPLACE TEMP MACRO categories() AS [
    'electronics', 'apparel', 'home', 'grocery', 'beauty', 'sports', 'toys', 'books'
];
CREATE OR REPLACE TEMP MACRO product_category(seed, product_id) AS pick(categories(), seed, product_id, 101);
CREATE OR REPLACE TEMP MACRO product_price_cents(seed, product_id) AS 199 + rnd(seed, product_id, 102, 49800);
CREATE OR REPLACE TEMP MACRO product_cost_cents(seed, product_id) AS
    product_price_cents(seed, product_id) * (35 + rnd(seed, product_id, 103, 41)) // 100;
CREATE OR REPLACE TEMP MACRO product_discontinued(seed, product_id) AS rnd(seed, product_id, 104, 100) < 5;
CREATE OR REPLACE TEMP MACRO employee_region(seed, employee_id) AS pick(region_codes(), seed, employee_id, 201);
-- Employment as day numbers in the span: hired by mid-2026; one in nine has left by the end.
CREATE OR REPLACE TEMP MACRO employee_hire_day(seed, employee_id) AS rnd(seed, employee_id, 203, 912);
CREATE OR REPLACE TEMP MACRO employee_terminated(employee_id) AS employee_id % 9 = 4;
CREATE OR REPLACE TEMP MACRO employee_last_day(seed, employee_id) AS CASE
    WHEN employee_terminated(employee_id)
        THEN employee_hire_day(seed, employee_id) + 30
            + rnd(seed, employee_id, 204, span_days() - 30 - employee_hire_day(seed, employee_id))
    ELSE span_days() - 1
END;
CREATE OR REPLACE TEMP MACRO span_month(day) AS datediff('month', DATE '2024-01-01', span_date(day));
CREATE OR REPLACE TEMP MACRO employee_salary_cents(seed, employee_id) AS
    3000000 + 500000 * rnd(seed, employee_id, 202, 31);
