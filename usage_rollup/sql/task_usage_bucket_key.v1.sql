-- task_usage_bucket_key: the five columns that name a bucket, as one composite type.
--
-- Purpose: the invalidation triggers hand their buckets to task_usage_daily_enqueue() as an array
-- of these, so the rule for adding to the queue (task_usage_daily_enqueue.v1.sql) has one home.
-- Locks: none.
CREATE TYPE task_usage_bucket_key AS (
    bucket_date date,
    workspace_id uuid,
    runtime_id uuid,
    provider text,
    model text
);
