"""The two indexes the rollup reads task_usage through, built without blocking its writers.

CREATE INDEX CONCURRENTLY cannot run in a transaction, hence atomic = False; one index per
operation, so an interrupted build leaves at most one INVALID index to drop and retry.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

import usage_rollup.models.expressions


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("usage_rollup", "0003_rollup_tables")]

    operations = [
        AddIndexConcurrently(
            model_name="taskusage",
            index=models.Index(fields=["updated_at"], name="task_usage_updated_at_idx"),
        ),
        AddIndexConcurrently(
            model_name="taskusage",
            index=models.Index(
                usage_rollup.models.expressions.UTCDay("created_at"),
                models.F("provider"),
                models.F("model"),
                name="task_usage_day_model_idx",
            ),
        ),
    ]
