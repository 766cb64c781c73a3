"""The `exportflow` command: every process and chore of the service, one subcommand each."""

import json
from typing import Annotated

import typer
from rich.table import Table

from deployments.api_cli import api
from deployments.cli_support import console, load_settings, usage_errors
from deployments.export_cli import export_app
from deployments.identity_cli import tokens_app, users_app
from flows.settings import Settings

app = typer.Typer(help="exportflow: exports of business data, each one a Prefect flow.", no_args_is_help=True)
db_app = typer.Typer(help="App-database migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")

app.add_typer(export_app, name="export")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.command("api")(api)


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


@app.command()
def up(
    demo_rows: Annotated[
        int, typer.Option(help="Sales rows of the demo warehouse, when it has to be generated.")
    ] = 100_000,
) -> None:
    """Prepare and start the service on its embedded defaults (today: app database and demo warehouse)."""
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
    console.print(
        "The export flow, the API and the Prefect stack are not built yet (issues 2/5-5/5); "
        "nothing else to start."
    )
