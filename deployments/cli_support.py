"""What every `exportflow` subcommand shares: consoles, exit codes, settings and usage errors."""

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from flows.errors import ConfigurationError, InvalidInputError
from flows.settings import Settings, get_settings

console = Console()
errors = Console(stderr=True)

EXIT_FAILURE = 1
EXIT_USAGE = 2


def load_settings() -> Settings:
    """The settings, or a clear message and exit code 2 when they cannot run the service."""
    try:
        return get_settings()
    except ConfigurationError as error:
        errors.print(f"[red]configuration error:[/red] {error}")
        raise typer.Exit(EXIT_USAGE) from error


def require_migrated(database_url: str) -> None:
    """Exit 2 with a hint unless the app database is at the head revision (nothing is migrated here)."""
    from flows.appdb.migrations import current_revision, head_revision

    if current_revision(database_url) != head_revision():
        errors.print("the app database is not migrated: run `exportflow db upgrade` first")
        raise typer.Exit(EXIT_USAGE)


def require_prefect(settings: Settings) -> None:
    """Point Prefect at the configured server; exit 2 with a hint when no server is configured."""
    from flows.orchestration.flow_runs import prefect_configured
    from flows.orchestration.prefect_config import configure_prefect

    configure_prefect(settings)
    if not prefect_configured():
        errors.print("set EXPORTFLOW_PREFECT_API_URL (or PREFECT_API_URL) to the Prefect server's API first")
        raise typer.Exit(EXIT_USAGE)


@contextmanager
def usage_errors() -> Iterator[None]:
    """Turn a bad input into its field, its message and exit code 2."""
    try:
        yield
    except InvalidInputError as error:
        errors.print(f"[red]{error.field}:[/red] {error.message}")
        raise typer.Exit(EXIT_USAGE) from error
