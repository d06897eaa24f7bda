"""task_usage.updated_at, which the rollup finds changed rows by.

On a large existing table this is metadata-only: PostgreSQL evaluates the default now() once and
stores it as the value of every existing row, without rewriting the table.
"""

from django.db import migrations, models

import usage_rollup.models.expressions


class Migration(migrations.Migration):
    dependencies = [("usage_rollup", "0001_source_schema")]

    operations = [
        migrations.AddField(
            model_name="taskusage",
            name="updated_at",
            field=models.DateTimeField(db_default=usage_rollup.models.expressions.TransactionNow()),
        ),
    ]
