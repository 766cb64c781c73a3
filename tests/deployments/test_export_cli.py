"""`exportflow export run`: a whole export from the command line, and its usage errors."""

import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deployments.cli import app
from deployments.cli_support import EXIT_FAILURE, EXIT_USAGE
from deployments.export_cli import parse_assignments
from flows.appdb.engine import app_sessions, transaction
from flows.appdb.models import User
from flows.errors import InvalidInputError

runner = CliRunner()


def test_assignments_take_json_lists_and_text() -> None:
    parsed = parse_assignments(
        ["date_from=2026-01-01", "region=EMEA,APAC", 'total_amount={"gte": 10}', "is_active=true"], "filters"
    )
    assert parsed == {
        "date_from": "2026-01-01",
        "region": ["EMEA", "APAC"],
        "total_amount": {"gte": 10},
        "is_active": True,
    }


def test_an_assignment_without_equals_names_its_position() -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse_assignments(["region=EMEA", "oops"], "filters")
    assert raised.value.field == "filters[1]"


@pytest.mark.usefixtures("prefect_api")
def test_export_run_prints_where_the_file_is(exportflow_env: Path) -> None:
    result = runner.invoke(
        app,
        [
            "export", "run", "--type", "sales", "--format", "csv",
            "--filter", "region=EMEA", "--columns", "order_number,total_amount",
            "--option", "csv_delimiter=;", "--recipient", "ops@example.com",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = dict(
        line.split(":", 1) for line in result.output.splitlines() if line.startswith(("file", "rows"))
    )
    stored = Path(lines["file"].strip().removeprefix("file://"))
    assert stored.is_file()
    header = stored.read_text(encoding="utf-8").splitlines()[0]
    assert header == "Order number;Total"
    assert int(lines["rows"].strip().replace(",", "")) == len(stored.read_text().splitlines()) - 1
    assert "sha256:" in result.output


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        (["--type", "sales", "--format", "xls"], "format"),
        (["--type", "secrets", "--format", "csv"], "export_type"),
        (["--type", "sales", "--format", "csv", "--filter", "colour=red"], "filters.colour"),
        (["--type", "sales", "--format", "csv", "--columns", "sale_id,nope"], "columns[1]"),
        (["--type", "sales", "--format", "csv", "--recipient", "not-an-address"], "recipients[0]"),
        (["--type", "sales", "--format", "csv", "--option", "timezone=Mars/Base"], "options.timezone"),
    ],
)
def test_bad_input_is_a_usage_error_naming_the_field(
    exportflow_env: Path, arguments: list[str], field: str
) -> None:
    result = runner.invoke(app, ["export", "run", *arguments])
    assert result.exit_code == EXIT_USAGE, result.output
    assert f"{field}:" in result.output


@pytest.mark.usefixtures("prefect_api")
def test_a_failed_export_exits_with_failure_and_its_reason(exportflow_env: Path) -> None:
    email = f"manager-{uuid.uuid4().hex[:8]}@example.com"
    with transaction(app_sessions()) as session:
        session.add(User(email=email, role="manager"))
    result = runner.invoke(app, ["export", "run", "--type", "payroll", "--format", "csv", "--owner", email])
    assert result.exit_code == EXIT_FAILURE, result.output
    assert "export failed: role manager may not export payroll data" in result.output
