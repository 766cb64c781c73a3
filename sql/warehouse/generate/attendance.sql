-- attendance: one row per employee work day, within the employment; work_date is the UTC date
-- of clock_in_at.
-- Days off (absent, sick_leave, vacation) have no clock times and zero hours; a few
-- shifts were never clocked out. Every 50th row clocks in during a DST change (when the
-- employee was employed then).
-- Columns: attendance_id, employee_id, work_date, clock_in_at, clock_out_at, hours_worked,
--   overtime_hours, attendance_status, notes.
-- Parameters: seed, attendance, employees.
WITH base AS (
    SELECT
        range AS attendance_id,
        1 + rnd($seed, range, 1, $employees) AS employee_id,
        employee_hire_day($seed, employee_id) AS hire_day,
        rnd($seed, range, 2, 100) AS status_roll,
        CASE
            WHEN status_roll < 70 THEN 'present'
            WHEN status_roll < 82 THEN 'remote'
            WHEN status_roll < 90 THEN 'late'
            WHEN status_roll < 93 THEN 'absent'
            WHEN status_roll < 97 THEN 'sick_leave'
            ELSE 'vacation'
        END AS attendance_status,
        240 + 15 * rnd($seed, range, 3, 29) AS worked_minutes
    FROM range(1, $attendance + 1)
), timed AS (
    SELECT
        *,
        attendance_status IN ('present', 'remote', 'late') AS worked,
        worked AND attendance_id % 31 <> 5 AS clocked_out,
        employee_last_day($seed, employee_id) AS last_day,
        dst_secs(attendance_id // 50, rnd($seed, attendance_id, 4, 7200)) AS dst_clock_in_secs,
        CASE
            WHEN attendance_id % 50 = 7
                AND (dst_clock_in_secs - span_start()) // 86400 BETWEEN hire_day AND last_day
                THEN dst_clock_in_secs
            ELSE span_start()
                + (hire_day + rnd($seed, attendance_id, 5, last_day - hire_day + 1)) * 86400
                + CASE attendance_status
                    WHEN 'late' THEN 34200 + rnd($seed, attendance_id, 6, 5400)
                    ELSE 21600 + rnd($seed, attendance_id, 6, 14400)
                END
        END AS clock_in_secs
    FROM base
)
SELECT
    attendance_id,
    employee_id,
    utc_date(clock_in_secs) AS work_date,
    CASE WHEN worked THEN instant(clock_in_secs) END AS clock_in_at,
    CASE WHEN clocked_out THEN instant(clock_in_secs + worked_minutes * 60 + 1800) END AS clock_out_at,
    cents(CASE WHEN clocked_out THEN worked_minutes * 5 // 3 ELSE 0 END) AS hours_worked,
    cents(CASE WHEN clocked_out THEN greatest(0, worked_minutes - 480) * 5 // 3 ELSE 0 END) AS overtime_hours,
    attendance_status,
    CASE
        WHEN is_odd(attendance_id, $attendance, 1) THEN odd_pick(odd_texts(), attendance_id, $attendance, 1)
        WHEN NOT clocked_out AND worked THEN 'Forgot to clock out'
        WHEN rnd($seed, attendance_id, 7, 10) < 8 THEN NULL
        ELSE pick(['Doctor''s appointment', 'Train delayed, "again"', 'Worked from the Berlin office',
                   'Covered a colleague''s shift'], $seed, attendance_id, 8)
    END AS notes
FROM timed
