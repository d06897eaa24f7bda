from usage_rollup import rollup
from usage_rollup.management.cli import RollupCommand, add_database_argument, command_errors


class Command(RollupCommand):
    help = (
        f"Schedule the rollup's tick ({rollup.CRON_COMMAND}) with pg_cron as job "
        f"{rollup.CRON_JOB_NAME!r}, or change its schedule; --unschedule removes it. Where "
        "pg_cron is not installed, run manage.py rollup_usage --loop instead."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--every",
            default=rollup.DEFAULT_CRON_SCHEDULE,
            metavar="CRON",
            help="a cron schedule (default: '* * * * *', every minute)",
        )
        parser.add_argument("--unschedule", action="store_true", help="remove the job")
        add_database_argument(parser)

    def handle(self, *args, every, unschedule, database, **options):
        if unschedule:
            with command_errors("unscheduling"):
                removed = rollup.unschedule(database)
            if removed:
                self.stdout.write(
                    self.style.SUCCESS(f"Unscheduled the pg_cron job {rollup.CRON_JOB_NAME!r}.")
                )
            else:
                self.stdout.write(
                    f"No pg_cron job {rollup.CRON_JOB_NAME!r} was scheduled: nothing to remove."
                )
            return
        with command_errors("scheduling"):
            job = rollup.schedule(every, database)
        self.stdout.write(
            self.style.SUCCESS(
                f"Scheduled pg_cron job {job.jobid} {job.name!r} at {job.schedule!r}: {job.command}"
            )
        )
