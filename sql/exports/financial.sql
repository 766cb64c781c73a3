-- Export type financial: one row per general-ledger entry, with its fiscal year and
-- quarter (calendar based).
-- Columns:
--   entry_id, entry_date, fiscal_year, fiscal_quarter, posted_at, account_code,
--   account_name, account_category, department, region, description, debit, credit,
--   amount, currency, reference, is_reconciled
-- Parameters: none. The query builder selects from this query as a subquery and binds
-- every filter value itself, so this file holds no placeholders.
SELECT
    l.entry_id,
    l.entry_date,
    CAST(EXTRACT(YEAR FROM l.entry_date) AS INTEGER) AS fiscal_year,
    CAST(EXTRACT(QUARTER FROM l.entry_date) AS INTEGER) AS fiscal_quarter,
    l.posted_at,
    l.account_code,
    l.account_name,
    l.account_category,
    l.department,
    l.region,
    l.description,
    l.debit,
    l.credit,
    l.amount,
    l.currency,
    l.reference,
    l.is_reconciled
FROM ledger_entries AS l
