-- task_usage_utc_day(timestamptz) -> date
--
-- Purpose: the bucket day of a usage row: its UTC calendar day, whatever the session's TimeZone
-- (DATE(created_at) would follow the session). The planner inlines this body, so a query written
-- with it uses the task_usage_day_model_idx index, whose expression is the same.
-- Locks: none. Immutable.
CREATE OR REPLACE FUNCTION task_usage_utc_day(p_at timestamptz)
RETURNS date
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
RETURN (p_at AT TIME ZONE 'UTC')::date;
