-- employees: staff; manager_id points at an earlier employee (NULL for the top of the tree).
-- is_active is "not terminated"; employment, salary and region come from macros that
-- attendance and payroll reuse.
-- Columns: employee_id, first_name, last_name, email, phone, department, job_title, region,
--   hire_date, termination_date, employment_type, manager_id, annual_salary, is_active, notes.
-- Parameters: seed, employees.
WITH base AS (
    SELECT
        range AS employee_id,
        pick(first_names(), $seed, range, 1) AS first,
        pick(last_names(), $seed, range, 2) AS last,
        rnd($seed, range, 3, 8) AS department_index,
        rnd($seed, range, 5, 100) AS type_roll
    FROM range(1, $employees + 1)
)
SELECT
    employee_id,
    CASE WHEN is_odd(employee_id, $employees, 1) THEN odd_pick(odd_names(), employee_id, $employees, 1) ELSE first END
        AS first_name,
    CASE WHEN is_odd(employee_id, $employees, 2) THEN odd_pick(odd_names(), employee_id, $employees, 2) ELSE last END
        AS last_name,
    replace(lower(strip_accents(first || '.' || last)), ' ', '') || employee_id || '@exportflow.example'
        AS email,
    CASE
        WHEN employee_id % 7 = 3 THEN NULL
        WHEN is_odd(employee_id, $employees, 3) THEN odd_pick(odd_phones(), employee_id, $employees, 3)
        ELSE '+1 555 ' || lpad(CAST(rnd($seed, employee_id, 6, 10000) AS VARCHAR), 4, '0')
    END AS phone,
    departments()[department_index + 1] AS department,
    pick([
        ['Account Executive', 'Sales Manager', 'Sales Associate, Retail'],
        ['Operations Analyst', 'Store Manager', 'Shift Supervisor'],
        ['Accountant', 'Financial Controller', 'Payroll Specialist'],
        ['Marketing Manager', 'Content Strategist', 'SEO/SEM Specialist'],
        ['Software Engineer', 'Data Engineer', 'Site Reliability Engineer'],
        ['HR Generalist', 'Recruiter', 'People Partner'],
        ['Support Agent', 'Support Team Lead', 'Customer Success Manager'],
        ['Warehouse Associate', 'Logistics Coordinator', 'Fleet Manager']
    ][department_index + 1], $seed, employee_id, 7) AS job_title,
    employee_region($seed, employee_id) AS region,
    span_date(employee_hire_day($seed, employee_id)) AS hire_date,
    CASE WHEN employee_terminated(employee_id) THEN span_date(employee_last_day($seed, employee_id)) END
        AS termination_date,
    CASE
        WHEN type_roll < 75 THEN 'full_time'
        WHEN type_roll < 88 THEN 'part_time'
        WHEN type_roll < 96 THEN 'contractor'
        ELSE 'intern'
    END AS employment_type,
    CASE
        WHEN employee_id = 1 THEN NULL
        ELSE 1 + rnd($seed, employee_id, 9, least(employee_id - 1, greatest(1, $employees // 10)))
    END AS manager_id,
    cents(employee_salary_cents($seed, employee_id)) AS annual_salary,
    NOT employee_terminated(employee_id) AS is_active,
    CASE
        WHEN is_odd(employee_id, $employees, 4) THEN odd_pick(odd_texts(), employee_id, $employees, 4)
        WHEN rnd($seed, employee_id, 10, 10) < 6 THEN NULL
        ELSE pick(['Remote since 2025', 'Certified forklift operator', 'On parental leave until Q3',
                   'Speaks English, Español and Français'], $seed, employee_id, 11)
    END AS notes
FROM base
