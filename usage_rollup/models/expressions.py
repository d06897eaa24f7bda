"""Database expressions shared by the models, the read path and the rollup's SQL."""

from django.db import models


class TransactionNow(models.Func):
    """`now()`: the start of the writing transaction.

    The rollup's watermark reasons about transaction start times (a transaction still open holds
    it back), so usage is stamped with now(), not Django's Now() (statement_timestamp()).
    """

    template = "now()"
    output_field = models.DateTimeField()


class UTCDay(models.Func):
    """The UTC calendar day of a timestamptz, whatever the session's TimeZone.

    The same expression as `task_usage_utc_day()` in `sql/` and the day index on task_usage, so
    the planner matches them.
    """

    template = "((%(expressions)s AT TIME ZONE 'UTC'))::date"
    output_field = models.DateField()
