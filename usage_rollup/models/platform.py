"""The platform's tables, as the rollup reads them: the columns its SQL, triggers and reads use.

The tables belong to the host (its own SQL migrations, another service, its own Django models or
the optional `usage_rollup.source` app): these models are unmanaged, so Django never creates,
alters or drops them, and a host's managed models on the same tables do not collide with them
(models.E028 counts managed models only). They exist to carry the invalidation triggers, which
the rollup's migrations install on the tables whoever created them, and to name rows in the
admin and the API. `usage_rollup.schema` checks that the database has these columns.
"""

from django.db import models

from usage_rollup import triggers


def _reference(to: str, **kwargs) -> models.ForeignKey:
    # The database holds the real key (or none): nothing here creates, checks or cascades it.
    return models.ForeignKey(
        to, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", **kwargs
    )


class Workspace(models.Model):
    id = models.UUIDField(primary_key=True)
    name = models.TextField()

    class Meta:
        managed = False
        default_permissions = ()
        db_table = "workspace"

    def __str__(self) -> str:
        return self.name


class AgentRuntime(models.Model):
    id = models.UUIDField(primary_key=True)
    workspace = _reference("Workspace")
    name = models.TextField()

    class Meta:
        managed = False
        default_permissions = ()
        db_table = "agent_runtime"

    def __str__(self) -> str:
        return self.name


class Agent(models.Model):
    id = models.UUIDField(primary_key=True)
    workspace = _reference("Workspace")

    class Meta:
        managed = False
        default_permissions = ()
        db_table = "agent"
        triggers = [triggers.agent_moved, triggers.agent_deleted]

    def __str__(self) -> str:
        return str(self.id)


class AgentTaskQueue(models.Model):
    id = models.UUIDField(primary_key=True)
    agent = _reference("Agent")
    runtime = _reference("AgentRuntime", null=True)

    class Meta:
        managed = False
        default_permissions = ()
        db_table = "agent_task_queue"
        triggers = [triggers.task_reassigned, triggers.task_deleted]

    def __str__(self) -> str:
        return str(self.id)


class TaskUsage(models.Model):
    id = models.UUIDField(primary_key=True)
    task = _reference("AgentTaskQueue")
    provider = models.TextField()
    model = models.TextField()
    input_tokens = models.BigIntegerField()
    output_tokens = models.BigIntegerField()
    cache_read_tokens = models.BigIntegerField()
    cache_write_tokens = models.BigIntegerField()
    created_at = models.DateTimeField()
    # The rollup's own column: its migration adds it where the platform has none.
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        default_permissions = ()
        db_table = "task_usage"
        triggers = [
            triggers.usage_inserted,
            triggers.usage_updated,
            triggers.usage_deleted,
            triggers.usage_truncated,
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"
