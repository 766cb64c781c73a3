"""`exportflow cleanup`: the export-cleanup flow's steps, run in this process without Prefect."""

from typing import Annotated

import typer

from deployments.cli_support import load_settings, require_migrated


def cleanup(
    remove_orphans: Annotated[
        bool, typer.Option("--remove-orphans", help="Also remove stored files no export references.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be done; change nothing.")
    ] = False,
) -> None:
    """Expire exports past their retention, remove old work files, report orphans (remove them if asked)."""
    from flows.appdb.engine import app_sessions
    from flows.cleanup import Cleanup, clean_up

    settings = load_settings()
    require_migrated(settings.database_url)
    run = Cleanup.configured(settings, app_sessions(), remove_orphans=remove_orphans, dry_run=dry_run)
    report = clean_up(run)
    if dry_run:
        typer.echo("dry run: nothing was changed; the counts are what a run would do")
    for name, value in report.counts().items():
        typer.echo(f"{name}: {value}")
    for key in report.orphan_keys:
        typer.echo(f"orphan: {key}")
