-- task_usage_local_day_parts(date[], text)
--     -> TABLE (bucket_date, first_quarter, end_quarter, local_date)
--
-- Purpose: how each UTC day of p_days divides among the local days of the IANA zone p_zone, in
-- its quarter hours (task_usage_utc_quarter.v1.sql): each row is a run of quarters
-- [first_quarter, end_quarter) of bucket_date in which every instant has the local day
-- local_date, as task_usage_local_day.v1.sql counts a raw row; local_date is NULL for a run whose
-- quarters do not lie in one local day, an edge, whose raw rows the zoned reads count one by one
-- (queries.py). The runs cover the day's 96 quarters once. A daily bucket's usage in a run is
-- then the difference of two of its running sums in task_usage_daily_quarters.
--
-- A day whose offset from UTC is the same at its first and its last instant is steady: at most one
-- local midnight falls in it, at the quarter the offset gives, or inside a quarter (an offset that
-- is not a whole number of quarter hours, as Liberia's -0:44:30 until 1972 and so before any row
-- task_usage may hold), which is then an edge. A day whose offset differs at its ends holds a
-- change of the zone's clock: each of its quarters is weighed alone (its local day at its first
-- and last instant, and whether the local clock ran a quarter hour between them), and the quarters
-- that lie in one local day are joined into runs. That a change of clock shows in the offsets at
-- the day's ends holds for the zone database: no zone changes its clock twice in one UTC day
-- (checked for the 600 zones of the tzdata the tests run with, docs/design.md).
--
-- Cost: four AT TIME ZONE per day; 192 more for a day with a change of clock (one or two days a
-- year in zones with daylight saving time), weighed by a second statement that runs only when
-- there is one. PL/pgSQL, so that the reads that call it plan a function scan, not this body
-- (inlined, it cost them 4 ms of planning), and its own plans are kept for the session.
-- Locks: none. Immutable (as AT TIME ZONE, for the zone database the server has).
CREATE OR REPLACE FUNCTION task_usage_local_day_parts(p_days date[], p_zone text)
RETURNS TABLE (bucket_date date, first_quarter smallint, end_quarter smallint, local_date date)
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
ROWS 64
-- Its statements read only its arguments: one plan each for the session. PL/pgSQL's default
-- plans the first five calls anew (1-2 ms each, as much as the rest of a zoned read).
SET plan_cache_mode = force_generic_plan
AS $$
-- The output columns share names with the query's; the query means its own.
#variable_conflict use_column
DECLARE
    v_changing date[];
BEGIN
    -- The steady days' runs: the local day of the day's first instant up to the local midnight,
    -- 'midnight' quarters from the start (fractional when the midnight falls inside a quarter,
    -- which is then an edge; 96 when the whole day lies in one local day, an offset of zero),
    -- and the local day of its last instant after it.
    RETURN QUERY
    SELECT d.day, r.first_quarter::smallint, r.end_quarter::smallint, r.local_date
      FROM unnest(p_days) AS d (day)
     -- Each day's first and last instants on the UTC wall clock (timestamp arithmetic is
     -- immutable; timestamptz + interval is not), and the zone's offset at each.
     CROSS JOIN LATERAL (
           SELECT d.day::timestamp AS first_instant,
                  d.day::timestamp + interval '1 day' - interval '1 microsecond' AS last_instant
           ) AS i
     -- OFFSET 0: computed once a day, not again at each of the many places that name them.
     CROSS JOIN LATERAL (
           SELECT ((i.first_instant AT TIME ZONE 'UTC') AT TIME ZONE p_zone) - i.first_instant
                  AS at_first,
                  ((i.last_instant AT TIME ZONE 'UTC') AT TIME ZONE p_zone) - i.last_instant
                  AS at_last
           OFFSET 0) AS o
     CROSS JOIN LATERAL (
           SELECT (i.first_instant + o.at_first)::date AS first_date,
                  (i.last_instant + o.at_first)::date AS last_date
           ) AS l
     CROSS JOIN LATERAL (
           SELECT CASE WHEN l.first_date = l.last_date THEN 96
                       ELSE date_part('epoch', l.last_date::timestamp - o.at_first
                                               - i.first_instant) / 900
                  END AS midnight
           OFFSET 0) AS m
     -- Three runs a day, the empty ones dropped: before the midnight, the quarter it falls
     -- inside, after it. (A join with constant rows, not a LATERAL VALUES list, whose
     -- expressions would be set up again for every day: 85% of this function's time.)
     CROSS JOIN (VALUES (1), (2), (3)) AS p (part)
     CROSS JOIN LATERAL (
           SELECT CASE p.part WHEN 1 THEN 0
                              WHEN 2 THEN floor(m.midnight)
                              ELSE ceil(m.midnight) END AS first_quarter,
                  CASE p.part WHEN 1 THEN floor(m.midnight)
                              WHEN 2 THEN ceil(m.midnight)
                              ELSE 96 END AS end_quarter,
                  CASE p.part WHEN 1 THEN l.first_date
                              WHEN 3 THEN l.last_date END AS local_date
           ) AS r
     WHERE o.at_first = o.at_last
       AND r.first_quarter < r.end_quarter;

    SELECT array_agg(d.day) INTO v_changing
      FROM unnest(p_days) AS d (day)
     CROSS JOIN LATERAL (
           SELECT d.day::timestamp + interval '1 day' - interval '1 microsecond' AS last_instant
           ) AS i
     WHERE ((d.day::timestamp AT TIME ZONE 'UTC') AT TIME ZONE p_zone) - d.day::timestamp
           <> ((i.last_instant AT TIME ZONE 'UTC') AT TIME ZONE p_zone) - i.last_instant;
    IF v_changing IS NULL THEN
        RETURN;
    END IF;

    -- The days with a change of clock: each quarter's local day, NULL for a quarter that does
    -- not lie in one (its local day differs at its first and last instant, or its local clock
    -- did not run a quarter hour between them); consecutive quarters of one local day, or
    -- consecutive edges, form one run: within a run, quarter minus its rank among its local
    -- day's quarters is constant.
    RETURN QUERY
    SELECT c.day, min(c.quarter)::smallint, (max(c.quarter) + 1)::smallint, c.local_date
      FROM (SELECT q.day, q.quarter, q.local_date,
                   q.quarter - row_number() OVER (PARTITION BY q.day, q.local_date
                                                  ORDER BY q.quarter) AS run
              FROM (SELECT d.day, n.quarter,
                           CASE WHEN l.at_last - l.at_first
                                     = interval '14 minutes 59.999999 seconds'
                                 AND l.at_first::date = l.at_last::date
                                THEN l.at_first::date
                           END AS local_date
                      FROM unnest(v_changing) AS d (day)
                     CROSS JOIN generate_series(0, 95) AS n (quarter)
                     CROSS JOIN LATERAL (
                           SELECT ((d.day::timestamp + n.quarter * interval '15 minutes')
                                   AT TIME ZONE 'UTC') AT TIME ZONE p_zone AS at_first,
                                  ((d.day::timestamp + n.quarter * interval '15 minutes'
                                    + interval '14 minutes 59.999999 seconds')
                                   AT TIME ZONE 'UTC') AT TIME ZONE p_zone AS at_last
                           OFFSET 0) AS l) AS q) AS c
     GROUP BY c.day, c.local_date, c.run;
END;
$$;
