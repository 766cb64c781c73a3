"""`exportflow exports|templates|types|stats` against a real uvicorn serving the app on a free port."""

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from typer.testing import CliRunner

from deployments.cli import app
from deployments.cli_support import EXIT_FAILURE, EXIT_USAGE
from flows.appdb.models import DataExport
from flows.exports.lifecycle import fail_export
from flows.settings import Settings
from tests.api.conftest import Caller, MakeExport

runner = CliRunner()


def cli(server: str, caller: Caller | None, *args: str) -> Any:
    env = {"EXPORTFLOW_URL": server, "EXPORTFLOW_TOKEN": caller.token if caller else ""}
    return runner.invoke(app, list(args), env={**env, "COLUMNS": "300"})


def created_export_id(output: str) -> str:
    """The id in the `export <id> <status>` line `exports create` prints after its estimate."""
    (line,) = [line for line in output.splitlines() if line.startswith("export ")]
    return line.split()[1]


def test_create_list_status_cancel_retry_delete(server: str, manager: Caller) -> None:
    created = cli(
        server, manager, "exports", "create", "--type", "sales", "--format", "json", "--filter", "region=EMEA"
    )
    assert created.exit_code == 0, created.output
    estimated, made = created.output.splitlines()  # what it will be is said before it is made
    assert estimated.split(" rows, about ")[0].replace(",", "").isdigit()
    assert made.startswith("export ")
    export_id = created_export_id(created.output)

    status = cli(server, manager, "exports", "status", export_id)
    listed = cli(server, manager, "exports", "list")
    cancelled = cli(server, manager, "exports", "cancel", export_id)
    cancelled_again = cli(server, manager, "exports", "cancel", export_id)
    retried = cli(server, manager, "exports", "retry", export_id)
    deleted = cli(server, manager, "exports", "delete", export_id)

    assert json.loads(status.stdout)["status"] == "pending"
    assert export_id in listed.output
    assert cancelled.exit_code == 0
    assert "cancelled" in cancelled.output
    assert cancelled_again.exit_code == EXIT_FAILURE
    assert retried.exit_code == 0
    assert export_id in retried.output
    assert deleted.exit_code == 0


def test_usage_errors_name_the_field(server: str, manager: Caller) -> None:
    sensitive = cli(server, manager, "exports", "create", "--type", "payroll")
    bad_column = cli(server, manager, "exports", "create", "--type", "sales", "--columns", "nope")
    no_token = cli(server, None, "exports", "list")
    not_admin = cli(server, manager, "stats")

    assert sensitive.exit_code == EXIT_USAGE
    assert "export_type" in sensitive.output
    assert bad_column.exit_code == EXIT_USAGE
    assert "columns[0]" in bad_column.output
    assert no_token.exit_code == EXIT_USAGE
    assert "EXPORTFLOW_TOKEN" in no_token.output
    assert not_admin.exit_code == EXIT_USAGE


def test_wait_follows_the_export_and_exits_1_when_it_fails(
    server: str, manager: Caller, sessions: Any
) -> None:
    def fail_the_new_export() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with sessions() as session:
                export_id = session.scalar(
                    select(DataExport.id).where(
                        DataExport.created_by == manager.id, DataExport.status == "pending"
                    )
                )
            if export_id is not None:
                time.sleep(0.5)  # let the command start following it
                fail_export(sessions, export_id, "the warehouse was unreachable")
                return
            time.sleep(0.1)

    failer = threading.Thread(target=fail_the_new_export)
    failer.start()
    waited = cli(server, manager, "exports", "create", "--type", "sales", "--wait")
    failer.join()

    assert waited.exit_code == EXIT_FAILURE, waited.output
    assert "failed: the warehouse was unreachable" in waited.output


def test_download_saves_a_checked_file(
    server: str, api_settings: Settings, manager: Caller, make_export: MakeExport, tmp_path: Path
) -> None:
    export_id = make_export(api_settings, manager)
    target = tmp_path / "out.csv"

    result = cli(server, manager, "exports", "download", str(export_id), str(target))

    assert result.exit_code == 0, result.output
    row = httpx.get(f"{server}/api/v1/exports/{export_id}", headers=manager.headers).json()["data"]
    assert hashlib.sha256(target.read_bytes()).hexdigest() == row["checksum_sha256"]
    assert target.stat().st_size == row["file_size"]


def test_templates_and_types(server: str, manager: Caller) -> None:
    created = cli(server, manager, "templates", "create", "--name", "Weekly", "--type", "sales", "--public")
    template_id = created.output.split()[1]
    listed = cli(server, manager, "templates", "list")
    types = cli(server, manager, "types")
    deleted = cli(server, manager, "templates", "delete", template_id)

    assert created.exit_code == 0, created.output
    assert template_id in listed.output
    assert "sales" in types.output
    assert "payroll" not in types.output
    assert deleted.exit_code == 0


def test_schedules_create_list_next_runs_pause_resume_delete(
    server: str, admin: Caller, manager: Caller
) -> None:
    daily = ["--frequency", "daily", "--at", "09:00", "--timezone", "Europe/Berlin", "--format", "excel"]
    created = cli(server, admin, "schedules", "create", "--name", "Morning sales", "--type", "sales", *daily)
    assert created.exit_code == 0, created.output
    schedule_id = created.output.split()[1]

    listed = cli(server, admin, "schedules", "list")
    upcoming = cli(server, admin, "schedules", "next-runs", schedule_id, "--count", "3")
    paused = cli(server, admin, "schedules", "pause", schedule_id)
    only_paused = cli(server, admin, "schedules", "list", "--paused")
    resumed = cli(server, admin, "schedules", "resume", schedule_id)
    refused = cli(server, manager, "schedules", "list")
    bad_zone = cli(
        server,
        admin,
        "schedules",
        "create",
        "--name",
        "x",
        "--type",
        "sales",
        *daily[:2],
        "--timezone",
        "Mars/Base",
    )
    deleted = cli(server, admin, "schedules", "delete", schedule_id)

    assert schedule_id in listed.output
    local_times = [line.split()[3] for line in upcoming.output.splitlines() if line.strip()]
    assert local_times == ["09:00"] * 3
    assert paused.exit_code == 0
    assert schedule_id in only_paused.output
    assert resumed.exit_code == 0
    assert refused.exit_code == EXIT_USAGE
    assert bad_zone.exit_code == EXIT_USAGE
    assert "timezone" in bad_zone.output
    assert deleted.exit_code == 0


def test_create_takes_a_rule_and_webhooks_and_resend_sends_again(
    server: str, api_settings: Settings, manager: Caller, make_export: MakeExport, sessions: Any
) -> None:
    created = cli(
        server,
        manager,
        "exports",
        "create",
        "--type",
        "sales",
        "--deliver",
        "if_rows",
        "--webhook",
        "https://8.8.8.8/hook?token=x",
    )
    assert created.exit_code == 0, created.output
    created_id = created_export_id(created.output)
    row = httpx.get(f"{server}/api/v1/exports/{created_id}", headers=manager.headers).json()
    assert (row["data"]["deliver"], row["data"]["webhook_urls"]) == ("if_rows", ["https://8.8.8.8/hook"])

    private = cli(server, manager, "exports", "create", "--type", "sales", "--webhook", "http://127.0.0.1/x")
    assert private.exit_code == EXIT_USAGE
    assert "webhook_urls[0]" in private.output

    export_id = make_export(api_settings, manager)
    resent = cli(server, manager, "exports", "resend", str(export_id))
    assert resent.exit_code == 0, resent.output
    pending = cli(server, manager, "exports", "resend", created_id)
    assert pending.exit_code == EXIT_FAILURE
    assert "only completed exports can be resent" in pending.output


def test_schedules_create_takes_a_rule_and_webhooks(server: str, admin: Caller) -> None:
    daily = ["--frequency", "daily", "--name", "Hooked", "--type", "sales"]
    hooks = ["--deliver", "if_changed", "--webhook", "https://8.8.8.8/in"]
    created = cli(server, admin, "schedules", "create", *daily, *hooks)
    assert created.exit_code == 0, created.output
    schedule = httpx.get(
        f"{server}/api/v1/exports/schedules/{created.output.split()[1]}", headers=admin.headers
    )
    assert (schedule.json()["data"]["deliver"], schedule.json()["data"]["webhook_urls"]) == (
        "if_changed",
        ["https://8.8.8.8/in"],
    )
