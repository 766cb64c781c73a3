"""The `exportflow` command: every process and chore of the service, one subcommand each."""

import json
from typing import Annotated

import typer
from rich.table import Table

from deployments.api_cli import api
from deployments.cleanup_cli import cleanup
from deployments.cli_support import console, load_settings, require_prefect, usage_errors
from deployments.client_cli import exports_app, stats, templates_app, types
from deployments.export_cli import export_app
from deployments.identity_cli import tokens_app, users_app
from deployments.schedules_cli import schedules_app
from deployments.up_cli import up
from deployments.worker_cli import worker
from flows.settings import Settings

app = typer.Typer(help="exportflow: exports of business data, each one a Prefect flow.", no_args_is_help=True)
db_app = typer.Typer(help="App-database migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")

app.add_typer(export_app, name="export")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(schedules_app, name="schedules")
app.command("api")(api)
app.add_typer(exports_app, name="exports")
app.add_typer(templates_app, name="templates")
app.command("types")(types)
app.command("stats")(stats)
app.command("cleanup")(cleanup)
app.command("worker")(worker)
app.command("up")(up)


@app.command()
def config(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print the effective settings, secrets masked."""
    settings = load_settings()
    shown = settings.masked()
    if as_json:
        print(json.dumps(shown, indent=2, default=str))
        return
    table = Table("setting", "value", "description")
    for name, value in shown.items():
        description = Settings.model_fields[name].description or ""
        table.add_row(f"EXPORTFLOW_{name.upper()}", str(value), description)
    console.print(table)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations to the app database."""
    from flows.appdb import migrations

    url = load_settings().database_url
    migrations.upgrade(url, revision)
    _print_revision(url)


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, e.g. base or -1.")]) -> None:
    """Revert migrations of the app database."""
    from flows.appdb import migrations

    url = load_settings().database_url
    migrations.downgrade(url, revision)
    _print_revision(url)


@db_app.command("current")
def db_current() -> None:
    """Print the app database's migration revision."""
    _print_revision(load_settings().database_url)


def _print_revision(database_url: str) -> None:
    from flows.appdb import migrations

    current, head = migrations.current_revision(database_url), migrations.head_revision()
    if current is None:
        console.print(f"base (no migration applied; head is {head})")
    elif current == head:
        console.print(f"{current} (head)")
    else:
        console.print(f"{current} (behind head {head}: run `exportflow db upgrade`)")


@app.command("demo-data")
def demo_data(
    rows: Annotated[
        int, typer.Option(help="Rows of the largest table (sales); others proportionate.")
    ] = 100_000,
    source: Annotated[
        str | None, typer.Option(help="Warehouse URL; default EXPORTFLOW_SOURCE_URL.", show_default=False)
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the deterministic generator.")] = 20260101,
) -> None:
    """Fill the demo warehouse (DuckDB file or PostgreSQL) with deterministic, exporter-breaking data."""
    from flows.demo_warehouse import generate_demo_data
    from flows.pipeline.sources import parse_source

    url = source or load_settings().source_url
    with usage_errors():
        report = generate_demo_data(parse_source(url), rows=rows, seed=seed)
    table = Table("table", "rows")
    for name, count in report.table_rows.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    console.print(f"generated in {report.seconds:.1f} s")


@app.command("reconcile")
def reconcile_command(
    loop: Annotated[
        bool,
        typer.Option(
            "--loop",
            help=(
                "Run the background service until Ctrl-C or SIGTERM: this and the schedule sync every "
                "EXPORTFLOW_RECONCILE_INTERVAL_SECONDS (as `exportflow api` does unless "
                "EXPORTFLOW_RUN_BACKGROUND_SERVICES is off)."
            ),
        ),
    ] = False,
) -> None:
    """Settle exports whose runs died or went silent; start those stored while Prefect was down."""
    from flows.appdb.engine import app_sessions

    settings = load_settings()
    require_prefect(settings)
    if loop:
        from deployments.background import serve

        serve(settings, app_sessions())
        return
    from flows.exports.reconcile import reconcile

    console.print(reconcile(app_sessions(), settings).summary())


@app.command()
def deploy() -> None:
    """Create or update the Prefect side: the exportflow work pool, its queues and the export deployment."""
    from prefect.client.orchestration import get_client

    from deployments.prefect_setup import set_up_prefect
    from flows.orchestration.pool import WORK_POOL

    settings = load_settings()
    require_prefect(settings)
    with get_client(sync_client=True) as client:
        deployment_id = set_up_prefect(client, settings)
    console.print(
        f"work pool {WORK_POOL} (queues high, normal) and deployment {settings.export_deployment} ready"
    )
    console.print(f"deployment id {deployment_id}; start workers with: exportflow worker")
