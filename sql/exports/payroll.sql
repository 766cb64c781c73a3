-- Export type payroll: one row per payslip, with the name and department of the employee and
-- the effective tax rate on gross pay plus bonus (percent points, NULL when both are zero).
-- Columns:
--   payroll_id, employee_id, employee_name, department, job_title, pay_period_start,
--   pay_period_end, pay_date, gross_pay, bonus, tax_withheld, deductions, net_pay,
--   effective_tax_rate_percent, currency, payment_method, payroll_status
-- Parameters: none. The query builder selects from this query as a subquery and binds
-- every filter value itself, so this file holds no placeholders.
SELECT
    pr.payroll_id,
    pr.employee_id,
    CASE WHEN e.employee_id IS NOT NULL THEN CONCAT_WS(' ', e.first_name, e.last_name) END AS employee_name,
    e.department,
    e.job_title,
    pr.pay_period_start,
    pr.pay_period_end,
    pr.pay_date,
    pr.gross_pay,
    pr.bonus,
    pr.tax_withheld,
    pr.deductions,
    pr.net_pay,
    CAST(
        CAST(pr.tax_withheld AS DECIMAL(18, 4)) * 100 / NULLIF(pr.gross_pay + pr.bonus, 0)
        AS DECIMAL(18, 2)
    ) AS effective_tax_rate_percent,
    pr.currency,
    pr.payment_method,
    pr.payroll_status
FROM payroll AS pr
LEFT JOIN employees AS e ON e.employee_id = pr.employee_id
