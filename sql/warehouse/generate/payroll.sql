-- payroll: monthly pay slips, consecutive months of each employee's employment from a random one.
-- gross_pay is a twelfth of the employee's salary; net_pay = gross + bonus - tax - deductions.
-- Columns: payroll_id, employee_id, pay_period_start, pay_period_end, pay_date, gross_pay, bonus,
--   tax_withheld, deductions, net_pay, currency, payment_method, payroll_status.
-- Parameters: seed, payroll, employees.
WITH base AS (
    SELECT
        range AS payroll_id,
        1 + (range - 1) % $employees AS employee_id,
        (range - 1) // $employees AS slip_number
    FROM range(1, $payroll + 1)
), paid AS (
    SELECT
        *,
        span_month(employee_last_day($seed, employee_id))
            - span_month(employee_hire_day($seed, employee_id)) + 1 AS employed_months,
        month_start(span_month(employee_hire_day($seed, employee_id))
            + (slip_number + rnd($seed, employee_id, 1, 36)) % employed_months) AS period_start,
        employee_salary_cents($seed, employee_id) // 12 AS gross_cents,
        CASE WHEN rnd($seed, payroll_id, 2, 10) = 0 THEN 10000 * (1 + rnd($seed, payroll_id, 3, 20)) ELSE 0 END
            AS bonus_cents,
        15 + rnd($seed, payroll_id, 4, 21) AS tax_percent,
        rnd($seed, payroll_id, 5, 40000) AS deduction_cents,
        rnd($seed, payroll_id, 7, 100) AS method_roll,
        rnd($seed, payroll_id, 8, 100) AS status_roll
    FROM base
)
SELECT
    payroll_id,
    employee_id,
    period_start AS pay_period_start,
    last_day(period_start) AS pay_period_end,
    last_day(period_start) - CAST(rnd($seed, payroll_id, 6, 3) AS INTEGER) AS pay_date,
    cents(gross_cents) AS gross_pay,
    cents(bonus_cents) AS bonus,
    cents((gross_cents + bonus_cents) * tax_percent // 100) AS tax_withheld,
    cents(deduction_cents) AS deductions,
    cents(gross_cents + bonus_cents - (gross_cents + bonus_cents) * tax_percent // 100 - deduction_cents)
        AS net_pay,
    region_currency(employee_region($seed, employee_id)) AS currency,
    CASE
        WHEN method_roll < 90 THEN 'bank_transfer'
        WHEN method_roll < 97 THEN 'check'
        ELSE 'cash'
    END AS payment_method,
    CASE
        WHEN status_roll < 94 THEN 'paid'
        WHEN status_roll < 98 THEN 'pending'
        ELSE 'reversed'
    END AS payroll_status
FROM paid
