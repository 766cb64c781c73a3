"""The scale-out drill (benchmarks/scale.py) with small numbers: 12 exports created at once through two API
replicas, with 1 then 2 warm workers, on Prefect and the app database on PostgreSQL. It runs the drill
command itself and reads its JSON report."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.processes import inherited_environment

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPOSITORY = Path(__file__).resolve().parents[2]
EXPORTS = 12
WORKERS = [1, 2]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("scale") / "report.json"
    command = [
        sys.executable,
        "-m",
        "benchmarks.scale",
        "--exports",
        str(EXPORTS),
        "--workers",
        ",".join(map(str, WORKERS)),
        "--users",
        "5",
        "--report",
        str(path),
    ]
    finished = subprocess.run(
        command, cwd=REPOSITORY, env=inherited_environment(), capture_output=True, text=True, timeout=840
    )
    assert path.exists(), (
        f"no report (exit {finished.returncode}):\n{finished.stdout[-4000:]}\n{finished.stderr[-4000:]}"
    )
    loaded: dict[str, Any] = json.loads(path.read_text())
    loaded["output"] = finished.stdout
    return loaded


def test_every_export_completes_exactly_once_at_each_worker_count(report: dict[str, Any]) -> None:
    assert [step["workers"] for step in report["steps"]] == WORKERS
    for step in report["steps"]:
        assert step["acknowledged"] == EXPORTS, step["create_statuses"]
        assert step["counts"]["completed"] == EXPORTS
        assert step["counts"]["stuck"] == 0
        assert step["problems"] == {}, step
        assert step["flow_run_states"] == {"COMPLETED": EXPORTS}
        assert step["exports_per_minute"] > 0


def test_two_replicas_spend_one_rate_limit_budget(report: dict[str, Any]) -> None:
    limits = report["rate_limits"]
    assert limits["ok"] == limits["budget"]
    assert limits["limited"] == limits["expected_limited"]


def test_concurrent_creates_with_one_idempotency_key_make_one_export_and_one_flow_run(
    report: dict[str, Any],
) -> None:
    idempotency = report["idempotency"]
    assert idempotency["statuses"] == {"201": idempotency["requests"]}
    assert len(idempotency["export_ids"]) == 1
    assert idempotency["rows"] == 1
    assert idempotency["flow_runs"] == 1
    assert idempotency["problems"] == {}


def test_the_drill_passes_and_prints_its_throughput_table(report: dict[str, Any]) -> None:
    assert report["passed"] is True
    assert "exports/min" in report["output"]
