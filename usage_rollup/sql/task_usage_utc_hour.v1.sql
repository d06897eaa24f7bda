-- task_usage_utc_hour(timestamptz) -> timestamptz
--
-- Purpose: the hour bucket of a usage row: the start of its UTC hour, whatever the session's
-- TimeZone. date_trunc('hour', created_at) on a timestamptz would truncate in the session's
-- zone, which for a zone offset by 30 or 45 minutes (Asia/Kolkata, Asia/Kathmandu) is not a UTC
-- hour. The one home of the hourly grain of task_usage_hourly: every local day of a zone whose
-- offset is a whole number of hours is a run of these hours (queries.py reads it so).
-- Locks: none. Immutable.
CREATE OR REPLACE FUNCTION task_usage_utc_hour(p_at timestamptz)
RETURNS timestamptz
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
RETURN date_trunc('hour', p_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
