-- task_usage_daily_enqueue(p_buckets task_usage_bucket_key[]) -> void
--
-- Purpose: the one way into the dirty queue. Each bucket is queued once: a bucket that a
-- committed queue row already names is not added again, so the queue's size follows the
-- distinct dirty buckets, not the number of changes (sixty moves of one agent queue its buckets
-- once, not sixty times).
--
-- Why it is safe to add nothing: the caller's change is not committed yet, so the row it relies
-- on must not be drained before it commits. It is locked FOR SHARE here, to the end of the
-- caller's transaction; the drain takes rows FOR UPDATE SKIP LOCKED and so leaves it for a
-- later tick, whose recompute then sees the change. A row that a drain has locked is skipped
-- here too (SKIP LOCKED) and the bucket added anew: that tick cannot see our change, and our
-- own row stays for the next one. So a writer never waits for a tick, nor for another writer
-- (FOR SHARE locks do not conflict, and the table has no unique index: two writers that find no
-- row both add one, and the tick drains both).
--
-- Locks: FOR SHARE SKIP LOCKED on the queue rows it relies on. SECURITY DEFINER, so the roles that write
-- usage need no privileges on the rollup's tables.
CREATE OR REPLACE FUNCTION task_usage_daily_enqueue(p_buckets task_usage_bucket_key[])
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
-- Called once per row of a cascade (10,000 times for an issue of 10,000 tasks): plan once per
-- session, since planning each call cost three times the work (208 against 71 microseconds a
-- call, measured), and always probe the bucket index, which a plan made while the statistics
-- still said the queue was empty would not.
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
DECLARE
    v_held task_usage_bucket_key[];
BEGIN
    -- Every committed row that already names one of the buckets is locked (array_agg reads them
    -- all); only buckets without such a row are added. One statement would not do: a row
    -- committed between two statements would be relied on without a lock.
    SELECT array_agg(held.k)
      INTO v_held
      FROM (SELECT ROW(d.bucket_date, d.workspace_id, d.runtime_id, d.provider, d.model)
                       ::task_usage_bucket_key AS k
              FROM task_usage_daily_dirty d
             WHERE (d.bucket_date, d.workspace_id, d.runtime_id, d.provider, d.model)
                   IN (SELECT b.bucket_date, b.workspace_id, b.runtime_id, b.provider, b.model
                         FROM unnest(p_buckets) AS b)
               FOR SHARE OF d SKIP LOCKED) AS held;

    INSERT INTO task_usage_daily_dirty (bucket_date, workspace_id, runtime_id, provider, model)
    SELECT (k).bucket_date, (k).workspace_id, (k).runtime_id, (k).provider, (k).model
      FROM (SELECT b AS k FROM unnest(p_buckets) AS b
            EXCEPT
            SELECT h FROM unnest(v_held) AS h) AS missing;
END;
$$;
