"""`exportflow exports|templates|types|stats`: the API from the command line, through exportflow_client.

The server and token come from --url/--token or EXPORTFLOW_URL/EXPORTFLOW_TOKEN. Exit codes: 0
success; 1 the export failed or was cancelled, or the server failed; 2 a usage error (a bad field,
no credentials, no permission, no such export).
"""

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import humanize
import typer
from pydantic import BaseModel
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from deployments.cli_support import EXIT_FAILURE, EXIT_USAGE, console, errors
from deployments.export_cli import parse_assignments
from exportflow_client import (
    Delivery,
    ExportCreate,
    ExportEstimateOut,
    ExportflowClient,
    ExportflowClientError,
    ExportFormat,
    ExportStatus,
    ExportType,
    ServerError,
    TemplateCreate,
)
from flows.errors import InvalidInputError

exports_app = typer.Typer(
    help="Exports through the API (`exportflow export run` runs one in this process).", no_args_is_help=True
)
templates_app = typer.Typer(help="Export templates through the API.", no_args_is_help=True)

Url = Annotated[str, typer.Option("--url", envvar="EXPORTFLOW_URL", help="The API's base URL.")]
Token = Annotated[
    str, typer.Option("--token", envvar="EXPORTFLOW_TOKEN", help="API token or JWT.", show_default=False)
]
ExportId = Annotated[uuid.UUID, typer.Argument(help="The export's id.")]
DEFAULT_URL = "http://127.0.0.1:8000"
DELIVER_HELP = "always, if_rows (only with rows) or if_changed (only when a schedule's rows changed)."
WEBHOOK_HELP = "An http(s) URL POSTed signed export.completed/failed events, repeatable (at most 5)."


@contextmanager
def connected(url: str, token: str) -> Iterator[ExportflowClient]:
    """A client; API errors become a message naming the field and exit code 1 or 2."""
    if not token:
        errors.print("no token: pass --token or set EXPORTFLOW_TOKEN (`exportflow tokens create`)")
        raise typer.Exit(EXIT_USAGE)
    try:
        with ExportflowClient(url, token) as client:
            yield client
    except ExportflowClientError as error:
        for item in error.errors:
            errors.print(f"[red]{item.field or error.status}:[/red] {item.message}")
        failed = isinstance(error, ServerError) or error.status in (409, 410)
        raise typer.Exit(EXIT_FAILURE if failed else EXIT_USAGE) from error
    except InvalidInputError as error:
        errors.print(f"[red]{error.field}:[/red] {error.message}")
        raise typer.Exit(EXIT_USAGE) from error


@exports_app.command("create")
def create(
    export_type: Annotated[ExportType, typer.Option("--type", help="Export type.")],
    export_format: Annotated[ExportFormat, typer.Option("--format", help="File format.")] = ExportFormat.CSV,
    name: Annotated[str | None, typer.Option(help="Export name (default: type and format).")] = None,
    columns: Annotated[str | None, typer.Option(help="Comma-separated columns.")] = None,
    filters: Annotated[list[str] | None, typer.Option("--filter", help="key=value, repeatable.")] = None,
    recipients: Annotated[list[str] | None, typer.Option("--recipient", help="Email, repeatable.")] = None,
    deliver: Annotated[Delivery | None, typer.Option(help=DELIVER_HELP)] = None,
    webhooks: Annotated[list[str] | None, typer.Option("--webhook", help=WEBHOOK_HELP)] = None,
    execute: Annotated[bool, typer.Option(help="Run on the high-priority queue.")] = False,
    wait: Annotated[bool, typer.Option(help="Follow its progress until it ends.")] = False,
    download: Annotated[Path | None, typer.Option(help="Wait, then save the file here.")] = None,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Create an export; with --wait show its progress, with --download also save its file."""
    with connected(url, token) as client:
        request = ExportCreate(
            export_name=name or f"{export_type.value} {export_format.value}",
            export_type=export_type,
            format=export_format,
            columns=columns.split(",") if columns else None,
            filters=parse_assignments(filters or [], "filter"),
            recipients=recipients or [],
            deliver=deliver,
            webhook_urls=webhooks,
        )
        _print_estimate(client.estimate_export(request))
        created = (client.execute_export if execute else client.create_export)(request)
        console.print(f"export {created.id} {created.status}", highlight=False)
        if not (wait or download):
            return
        final = _follow(client, created.id)
        if final != ExportStatus.COMPLETED:
            raise typer.Exit(EXIT_FAILURE)
        if download:
            link = client.download(created.id, download)
            console.print(f"saved {download} ({link.file_size:,} bytes, sha256 {link.checksum_sha256})")


@exports_app.command("list")
def list_exports(
    status: Annotated[ExportStatus | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """The newest exports you may see."""
    with connected(url, token) as client:
        rows, pagination = client.list_exports(status=status, limit=limit)
    table = Table("id", "name", "type", "format", "status", "progress", "rows", "created")
    for row in rows:
        table.add_row(
            str(row.id),
            row.export_name,
            row.export_type,
            row.format,
            row.status,
            f"{row.progress_percentage}%",
            f"{row.record_count:,}",
            f"{row.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)
    console.print(f"{len(rows)} of {pagination.total}")


@exports_app.command("status")
def status(export_id: ExportId, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """The export's status (as JSON)."""
    with connected(url, token) as client:
        _print_json(client.status(export_id))


@exports_app.command("cancel")
def cancel(export_id: ExportId, url: Url = DEFAULT_URL, token: Token = "") -> None:
    with connected(url, token) as client:
        console.print(f"export {export_id} {client.cancel(export_id).status}")


@exports_app.command("retry")
def retry(export_id: ExportId, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """A new export with the same request; prints its id."""
    with connected(url, token) as client:
        console.print(f"export {client.retry(export_id).id} retries {export_id}")


@exports_app.command("resend")
def resend(export_id: ExportId, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Mail and webhook a completed export again (its query is not run again; its rule does not apply)."""
    with connected(url, token) as client:
        resent = client.resend(export_id)
    if resent.email_error:
        errors.print(f"[yellow]email not sent:[/yellow] {resent.email_error}")
    elif resent.emailed:
        console.print(f"mailed {', '.join(resent.emailed)}")
    for hook in resent.webhooks:
        outcome = "delivered" if hook.succeeded else f"failed ({hook.error})"
        console.print(f"webhook {hook.url}: {outcome} after {hook.attempts} attempt(s)", highlight=False)
    if resent.email_error or not all(hook.succeeded for hook in resent.webhooks):
        raise typer.Exit(EXIT_FAILURE)


@exports_app.command("download")
def download_file(
    export_id: ExportId,
    target: Annotated[Path, typer.Argument(help="Where to save the file.")],
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Save a completed export's file (its sha256 checked)."""
    with connected(url, token) as client:
        link = client.download(export_id, target)
    console.print(f"saved {target} ({link.file_size:,} bytes)")


@exports_app.command("delete")
def delete(export_id: ExportId, url: Url = DEFAULT_URL, token: Token = "") -> None:
    with connected(url, token) as client:
        client.delete_export(export_id)
    console.print(f"export {export_id} deleted")


@templates_app.command("list")
def list_templates(url: Url = DEFAULT_URL, token: Token = "") -> None:
    with connected(url, token) as client:
        templates, _ = client.list_templates(limit=100)
    table = Table("id", "name", "type", "format", "public")
    for item in templates:
        table.add_row(
            str(item.id), item.template_name, item.export_type, item.format, "yes" if item.is_public else "no"
        )
    console.print(table)


@templates_app.command("create")
def create_template(
    name: Annotated[str, typer.Option(help="Template name.")],
    export_type: Annotated[ExportType, typer.Option("--type", help="Export type.")],
    export_format: Annotated[ExportFormat, typer.Option("--format", help="File format.")] = ExportFormat.CSV,
    columns: Annotated[str | None, typer.Option(help="Comma-separated columns.")] = None,
    filters: Annotated[list[str] | None, typer.Option("--filter", help="key=value, repeatable.")] = None,
    public: Annotated[bool, typer.Option(help="Readable by every user.")] = False,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    with connected(url, token) as client:
        template = client.create_template(
            TemplateCreate(
                template_name=name,
                export_type=export_type,
                format=export_format,
                columns=columns.split(",") if columns else None,
                filters=parse_assignments(filters or [], "filter"),
                is_public=public,
            )
        )
    console.print(f"template {template.id} created")


@templates_app.command("delete")
def delete_template(
    template_id: Annotated[uuid.UUID, typer.Argument(help="The template's id.")],
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    with connected(url, token) as client:
        client.delete_template(template_id)
    console.print(f"template {template_id} deleted")


def types(url: Url = DEFAULT_URL, token: Token = "") -> None:
    """The export types you may export, with their columns and filters."""
    with connected(url, token) as client:
        for item in client.types():
            console.print(f"[bold]{item.export_type}[/bold]: {item.label}")
            console.print("  columns: " + ", ".join(column.name for column in item.columns), highlight=False)
            console.print("  filters: " + ", ".join(found.name for found in item.filters), highlight=False)


def stats(
    date_from: Annotated[str | None, typer.Option(help="ISO date or instant.")] = None,
    date_to: Annotated[str | None, typer.Option(help="ISO date or instant.")] = None,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Totals of finished runs (admins)."""
    with connected(url, token) as client:
        _print_json(client.statistics(date_from, date_to))


def _follow(client: ExportflowClient, export_id: uuid.UUID) -> ExportStatus:
    """A progress bar (percent, rows, time left) from the events stream; returns the final status."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
    )
    last = client.status(export_id)
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(str(last.status), total=100)
        for last in client.events(export_id):
            rows = f" {last.record_count:,} rows" if last.record_count else ""
            progress.update(task, completed=last.progress_percentage, description=f"{last.status}{rows}")
    console.print(
        f"export {export_id} {last.status}" + (f": {last.error_message}" if last.error_message else "")
    )
    return last.status


def _print_estimate(estimate: ExportEstimateOut) -> None:
    """What the export will be, before it is made (an export over its format's cap is then refused)."""
    about = "" if estimate.exact else "about "
    cap = f", over the format's cap of {estimate.max_rows:,} rows" if not estimate.allowed else ""
    size = humanize.naturalsize(estimate.bytes)
    console.print(f"{about}{estimate.rows:,} rows, about {size}{cap}", highlight=False)


def _print_json(model: BaseModel) -> None:
    data: Any = model.model_dump(mode="json")
    print(json.dumps(data, indent=2))
