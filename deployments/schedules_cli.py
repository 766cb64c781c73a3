"""`exportflow schedules sync`: exportflow's schedules and the export deployment's in Prefect, in step."""

import typer

from deployments.cli_support import EXIT_FAILURE, EXIT_USAGE, console, errors, load_settings, require_migrated

schedules_app = typer.Typer(help="Scheduled exports and their schedules in Prefect.", no_args_is_help=True)


@schedules_app.command("sync")
def sync() -> None:
    """Reconcile both ways (idempotent) and print what changed (who wins: flows/schedule_sync.py)."""
    from flows.db import app_sessions
    from flows.prefect_env import configure_prefect
    from flows.runs import prefect_configured
    from flows.schedule_sync import sync_schedules

    settings = load_settings()
    require_migrated(settings.database_url)
    configure_prefect(settings)
    if not prefect_configured():
        errors.print("set EXPORTFLOW_PREFECT_API_URL (or PREFECT_API_URL) to the Prefect server's API first")
        raise typer.Exit(EXIT_USAGE)
    report = sync_schedules(app_sessions(), settings)
    if report is None:
        errors.print("Prefect did not answer (or has no export deployment: run `exportflow deploy`)")
        raise typer.Exit(EXIT_FAILURE)
    for line in report.lines():
        console.print(line)
    console.print(f"{len(report.lines())} change(s)")
