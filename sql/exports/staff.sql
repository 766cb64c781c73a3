-- Export type staff: one row per employee, with the name of their manager.
-- Columns:
--   employee_id, full_name, first_name, last_name, email, phone, department, job_title,
--   region, hire_date, termination_date, employment_type, manager_id, manager_name,
--   annual_salary, is_active, notes
-- Parameters: none. The query builder selects from this query as a subquery and binds
-- every filter value itself, so this file holds no placeholders.
SELECT
    e.employee_id,
    CONCAT_WS(' ', e.first_name, e.last_name) AS full_name,
    e.first_name,
    e.last_name,
    e.email,
    e.phone,
    e.department,
    e.job_title,
    e.region,
    e.hire_date,
    e.termination_date,
    e.employment_type,
    e.manager_id,
    CASE WHEN m.employee_id IS NOT NULL THEN CONCAT_WS(' ', m.first_name, m.last_name) END AS manager_name,
    e.annual_salary,
    e.is_active,
    e.notes
FROM employees AS e
LEFT JOIN employees AS m ON m.employee_id = e.manager_id
