-- task_usage_utc_quarter(timestamptz) -> smallint
--
-- Purpose: the quarter hour of its UTC day a usage row falls in, 0 (00:00-00:14) to 95
-- (23:45-23:59), whatever the session's TimeZone: the grain of task_usage_daily_quarters, which
-- keeps each daily bucket's running sums by quarter hour. Every offset of every IANA zone in use
-- since the 1980s is a whole number of quarter hours (India +5:30, Nepal +5:45, the Chatham
-- Islands +12:45), and so is every change of a zone's clock: each local midnight is the start of
-- one of these quarters, and any local day is a difference of two running sums
-- (task_usage_local_day_parts.v1.sql). The one home of that grain.
-- Locks: none. Immutable.
CREATE OR REPLACE FUNCTION task_usage_utc_quarter(p_at timestamptz)
RETURNS smallint
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
-- date_part (double precision), not extract (numeric): this runs once per raw row of a recompute.
RETURN (date_part('hour', p_at AT TIME ZONE 'UTC') * 4
        + floor(date_part('minute', p_at AT TIME ZONE 'UTC') / 15))::smallint;
