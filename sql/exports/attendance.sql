-- Export type attendance: one row per employee and work day, with the name, department
-- and region of the employee.
-- Columns:
--   attendance_id, work_date, employee_id, employee_name, department, region,
--   clock_in_at, clock_out_at, hours_worked, overtime_hours, attendance_status, notes
-- Parameters: none. The query builder selects from this query as a subquery and binds
-- every filter value itself, so this file holds no placeholders.
SELECT
    a.attendance_id,
    a.work_date,
    a.employee_id,
    CASE WHEN e.employee_id IS NOT NULL THEN CONCAT_WS(' ', e.first_name, e.last_name) END AS employee_name,
    e.department,
    e.region,
    a.clock_in_at,
    a.clock_out_at,
    a.hours_worked,
    a.overtime_hours,
    a.attendance_status,
    a.notes
FROM attendance AS a
LEFT JOIN employees AS e ON e.employee_id = a.employee_id
