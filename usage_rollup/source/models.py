"""The platform's tables, bundled for a project without them and for the demo (SPEC section 2).

A host whose database already has these tables does not install this app: the rollup reads them
through its own unmanaged models (`usage_rollup.models.platform`) and installs its triggers there.

Rows are also written by clients other than Django, so every default lives in the database
(`db_default`) and every cascade is a real `ON DELETE CASCADE` foreign key, added by this app's
migration 0001 (Django 5.2 cannot declare one): the ORM side says DO_NOTHING and lets PostgreSQL
cascade.
"""

import uuid

from django.contrib.postgres.functions import RandomUUID
from django.db import models

from usage_rollup.models.expressions import TransactionNow


def _uuid_pk() -> models.UUIDField:
    return models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID())


def _cascading_fk(to: str, **kwargs) -> models.ForeignKey:
    # The database owns the cascade (see module docstring); Django only reads the relation.
    return models.ForeignKey(to, on_delete=models.DO_NOTHING, db_constraint=False, **kwargs)


class Workspace(models.Model):
    id = _uuid_pk()
    name = models.TextField()
    slug = models.TextField(unique=True)

    class Meta:
        db_table = "workspace"

    def __str__(self) -> str:
        return self.name


class AgentRuntime(models.Model):
    id = _uuid_pk()
    workspace = _cascading_fk("Workspace", related_name="runtimes")
    name = models.TextField()
    provider = models.TextField(db_default="")

    class Meta:
        db_table = "agent_runtime"

    def __str__(self) -> str:
        return self.name


class Agent(models.Model):
    id = _uuid_pk()
    workspace = _cascading_fk("Workspace", related_name="agents")
    name = models.TextField()

    class Meta:
        db_table = "agent"

    def __str__(self) -> str:
        return self.name


class Issue(models.Model):
    id = _uuid_pk()
    workspace = _cascading_fk("Workspace", related_name="issues")
    title = models.TextField()

    class Meta:
        db_table = "issue"

    def __str__(self) -> str:
        return self.title


class AgentTaskQueue(models.Model):
    id = _uuid_pk()
    agent = _cascading_fk("Agent", related_name="tasks")
    issue = _cascading_fk("Issue", related_name="tasks", null=True, blank=True)
    runtime = _cascading_fk("AgentRuntime", related_name="tasks", null=True, blank=True)
    status = models.TextField(db_default="queued")
    created_at = models.DateTimeField(db_default=TransactionNow())

    class Meta:
        db_table = "agent_task_queue"
        verbose_name = "task"

    def __str__(self) -> str:
        return str(self.id)


class TaskUsage(models.Model):
    id = _uuid_pk()
    # The unique (task, provider, model) index serves lookups by task; no second index.
    task = _cascading_fk("AgentTaskQueue", related_name="usage", db_index=False)
    provider = models.TextField(db_default="")
    model = models.TextField()
    input_tokens = models.BigIntegerField(db_default=0)
    output_tokens = models.BigIntegerField(db_default=0)
    cache_read_tokens = models.BigIntegerField(db_default=0)
    cache_write_tokens = models.BigIntegerField(db_default=0)
    created_at = models.DateTimeField(db_default=TransactionNow())
    # The rollup's column (SPEC section 2); its migration adds it where a platform has none.
    updated_at = models.DateTimeField(db_default=TransactionNow())

    class Meta:
        db_table = "task_usage"
        verbose_name_plural = "task usage"
        constraints = [
            models.UniqueConstraint(
                fields=["task", "provider", "model"], name="task_usage_task_provider_model_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"
