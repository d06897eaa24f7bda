-- The first fill of task_usage_hourly, run once by migration 0010 on a database that already
-- has a rollup: every UTC hour of every bucket, from the raw rows, in one statement.
--
-- Purpose: the hourly rollup is exact from the moment it exists, without a second backfill.
-- Buckets the rollup has set aside get no hours (task_usage_daily holds none of them either). A
-- bucket with an hour whose sum is out of bigint's range gets none of its hours and is queued:
-- the next tick sets it aside (task_usage_daily_recompute_slices.v3.sql), and until then the
-- realtime read and verify take it as pending.
--
-- Why this is exact although the rollup may be behind the raw rows: a bucket the realtime read
-- takes as settled equals its raw rows, so its hours written here equal the hours its next
-- recompute would write; a pending one (queued, or with a row at or above the watermark less a
-- second) is recomputed, with its hours, by the next tick. The lock below waits for a tick or a
-- backfill slice under way, so this statement's snapshot is taken after it committed, and no
-- tick writes until this transaction commits (a tick does not wait: it returns 0).
--
-- Cost: one GROUP BY pass over task_usage, as a backfill's (about a quarter of a full backfill).
-- Locks: pg_advisory_xact_lock(1970434924, 1), to the end of the migration's transaction.
SELECT pg_advisory_xact_lock(1970434924, 1);

CREATE TEMPORARY TABLE task_usage_hourly_first_fill ON COMMIT DROP AS
SELECT h.*,
       greatest(h.input_tokens, h.output_tokens, h.cache_read_tokens,
                h.cache_write_tokens) <= 9223372036854775807
       AND least(h.input_tokens, h.output_tokens, h.cache_read_tokens,
                 h.cache_write_tokens) >= -9223372036854775808 AS fits
  FROM (SELECT task_usage_utc_day(tu.created_at) AS bucket_date,
               task_usage_utc_hour(tu.created_at) AS bucket_hour, a.workspace_id, t.runtime_id,
               tu.provider, tu.model,
               sum(tu.input_tokens) AS input_tokens, sum(tu.output_tokens) AS output_tokens,
               sum(tu.cache_read_tokens) AS cache_read_tokens,
               sum(tu.cache_write_tokens) AS cache_write_tokens, count(*) AS event_count
          FROM task_usage tu
          JOIN agent_task_queue t ON t.id = tu.task_id
          JOIN agent a ON a.id = t.agent_id
         WHERE t.runtime_id IS NOT NULL
         GROUP BY 1, 2, 3, 4, 5, 6) AS h
 WHERE NOT EXISTS (SELECT FROM task_usage_daily_set_aside x
                    WHERE (x.bucket_date, x.workspace_id, x.runtime_id, x.provider, x.model)
                        = (h.bucket_date, h.workspace_id, h.runtime_id, h.provider, h.model));

INSERT INTO task_usage_hourly (
    bucket_hour, workspace_id, runtime_id, provider, model,
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, event_count, updated_at
)
SELECT bucket_hour, workspace_id, runtime_id, provider, model,
       input_tokens::bigint, output_tokens::bigint, cache_read_tokens::bigint,
       cache_write_tokens::bigint, event_count, now()
  FROM task_usage_hourly_first_fill f
 WHERE NOT EXISTS (SELECT FROM task_usage_hourly_first_fill u
                    WHERE NOT u.fits
                      AND (u.bucket_date, u.workspace_id, u.runtime_id, u.provider, u.model)
                        = (f.bucket_date, f.workspace_id, f.runtime_id, f.provider, f.model));

SELECT task_usage_daily_enqueue(ARRAY(
    SELECT DISTINCT
           ROW(bucket_date, workspace_id, runtime_id, provider, model)::task_usage_bucket_key
      FROM task_usage_hourly_first_fill
     WHERE NOT fits));
