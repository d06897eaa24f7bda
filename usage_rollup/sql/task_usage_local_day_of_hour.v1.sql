-- task_usage_local_day_of_hour(timestamptz, text) -> date
--
-- Purpose: the local day, in an IANA time zone, of a whole UTC hour of task_usage_hourly
-- (task_usage_utc_hour.v1.sql) when every instant of the hour has that local day
-- (task_usage_local_day.v1.sql), and NULL when the hour straddles a local midnight (a zone offset
-- by 30 or 45 minutes, as Asia/Kolkata, or Australia/Lord_Howe in its standard time) or holds a
-- change of the zone's clock: for such an hour the reads take the scope's raw rows (queries.py).
-- An hour is whole when its last instant has the local day of its first and the local clock ran
-- exactly one hour (less a microsecond) between them; the local day is then the same at every
-- instant in between, since a local day only changes when the clock passes a midnight or jumps.
-- A change of a whole hour at a UTC hour (America/Los_Angeles) leaves every hour whole: the
-- clock jumps between two hours.
-- Locks: none. Immutable (as AT TIME ZONE, for the zone database the server has).
CREATE OR REPLACE FUNCTION task_usage_local_day_of_hour(p_hour timestamptz, p_zone text)
RETURNS date
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
RETURN CASE
           -- The hour's last instant is computed on the UTC wall clock (timestamp + interval is
           -- immutable; timestamptz + interval is not, and would keep the planner from inlining
           -- this body into the reads, a call per hour).
           WHEN ((((p_hour AT TIME ZONE 'UTC') + interval '59 minutes 59.999999 seconds')
                  AT TIME ZONE 'UTC') AT TIME ZONE p_zone)
                - (p_hour AT TIME ZONE p_zone) = interval '59 minutes 59.999999 seconds'
            AND task_usage_local_day(((p_hour AT TIME ZONE 'UTC')
                                      + interval '59 minutes 59.999999 seconds') AT TIME ZONE 'UTC',
                                     p_zone)
                = task_usage_local_day(p_hour, p_zone)
           THEN task_usage_local_day(p_hour, p_zone)
       END;
