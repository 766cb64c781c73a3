"""`exportflow schedules sync`: exportflow's schedules and the export deployment's in Prefect, in step."""

import uuid
from typing import Annotated, Any

import typer
from rich.table import Table

from deployments.cli_support import EXIT_FAILURE, EXIT_USAGE, console, errors, load_settings, require_migrated
from deployments.client_cli import DEFAULT_URL, DELIVER_HELP, WEBHOOK_HELP, Token, Url, connected
from deployments.export_cli import parse_assignments
from exportflow_client import Delivery, ExportFormat, ExportType, Frequency, ScheduleCreate
from flows.exports.requests import parse_model

schedules_app = typer.Typer(help="Scheduled exports and their schedules in Prefect.", no_args_is_help=True)
ScheduleId = Annotated[uuid.UUID, typer.Argument(help="The schedule's id.")]


@schedules_app.command("sync")
def sync() -> None:
    """Reconcile both ways (idempotent) and print what changed (who wins: flows/schedules/prefect_sync.py)."""
    from flows.appdb.engine import app_sessions
    from flows.orchestration.flow_runs import prefect_configured
    from flows.orchestration.prefect_config import configure_prefect
    from flows.schedules.prefect_sync import sync_schedules

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


@schedules_app.command("list")
def list_schedules(
    active: Annotated[
        bool | None, typer.Option("--active/--paused", help="Only active or paused ones.")
    ] = None,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Schedules through the API (admins)."""
    with connected(url, token) as client:
        schedules, _ = client.list_schedules(is_active=active, limit=100)
    table = Table("id", "name", "type", "format", "rule", "timezone", "next run", "active")
    for item in schedules:
        rule = item.cron_expression or f"{item.frequency} {item.time_of_day}"
        table.add_row(
            str(item.id),
            item.schedule_name,
            item.export_type,
            item.format,
            rule,
            item.timezone,
            f"{item.next_run:%Y-%m-%d %H:%M}Z",
            "yes" if item.is_active else "no",
        )
    console.print(table)


@schedules_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="Schedule name.")],
    export_type: Annotated[ExportType, typer.Option("--type", help="Export type.")],
    frequency: Annotated[Frequency, typer.Option(help="daily, weekly, monthly, quarterly or yearly.")],
    export_format: Annotated[ExportFormat, typer.Option("--format", help="File format.")] = ExportFormat.CSV,
    at: Annotated[str, typer.Option("--at", help="Time of day, HH:MM.")] = "00:00",
    weekday: Annotated[str | None, typer.Option(help="For weekly: monday ... sunday.")] = None,
    day: Annotated[int | None, typer.Option("--day", help="Day of month (1-31).")] = None,
    month: Annotated[int | None, typer.Option(help="For yearly: the month (1-12).")] = None,
    cron: Annotated[str | None, typer.Option(help="A 5-field cron; overrides the frequency.")] = None,
    timezone: Annotated[str, typer.Option(help="IANA timezone.")] = "UTC",
    recipients: Annotated[list[str] | None, typer.Option("--recipient", help="Email, repeatable.")] = None,
    filters: Annotated[list[str] | None, typer.Option("--filter", help="key=value, repeatable.")] = None,
    deliver: Annotated[Delivery, typer.Option(help=DELIVER_HELP)] = Delivery.ALWAYS,
    webhooks: Annotated[list[str] | None, typer.Option("--webhook", help=WEBHOOK_HELP)] = None,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Create a schedule; it fires in Prefect as a schedule of the export deployment."""
    with connected(url, token) as client:
        fields: dict[str, Any] = {
            "schedule_name": name,
            "export_type": export_type,
            "format": export_format,
            "frequency": frequency,
            "time_of_day": at,
            "timezone": timezone,
            "recipients": recipients or [],
            "filters": parse_assignments(filters or [], "filter"),
            "deliver": deliver,
            "webhook_urls": webhooks or [],
        }
        optional = {"weekday": weekday, "day_of_month": day, "month": month, "cron_expression": cron}
        fields.update({key: value for key, value in optional.items() if value is not None})
        schedule = client.create_schedule(parse_model(ScheduleCreate, fields))
    console.print(f"schedule {schedule.id} created; next run {schedule.next_run:%Y-%m-%d %H:%M}Z")


@schedules_app.command("pause")
def pause(schedule_id: ScheduleId, url: Url = DEFAULT_URL, token: Token = "") -> None:
    with connected(url, token) as client:
        client.pause_schedule(schedule_id)
    console.print(f"schedule {schedule_id} paused")


@schedules_app.command("resume")
def resume(schedule_id: ScheduleId, url: Url = DEFAULT_URL, token: Token = "") -> None:
    with connected(url, token) as client:
        client.resume_schedule(schedule_id)
    console.print(f"schedule {schedule_id} resumed")


@schedules_app.command("next-runs")
def next_runs(
    schedule_id: ScheduleId,
    count: Annotated[int, typer.Option(min=1, max=400)] = 10,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """When the schedule fires next, in UTC and in its own timezone."""
    with connected(url, token) as client:
        runs = client.next_runs(schedule_id, count)
    for run in runs.runs:
        console.print(f"{run.utc:%Y-%m-%d %H:%M}Z  {run.local:%Y-%m-%d %H:%M %Z}", highlight=False)


@schedules_app.command("delete")
def delete(schedule_id: ScheduleId, url: Url = DEFAULT_URL, token: Token = "") -> None:
    with connected(url, token) as client:
        client.delete_schedule(schedule_id)
    console.print(f"schedule {schedule_id} deleted")
