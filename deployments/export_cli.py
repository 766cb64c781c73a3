"""`exportflow export run`: create an export row and run its flow in this process, with a progress bar."""

import json
import threading
import uuid
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import select
from sqlalchemy.orm import Session

from deployments.cli_support import (
    EXIT_FAILURE,
    console,
    errors,
    load_settings,
    require_migrated,
    usage_errors,
)
from flows.appdb.engine import app_sessions, transaction
from flows.appdb.models import DataExport, User
from flows.errors import InvalidInputError
from flows.exports.creation import create_export
from flows.exports.requests import ExportRequest
from flows.exports.webhook_urls import check_public_targets
from flows.orchestration.prefect_config import configure_prefect
from flows.vocabulary import ExportStatus, Role

export_app = typer.Typer(help="Run exports from the command line.", no_args_is_help=True)

OPERATOR_EMAIL = "operator@localhost"


def parse_assignments(values: list[str], field: str) -> dict[str, Any]:
    """`key=value` pairs; a value is JSON when it parses as JSON, a list when it has commas, else text."""
    parsed: dict[str, Any] = {}
    for index, item in enumerate(values):
        key, separator, raw = item.partition("=")
        if not separator or not key:
            raise InvalidInputError(f"{field}[{index}]", f"expected key=value, got {item!r}")
        parsed[key] = _value(raw)
    return parsed


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.split(",") if "," in raw else raw


@export_app.command("run")
def run(
    export_type: Annotated[str, typer.Option("--type", help="Export type, e.g. sales.")],
    export_format: Annotated[str, typer.Option("--format", help="csv, excel, pdf, json or parquet.")],
    columns: Annotated[
        str | None, typer.Option(help="Comma-separated columns (default: the type's defaults).")
    ] = None,
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", help="key=value, repeatable: date_from=2026-01-01, region=EMEA,APAC."),
    ] = None,
    recipients: Annotated[
        list[str] | None, typer.Option("--recipient", help="Email recipient, repeatable.")
    ] = None,
    options: Annotated[
        list[str] | None,
        typer.Option("--option", help="File option key=value, repeatable: csv_delimiter=';', csv_bom=true."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Export name (default: type and format).")] = None,
    deliver: Annotated[
        str,
        typer.Option(help="always, if_rows (only with rows) or if_changed (as always without a schedule)."),
    ] = "always",
    webhooks: Annotated[
        list[str] | None,
        typer.Option("--webhook", help="An http(s) URL for signed export events, repeatable."),
    ] = None,
    owner: Annotated[
        str, typer.Option(help="Email of the user the export belongs to (created as super_admin if absent).")
    ] = OPERATOR_EMAIL,
) -> None:
    """Create an export and run its flow here; print where the file is, its rows, bytes and checksum."""
    settings = load_settings()
    configure_prefect(settings)
    require_migrated(settings.database_url)
    with usage_errors():
        request = ExportRequest.validated(
            {
                "export_name": name or f"{export_type} {export_format}",
                "export_type": export_type,
                "format": export_format,
                "columns": columns.split(",") if columns else None,
                "filters": parse_assignments(filters or [], "filters"),
                "recipients": recipients or [],
                "options": parse_assignments(options or [], "options"),
                "deliver": deliver,
                "webhook_urls": webhooks or [],
            }
        )
        check_public_targets(request.webhook_urls, allow_private=settings.webhook_allow_private_targets)
    with transaction(app_sessions()) as session:
        export_id = create_export(session, request, _owner(session, owner)).id
    console.print(f"export {export_id} created; running its flow")
    row = _run_with_progress(export_id)
    if row.status != ExportStatus.COMPLETED:
        errors.print(f"[red]export {row.status}:[/red] {row.error_message}")
        raise typer.Exit(EXIT_FAILURE)
    typer.echo(f"file:     {row.file_path}")
    typer.echo(f"rows:     {row.record_count:,}")
    typer.echo(f"bytes:    {row.file_size:,}")
    typer.echo(f"sha256:   {row.checksum_sha256}")
    typer.echo(f"expires:  {row.expires_at:%Y-%m-%d %H:%M} UTC")
    if row.notification_error:
        errors.print(f"[yellow]email not sent:[/yellow] {row.notification_error}")


def _owner(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email, role=Role.SUPER_ADMIN.value, first_name="Local", last_name="Operator")
        session.add(user)
        session.flush()
    return user


def _run_with_progress(export_id: uuid.UUID) -> DataExport:
    """Run the flow in this thread while another draws the row's progress; return the final row."""
    from flows.export import export

    done = threading.Event()
    with Progress(
        TextColumn("[bold]export"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("export", total=100)

        def follow() -> None:
            while not done.wait(0.3):
                bar.update(task, completed=_row(export_id).progress_percentage)

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        try:
            export(export_id, return_state=True)
        finally:
            done.set()
            follower.join()
        bar.update(task, completed=_row(export_id).progress_percentage)
    return _row(export_id)


def _row(export_id: uuid.UUID) -> DataExport:
    with app_sessions()() as session:
        return session.get_one(DataExport, export_id)
