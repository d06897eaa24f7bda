-- task_usage_local_day(timestamptz, text) -> date
--
-- Purpose: the local calendar day of an instant in an IANA time zone: the day a raw row counts
-- in for a viewer in that zone (issue 13), (created_at AT TIME ZONE zone)::date. An unknown zone
-- is an error (invalid_parameter_value), never a guess.
-- Locks: none. Immutable (as AT TIME ZONE, for the zone database the server has).
CREATE OR REPLACE FUNCTION task_usage_local_day(p_at timestamptz, p_zone text)
RETURNS date
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
RETURN (p_at AT TIME ZONE p_zone)::date;
