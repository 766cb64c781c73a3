"""The `exportflow` command: every process and chore of the service, one subcommand each."""

import json
from typing import Annotated

import typer
from rich.table import Table

from deployments.api_cli import api
from deployments.cleanup_cli import cleanup
from deployments.cli_support import EXIT_USAGE, console, errors, load_settings, usage_errors
from deployments.client_cli import exports_app, stats, templates_app, types
from deployments.export_cli import export_app
from deployments.identity_cli import tokens_app, users_app
from deployments.schedules_cli import schedules_app
from flows.settings import Settings

app = typer.Typer(help="exportflow: exports of business data, each one a Prefect flow.", no_args_is_help=True)
BOOTSTRAP_EMAIL = "admin@example.com"
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
    from flows import migrate

    url = load_settings().database_url
    migrate.upgrade(url, revision)
    _print_revision(url)


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, e.g. base or -1.")]) -> None:
    """Revert migrations of the app database."""
    from flows import migrate

    url = load_settings().database_url
    migrate.downgrade(url, revision)
    _print_revision(url)


@db_app.command("current")
def db_current() -> None:
    """Print the app database's migration revision."""
    _print_revision(load_settings().database_url)


def _print_revision(database_url: str) -> None:
    from flows import migrate

    current, head = migrate.current_revision(database_url), migrate.head_revision()
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
    from flows.sources import parse_source
    from flows.warehouse import generate_demo_data

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
        bool, typer.Option("--loop", help="Go on every EXPORTFLOW_RECONCILE_INTERVAL_SECONDS.")
    ] = False,
) -> None:
    """Settle exports whose runs died or went silent; start those stored while Prefect was down."""
    from flows.db import app_sessions
    from flows.prefect_env import configure_prefect
    from flows.reconcile import reconcile, reconcile_forever
    from flows.runs import prefect_configured

    settings = load_settings()
    configure_prefect(settings)
    if not prefect_configured():
        errors.print("set EXPORTFLOW_PREFECT_API_URL (or PREFECT_API_URL) to the Prefect server's API first")
        raise typer.Exit(EXIT_USAGE)
    if loop:
        reconcile_forever(app_sessions(), settings, lambda report: console.print(report.summary()))
    console.print(reconcile(app_sessions(), settings).summary())


@app.command()
def deploy() -> None:
    """Create or update the Prefect side: the exportflow work pool, its queues and the export deployment."""
    from prefect.client.orchestration import get_client

    from deployments.prefect_setup import set_up_prefect
    from flows.prefect_env import configure_prefect
    from flows.runs import WORK_POOL, prefect_configured

    settings = load_settings()
    configure_prefect(settings)
    if not prefect_configured():
        errors.print("set EXPORTFLOW_PREFECT_API_URL (or PREFECT_API_URL) to the Prefect server's API first")
        raise typer.Exit(EXIT_USAGE)
    with get_client(sync_client=True) as client:
        deployment_id = set_up_prefect(client, settings)
    console.print(
        f"work pool {WORK_POOL} (queues high, normal) and deployment {settings.export_deployment} ready"
    )
    console.print(
        f"deployment id {deployment_id}; start a worker with: prefect worker start --pool {WORK_POOL}"
    )


@app.command()
def up(
    demo_rows: Annotated[
        int, typer.Option(help="Sales rows of the demo warehouse, when it has to be generated.")
    ] = 100_000,
    serve: Annotated[
        bool, typer.Option(help="Serve the API when prepared; --no-serve: prepare only.")
    ] = True,
) -> None:
    """Prepare the embedded defaults (app database, demo warehouse, a first super_admin) and serve the API."""
    from deployments.api_cli import api
    from flows import migrate
    from flows.sources import parse_source
    from flows.warehouse import generate_demo_data, warehouse_is_populated

    settings = load_settings()
    migrate.upgrade(settings.database_url)
    console.print(f"app database ready: {settings.masked()['database_url']}")
    source = parse_source(settings.source_url)
    if not warehouse_is_populated(source):
        report = generate_demo_data(source, rows=demo_rows)
        console.print(f"demo warehouse generated in {report.seconds:.1f} s")
    console.print(f"warehouse ready: {settings.masked()['source_url']}")
    _bootstrap_super_admin(settings)
    console.print(
        "Exports are accepted now and run once a Prefect server, `exportflow deploy` and a worker are up "
        "(README, 'Running exports'); until then they wait as pending."
    )
    if serve:
        api(host=None, port=None)


def _bootstrap_super_admin(settings: Settings) -> None:
    """On an instance without users, create the first super_admin and print its API token once."""
    from sqlalchemy import func, select

    from flows.db import app_sessions, transaction
    from flows.domain import Role
    from flows.identity import create_user, issue_api_token
    from flows.models import User

    with transaction(app_sessions()) as session:
        if session.scalar(select(func.count()).select_from(User)):
            return
        user = create_user(session, BOOTSTRAP_EMAIL, Role.SUPER_ADMIN, first_name="Admin")
        _, token = issue_api_token(session, user, "bootstrap")
    base = f"http://{settings.api_host}:{settings.api_port}"
    console.print(f"first user {BOOTSTRAP_EMAIL} (super_admin); its API token, shown only now:")
    console.print(token, soft_wrap=True)
    console.print(f"API docs: {base}/docs")
    console.print(
        f"curl -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' "
        f"""-d '{{"export_name": "demo", "export_type": "sales", "format": "csv"}}' {base}/api/v1/exports""",
        soft_wrap=True,
    )
