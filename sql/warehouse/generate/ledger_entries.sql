-- ledger_entries: general-ledger lines; amount = debit - credit, so credits are negative.
-- entry_date is the UTC date of posted_at (which has microseconds).
-- Columns: entry_id, entry_date, posted_at, account_code, account_name, account_category,
--   department, region, description, debit, credit, amount, currency, reference, is_reconciled.
-- Parameters: seed, ledger_entries.
WITH base AS (
    SELECT
        range AS entry_id,
        event_secs($seed, range, 41) AS posted_secs,
        pick([
            {'code': '1000', 'name': 'Cash', 'category': 'asset'},
            {'code': '1100', 'name': 'Accounts Receivable', 'category': 'asset'},
            {'code': '1200', 'name': 'Inventory', 'category': 'asset'},
            {'code': '1500', 'name': 'Equipment', 'category': 'asset'},
            {'code': '2000', 'name': 'Accounts Payable', 'category': 'liability'},
            {'code': '2100', 'name': 'Accrued Liabilities', 'category': 'liability'},
            {'code': '2200', 'name': 'Sales Tax Payable', 'category': 'liability'},
            {'code': '2500', 'name': 'Long-term Debt', 'category': 'liability'},
            {'code': '3000', 'name': 'Common Stock', 'category': 'equity'},
            {'code': '3100', 'name': 'Retained Earnings', 'category': 'equity'},
            {'code': '4000', 'name': 'Product Revenue', 'category': 'revenue'},
            {'code': '4100', 'name': 'Service Revenue', 'category': 'revenue'},
            {'code': '4200', 'name': 'Sales Returns & Allowances', 'category': 'revenue'},
            {'code': '5000', 'name': 'Cost of Goods Sold', 'category': 'expense'},
            {'code': '6000', 'name': 'Salaries & Wages', 'category': 'expense'},
            {'code': '6100', 'name': 'Rent', 'category': 'expense'},
            {'code': '6200', 'name': 'Utilities', 'category': 'expense'},
            {'code': '6300', 'name': 'Marketing & Advertising', 'category': 'expense'},
            {'code': '6400', 'name': 'Travel, Meals & Entertainment', 'category': 'expense'},
            {'code': '6500', 'name': 'Software "SaaS" Subscriptions', 'category': 'expense'}
        ], $seed, range, 2) AS account,
        pick(region_codes(), $seed, range, 3) AS region,
        100 + rnd($seed, range, 4, 2237) * rnd($seed, range, 5, 2237) AS amount_cents,
        rnd($seed, range, 6, 2) = 0 AS is_debit
    FROM range(1, $ledger_entries + 1)
)
SELECT
    entry_id,
    utc_date(posted_secs) AS entry_date,
    make_timestamptz(posted_secs * 1000000 + rnd($seed, entry_id, 7, 1000000)) AS posted_at,
    account.code AS account_code,
    account.name AS account_name,
    account.category AS account_category,
    pick(departments(), $seed, entry_id, 8) AS department,
    region,
    CASE
        WHEN is_odd(entry_id, $ledger_entries, 1) THEN odd_pick(odd_texts(), entry_id, $ledger_entries, 1)
        WHEN entry_id % 10 = 3 THEN NULL
        ELSE pick(['Monthly accrual', 'Customer payment received', 'Supplier invoice, net 30',
                   'Payroll run', 'Quarter-end adjustment', 'Bank fee', 'Depreciation',
                   'Reversal of "duplicate" posting'], $seed, entry_id, 9)
    END AS description,
    cents(CASE WHEN is_debit THEN amount_cents ELSE 0 END) AS debit,
    cents(CASE WHEN is_debit THEN 0 ELSE amount_cents END) AS credit,
    cents(CASE WHEN is_debit THEN amount_cents ELSE -amount_cents END) AS amount,
    region_currency(region) AS currency,
    CASE
        WHEN entry_id % 6 = 2 THEN NULL
        WHEN is_odd(entry_id, $ledger_entries, 2) THEN odd_pick(odd_names(), entry_id, $ledger_entries, 2)
        ELSE 'JE-' || year(utc_date(posted_secs)) || '-' || lpad(CAST(entry_id AS VARCHAR), 8, '0')
    END AS reference,
    rnd($seed, entry_id, 10, 100) < 80 AS is_reconciled
FROM base
