"""The exportflow command: settings shown masked, migrations applied, usage errors told apart."""

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from deployments.cli import app
from deployments.cli_support import EXIT_USAGE
from flows.appdb.migrations import current_revision, head_revision
from flows.demo_warehouse import warehouse_is_populated
from flows.pipeline.sources import parse_source
from flows.settings import get_settings

runner = CliRunner()


def test_config_masks_secrets_and_url_passwords(fresh_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORTFLOW_SOURCE_URL", "postgresql://reader:s3cr3t@warehouse:5432/dw")
    result = runner.invoke(app, ["config", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["source_url"] == "postgresql://reader:********@warehouse:5432/dw"
    assert shown["jwt_secret"] == "********"
    assert "s3cr3t" not in result.output
    assert (fresh_home / "secrets" / "jwt_secret").read_text() not in result.output


def test_config_table_names_every_variable(fresh_home: Path) -> None:
    result = runner.invoke(app, ["config"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "EXPORTFLOW_DATABASE_URL" in result.output
    assert "EXPORTFLOW_SENSITIVE_EXPORT_TYPES" in result.output


def test_config_error_is_a_usage_error(fresh_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORTFLOW_ENVIRONMENT", "production")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == EXIT_USAGE
    assert "EXPORTFLOW_JWT_SECRET must be set" in result.output


def test_db_upgrade_then_current(fresh_home: Path) -> None:
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert (fresh_home / "app.db").exists()
    current = runner.invoke(app, ["db", "current"])
    assert current.exit_code == 0
    assert current.output.strip() == f"{head_revision()} (head)"
    reverted = runner.invoke(app, ["db", "downgrade", "base"])
    assert reverted.exit_code == 0, reverted.output
    assert reverted.output.strip().startswith("base (no migration applied")


def test_demo_data_rejects_a_bad_row_count(fresh_home: Path) -> None:
    result = runner.invoke(app, ["demo-data", "--rows", "0"])
    assert result.exit_code == EXIT_USAGE
    assert "rows:" in result.output
    assert not (fresh_home / "warehouse.duckdb").exists()


def test_demo_data_fills_a_given_source(fresh_home: Path) -> None:
    target = fresh_home / "elsewhere.duckdb"
    result = runner.invoke(app, ["demo-data", "--rows", "200", "--source", f"duckdb://{target}"])
    assert result.exit_code == 0, result.output
    assert warehouse_is_populated(parse_source(str(target)))
    assert "sales" in result.output


def test_up_prepares_a_fresh_instance_once(fresh_home: Path) -> None:
    first = runner.invoke(app, ["up", "--demo-rows", "200", "--no-serve"], terminal_width=400)
    assert first.exit_code == 0, first.output
    assert "demo warehouse generated" in first.output
    token = next(line for line in first.output.splitlines() if line.startswith("ef_"))
    with TestClient(create_app(get_settings())) as client:
        listed = client.get("/api/v1/exports", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    assert current_revision(f"sqlite:///{fresh_home / 'app.db'}") is not None
    assert warehouse_is_populated(parse_source(str(fresh_home / "warehouse.duckdb")))

    second = runner.invoke(app, ["up", "--demo-rows", "200", "--no-serve"])
    assert second.exit_code == 0, second.output
    assert "demo warehouse generated" not in second.output
    assert "ef_" not in second.output
