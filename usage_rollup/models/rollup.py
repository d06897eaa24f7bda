"""The rollup's own tables. Only the SQL functions in `usage_rollup/sql/` write them."""

from django.contrib.postgres.fields import ArrayField
from django.db import models

from usage_rollup.models.expressions import TransactionNow

BUCKET_KEY = ("bucket_date", "workspace_id", "runtime_id", "provider", "model")
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


class BucketKey(models.Model):
    """The five columns that name a bucket: UTC day, agent's workspace, runtime, provider, model.

    workspace_id and runtime_id are plain uuids, not foreign keys: a bucket of a deleted runtime
    lives on until the next tick removes it, and must not be cascaded or locked by the source.
    """

    bucket_date = models.DateField()
    workspace_id = models.UUIDField()
    runtime_id = models.UUIDField()
    provider = models.TextField()
    model = models.TextField()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.bucket_date} {self.provider}/{self.model} on runtime {self.runtime_id}"


class TaskUsageDaily(BucketKey):
    input_tokens = models.BigIntegerField()
    output_tokens = models.BigIntegerField()
    cache_read_tokens = models.BigIntegerField()
    cache_write_tokens = models.BigIntegerField()
    event_count = models.BigIntegerField()
    updated_at = models.DateTimeField(db_default=TransactionNow())

    class Meta:
        db_table = "task_usage_daily"
        verbose_name = "daily usage bucket"
        constraints = [
            models.UniqueConstraint(fields=BUCKET_KEY, name="task_usage_daily_bucket_key"),
        ]
        indexes = [
            models.Index(fields=["runtime_id", "-bucket_date"], name="usage_daily_runtime_idx"),
            models.Index(fields=["workspace_id", "-bucket_date"], name="usage_daily_workspace_idx"),
            # The reads' (queries.py, migration 0008): a scope's buckets of a period in the order
            # the read returns them, with the sums it adds up, so that the read is an index-only
            # scan of the period's entries and a streaming aggregate: no sort, no heap page.
            models.Index(
                fields=["runtime_id", "-bucket_date", "provider", "model"],
                include=TOKEN_FIELDS,
                name="usage_daily_runtime_read_idx",
            ),
            models.Index(
                fields=["workspace_id", "-bucket_date", "provider", "model"],
                include=TOKEN_FIELDS,
                name="usage_daily_workspace_read_idx",
            ),
        ]


class TaskUsageDailyQuarters(BucketKey):
    """A daily bucket's usage by quarter hour of its UTC day (sql/task_usage_utc_quarter.v1.sql),
    as running sums: `quarters` lists the quarters that have usage, ascending, and each sum array
    holds the bucket's total up to the end of the quarter at the same position (the last entry is
    the daily bucket's total). Any run of quarters, and so any part of a day in any time zone, is
    the difference of two running sums (queries.py). Written with its daily bucket, in the same
    statement, by sql/task_usage_daily_recompute_slices.v4.sql, so it has the daily rollup's
    invalidation, watermark and guarantees; one row per row of task_usage_daily."""

    quarters = ArrayField(models.SmallIntegerField())
    input_tokens = ArrayField(models.BigIntegerField())
    output_tokens = ArrayField(models.BigIntegerField())
    cache_read_tokens = ArrayField(models.BigIntegerField())
    cache_write_tokens = ArrayField(models.BigIntegerField())
    event_count = ArrayField(models.BigIntegerField())
    updated_at = models.DateTimeField(db_default=TransactionNow())

    class Meta:
        db_table = "task_usage_daily_quarters"
        verbose_name = "daily usage by quarter hour"
        verbose_name_plural = "daily usage by quarter hour"
        constraints = [
            models.UniqueConstraint(fields=BUCKET_KEY, name="task_usage_daily_quarters_key"),
        ]
        # The zoned reads': a scope's buckets of a period (their arrays are too wide for an
        # index's INCLUDE: 96 quarters of five sums are 4 kB).
        indexes = [
            models.Index(fields=["runtime_id", "-bucket_date"], name="usage_quarters_runtime_idx"),
            models.Index(
                fields=["workspace_id", "-bucket_date"], name="usage_quarters_workspace_idx"
            ),
        ]


class TaskUsageDailyDirty(BucketKey):
    """A bucket to recompute. Writers never update rows here: a writer whose bucket is already
    queued by a committed row locks that row FOR SHARE instead of adding another, and a tick
    drains only rows nobody holds (SKIP LOCKED), so the queue holds about one row per dirty
    bucket and a tick never waits on or loses a writer's invalidation
    (usage_rollup/sql/task_usage_daily_enqueue.v1.sql)."""

    enqueued_at = models.DateTimeField(db_default=TransactionNow())

    class Meta:
        db_table = "task_usage_daily_dirty"
        verbose_name = "dirty bucket"
        indexes = [
            models.Index(fields=["enqueued_at"], name="usage_dirty_enqueued_idx"),
            # A writer finds the committed row that already queues its bucket.
            models.Index(fields=BUCKET_KEY, name="usage_dirty_bucket_idx"),
        ]


class TaskUsageDailySetAside(BucketKey):
    """A bucket the rollup cannot compute (its sums overflow bigint): named here, left out of
    task_usage_daily, retried by every tick, removed once it computes. Every other bucket keeps
    rolling up meanwhile."""

    error = models.TextField()
    first_failed_at = models.DateTimeField(db_default=TransactionNow())
    last_failed_at = models.DateTimeField(db_default=TransactionNow())
    attempts = models.BigIntegerField(default=1, db_default=1)

    class Meta:
        db_table = "task_usage_daily_set_aside"
        verbose_name = "set-aside bucket"
        constraints = [
            models.UniqueConstraint(fields=BUCKET_KEY, name="task_usage_daily_set_aside_key"),
        ]


class TaskUsageRollupState(models.Model):
    """The single row of rollup progress: rows with updated_at below watermark_at are rolled up."""

    id = models.SmallIntegerField(primary_key=True, default=1, db_default=1)
    watermark_at = models.DateTimeField(null=True)
    last_run_started_at = models.DateTimeField(null=True)
    last_run_finished_at = models.DateTimeField(null=True)
    last_run_rows = models.BigIntegerField(null=True)
    last_error = models.TextField(null=True)  # noqa: DJ001 -- NULL is "no error", set by SQL
    last_error_at = models.DateTimeField(null=True)
    failed_runs = models.BigIntegerField(default=0, db_default=0)
    # The oldest transaction still running when the last successful tick began
    # (pg_snapshot_xmin, as a number): after the clock steps back, the rows of this and later
    # transactions are the ones whose updated_at may lie behind the watermark.
    watermark_xmin = models.BigIntegerField(null=True)
    # The last time a tick found the watermark ahead of the database clock, by how much, and how
    # often that happened; the tick recovers (rollup_task_usage_daily.v3.sql).
    watermark_ahead_at = models.DateTimeField(null=True)
    watermark_ahead_seconds = models.FloatField(null=True)
    clock_steps_back = models.BigIntegerField(default=0, db_default=0)
    # The latest backfill: who runs it, its lease (ticks skip while it is live), its progress.
    # Started and not finished is an unfinished backfill, reported until one completes.
    backfill_owner = models.UUIDField(null=True)
    backfill_started_at = models.DateTimeField(null=True)
    backfill_heartbeat_at = models.DateTimeField(null=True)
    backfill_lease_until = models.DateTimeField(null=True)
    backfill_finished_at = models.DateTimeField(null=True)
    backfill_slices_total = models.IntegerField(null=True)
    backfill_slices_done = models.IntegerField(null=True)

    class Meta:
        db_table = "task_usage_rollup_state"
        verbose_name = "rollup state"
        verbose_name_plural = "rollup state"
        # The admin's rollup rows are read-only for everyone; running a tick or queueing buckets
        # for recompute from the admin takes this permission.
        permissions = [("operate_rollup", "Can run a rollup tick and queue buckets for recompute")]
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="task_usage_rollup_state_one_row")
        ]

    def __str__(self) -> str:
        return f"watermark {self.watermark_at}"
