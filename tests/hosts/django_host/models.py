import uuid

from django.db import models


class HostModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return str(self.pk)


class Workspace(HostModel):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)

    class Meta:
        db_table = "workspace"


class AgentRuntime(HostModel):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    name = models.CharField(max_length=200)
    provider = models.CharField(max_length=100, default="")

    class Meta:
        db_table = "agent_runtime"


class Agent(HostModel):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    name = models.CharField(max_length=200)

    class Meta:
        db_table = "agent"


class Issue(HostModel):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    title = models.CharField(max_length=500)

    class Meta:
        db_table = "issue"


class AgentTaskQueue(HostModel):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE)
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, null=True)
    runtime = models.ForeignKey(AgentRuntime, on_delete=models.CASCADE, null=True)
    status = models.CharField(max_length=20, default="queued")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "agent_task_queue"


class TaskUsage(HostModel):
    task = models.ForeignKey(AgentTaskQueue, on_delete=models.CASCADE)
    provider = models.CharField(max_length=100, default="")
    model = models.CharField(max_length=200)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "task_usage"
        constraints = [
            models.UniqueConstraint(
                fields=["task", "provider", "model"], name="host_task_usage_unique"
            )
        ]
