"""Every invalidation path of SPEC section 3, done through a Django host's own models.

Run as `python -m tests.hosts.django_paths` with DJANGO_SETTINGS_MODULE=tests.hosts.
django_settings and DATABASE_URL set: it builds a world through the host's ORM, ticks, then runs
each path (Django's collector deletes child rows itself, in its own order, with the database's
foreign keys deferred), ticks after each and prints one JSON line per path: its name, whether it
changed the raw aggregate, and every bucket where the rollup then differs from it.
"""

import datetime
import json

import django

django.setup()

from django.db import connection  # noqa: E402

from tests.hosts.django_host.models import (  # noqa: E402
    Agent,
    AgentRuntime,
    AgentTaskQueue,
    Issue,
    TaskUsage,
    Workspace,
)
from tests.oracle import oracle_buckets, rollup_differences  # noqa: E402

DAY = datetime.datetime(2026, 3, 10, 12, tzinfo=datetime.UTC)


def tick() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rollup_task_usage_daily('0 seconds')")


def build() -> dict:
    a = Workspace.objects.create(name="a", slug="a")
    b = Workspace.objects.create(name="b", slug="b")
    world = {"a": a, "b": b}
    for name, ws in (("r1", a), ("r2", a), ("r3", b), ("spare", a)):
        world[name] = AgentRuntime.objects.create(workspace=ws, name=name)
    for name, ws in (("ga", a), ("gb", b), ("ga2", a)):
        world[name] = Agent.objects.create(workspace=ws, name=name)
    world["issue"] = Issue.objects.create(workspace=a, title="i")
    tasks = {
        "t1": ("ga", "r1"),
        "t2": ("ga", "r2"),
        "t3": ("gb", "r3"),
        "t4": ("ga2", "spare"),
        "t5": ("ga", "r1"),
        "t6": ("ga", "r1"),  # left for the bulk delete and the workspace delete
        "t7": ("ga2", "r1"),  # its agent moves to b; its runtime stays in a
    }
    for name, (agent, runtime) in tasks.items():
        world[name] = AgentTaskQueue.objects.create(
            agent=world[agent],
            runtime=world[runtime],
            issue=world["issue"] if name in ("t1", "t2") else None,
        )
        for days, model in ((0, "opus"), (1, "haiku"), (2, "sonnet")):
            TaskUsage.objects.create(
                task=world[name],
                model=model,
                input_tokens=10 + days,
                output_tokens=3,
                created_at=DAY + datetime.timedelta(days=days),
            )
    return world


def paths(w: dict) -> list:
    def correct():
        row = TaskUsage.objects.get(task=w["t3"], model="opus")
        row.input_tokens += 100
        row.save()

    def move_to_task():
        row = TaskUsage.objects.get(task=w["t2"], model="opus")
        row.task, row.model = w["t5"], "opus-moved"
        row.save()

    def reassign():
        w["t1"].runtime = w["r2"]
        w["t1"].save()

    def other_agent():
        w["t5"].agent = w["gb"]
        w["t5"].save()

    def move_agent():
        w["ga2"].workspace = w["b"]
        w["ga2"].save()

    return [
        (
            "insert usage",
            lambda: TaskUsage.objects.create(
                task=w["t1"], model="new", input_tokens=7, created_at=DAY
            ),
        ),
        ("correct a row", correct),
        (
            "move rows' day (queryset update)",
            lambda: TaskUsage.objects.filter(task=w["t1"], model="haiku").update(
                created_at=DAY - datetime.timedelta(days=3)
            ),
        ),
        ("move a row to another task and model", move_to_task),
        ("delete a row", lambda: TaskUsage.objects.get(task=w["t3"], model="haiku").delete()),
        ("reassign a task", reassign),
        ("give a task an agent of another workspace", other_agent),
        ("move an agent to another workspace", move_agent),
        ("delete a task", lambda: w["t2"].delete()),
        ("delete an issue", lambda: w["issue"].delete()),
        ("delete a runtime", lambda: w["spare"].delete()),
        ("delete an agent", lambda: w["gb"].delete()),
        (
            "delete rows in bulk (queryset delete)",
            lambda: TaskUsage.objects.filter(model="sonnet").delete(),
        ),
        ("delete a workspace", lambda: w["a"].delete()),
    ]


def main() -> None:
    world = build()
    tick()
    with connection.cursor() as cursor:
        print(json.dumps({"path": "build", "changed": True, "differences": []}))
        for name, change in paths(world):
            before = oracle_buckets(cursor)
            change()
            changed = oracle_buckets(cursor) != before
            tick()
            print(
                json.dumps(
                    {"path": name, "changed": changed, "differences": rollup_differences(cursor)}
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
