"""`exportflow up` end to end: the whole stack started as a newcomer would, in a temporary folder on free
ports, used through the Python client, the command-line client and plain HTTP, then stopped with
SIGTERM, leaving no process behind."""

import csv
import json
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from exportflow_client import (
    ExportCreate,
    ExportflowClient,
    ExportFormat,
    ExportStatus,
    ExportType,
    Frequency,
    ScheduleCreate,
)
from tests.network import LOOPBACK, free_port
from tests.processes import inherited_environment

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
DEMO_ROWS = 100_000
"""Sales rows: their PDF renders for several seconds, long enough to cancel it mid-run."""
START_TIMEOUT_SECONDS = 180.0
STOP_LIMIT_SECONDS = 20.0
WAIT_SECONDS = 120.0
SUFFIXES = {
    ExportFormat.CSV: ".csv",
    ExportFormat.EXCEL: ".xlsx",
    ExportFormat.PDF: ".pdf",
    ExportFormat.JSON: ".json",
    ExportFormat.PARQUET: ".parquet",
}


@dataclass
class Up:
    """A running `exportflow up` and how to reach it."""

    process: subprocess.Popen[bytes]
    home: Path
    output: Path
    api_url: str
    prefect_api: str
    token: str
    seen: dict[int, psutil.Process]
    """Every process seen under `up` while it ran (sampled), by pid."""

    def client(self) -> ExportflowClient:
        return ExportflowClient(self.api_url, self.token)

    def environment(self) -> dict[str, str]:
        return {**inherited_environment(), "EXPORTFLOW_URL": self.api_url, "EXPORTFLOW_TOKEN": self.token}

    def sample_processes(self) -> None:
        for process in psutil.Process(self.process.pid).children(recursive=True):
            self.seen.setdefault(process.pid, process)

    def prefect(self, method: str, path: str, **kwargs: object) -> object:
        answer = httpx.request(method, f"{self.prefect_api}{path}", timeout=10.0, **kwargs)  # type: ignore[arg-type]
        answer.raise_for_status()
        return answer.json()


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    stack = _start_up(tmp_path_factory.mktemp("up"), free_port(), free_port())
    try:
        yield stack
    finally:
        _kill(stack)


def _start_up(root: Path, api_port: int, prefect_port: int) -> Up:
    """`exportflow up` in `root` (HOME root/var) on these ports, once it printed its banner."""
    output = root / "up.out"
    command = [str(BIN / "exportflow"), "up", "--port", str(api_port), "--prefect-port", str(prefect_port)]
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--demo-rows", str(DEMO_ROWS)],
            cwd=root,
            env={**inherited_environment(), "EXPORTFLOW_HOME": str(root / "var")},
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    stack = Up(
        process,
        root / "var",
        output,
        f"http://{LOOPBACK}:{api_port}",
        f"http://{LOOPBACK}:{prefect_port}/api",
        "",
        {},
    )
    try:
        _wait_for_banner(process, output)
    except BaseException:
        _kill(stack)
        raise
    printed = [line for line in output.read_text().splitlines() if line.startswith("ef_")]
    stack.token = printed[-1] if printed else ""  # printed on the first start only
    stack.sample_processes()
    return stack


def _kill(stack: Up) -> None:
    """Whatever of `stack` still runs, killed."""
    if stack.process.poll() is None:
        for member in psutil.Process(stack.process.pid).children(recursive=True):
            member.kill()
        stack.process.kill()
        stack.process.wait()


def _wait_for_banner(process: subprocess.Popen[bytes], output: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while "Ctrl-C stops everything" not in output.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"exportflow up did not come up:\n{output.read_text()}")
        time.sleep(0.5)


def test_the_first_start_prints_what_a_newcomer_needs(up: Up) -> None:
    text = up.output.read_text()
    assert f"{up.api_url}/docs" in text
    assert up.prefect_api.removesuffix("/api") in text
    assert f"curl -H 'Authorization: Bearer {up.token}'" in text
    created = httpx.post(
        f"{up.api_url}/api/v1/exports",
        headers={"Authorization": f"Bearer {up.token}"},
        json={"export_name": "demo", "export_type": "sales", "format": "csv"},
        timeout=10.0,
    )
    assert created.status_code == 201, created.text
    with up.client() as client:
        assert client.wait(uuid.UUID(created.json()["data"]["id"])).status == ExportStatus.COMPLETED


def test_every_format_runs_and_downloads_through_its_signed_link(up: Up, tmp_path: Path) -> None:
    with up.client() as client:
        exports = {
            kind: client.create_export(
                ExportCreate(export_name=f"customers {kind}", export_type=ExportType.CUSTOMERS, format=kind)
            )
            for kind in SUFFIXES
        }
        up.sample_processes()
        flow_runs = []
        for kind, export in exports.items():
            final = client.wait(export.id)
            flow_runs.append(str(final.flow_run_id))
            assert final.status == ExportStatus.COMPLETED, final
            target = tmp_path / f"customers{SUFFIXES[kind]}"
            client.download(export.id, target)  # the signed link, its sha256 checked
            assert _rows_in(kind, target) == final.record_count > 0
    runs = up.prefect(
        "POST",
        "/flow_runs/filter",
        json={"flow_runs": {"id": {"any_": flow_runs}}},
    )
    assert isinstance(runs, list)
    assert sorted(run["state_type"] for run in runs) == ["COMPLETED"] * len(SUFFIXES)


def _rows_in(kind: ExportFormat, path: Path) -> int:
    """Data rows in a downloaded file, read back by a library for its format (PDF: the count its first
    page states)."""
    if kind is ExportFormat.CSV:
        with path.open(newline="", encoding="utf-8") as handle:
            return sum(1 for _ in csv.reader(handle)) - 1
    if kind is ExportFormat.EXCEL:
        workbook = load_workbook(path, read_only=True)
        try:
            return sum(1 for _ in workbook.worksheets[0].iter_rows(values_only=True)) - 1
        finally:
            workbook.close()
    if kind is ExportFormat.JSON:
        return len(json.loads(path.read_text()))
    if kind is ExportFormat.PARQUET:
        return int(pq.read_metadata(path).num_rows)
    first_page = PdfReader(path).pages[0].extract_text()
    return int(re.search(r"Rows: ([\d,]+)", first_page).group(1).replace(",", ""))  # type: ignore[union-attr]


def test_the_command_line_client_creates_waits_and_downloads(up: Up, tmp_path: Path) -> None:
    target = tmp_path / "sales.xlsx"
    finished = subprocess.run(
        [
            str(BIN / "exportflow"),
            "exports",
            "create",
            "--type",
            "sales",
            "--format",
            "excel",
            "--filter",
            "region=EMEA",
            "--columns",
            "order_number,sale_date,total_amount",
            "--wait",
            "--download",
            str(target),
        ],
        env=up.environment(),
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    workbook = load_workbook(target, read_only=True)
    try:
        header = next(workbook.worksheets[0].iter_rows(max_row=1, values_only=True))
    finally:
        workbook.close()
    assert len(header) == 3


def test_a_long_export_is_cancelled_and_its_retry_completes(up: Up) -> None:
    with up.client() as client:
        long = client.create_export(
            ExportCreate(export_name="all sales", export_type=ExportType.SALES, format=ExportFormat.PDF)
        )
        _wait_until_processing(client, long.id)
        up.sample_processes()  # its flow-run process, forked by the worker's forkserver
        client.cancel(long.id)
        cancelled = client.wait(long.id)
        assert cancelled.status == ExportStatus.CANCELLED
        _wait_for_state(up, cancelled.flow_run_id, "CANCELLED")
        retried = client.retry(long.id)
        assert retried.retry_of == long.id
        assert client.wait(retried.id).status == ExportStatus.COMPLETED


def _wait_until_processing(client: ExportflowClient, export_id: uuid.UUID) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while client.status(export_id).status != ExportStatus.PROCESSING:
        assert time.monotonic() < deadline, "the export never started processing"
        time.sleep(0.1)


def _wait_for_state(up: Up, flow_run_id: uuid.UUID | None, state_type: str) -> dict[str, object]:
    assert flow_run_id is not None
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        run = up.prefect("GET", f"/flow_runs/{flow_run_id}")
        assert isinstance(run, dict)
        if run["state_type"] == state_type:
            return run
        assert time.monotonic() < deadline, f"flow run {flow_run_id} stayed {run['state_type']}"
        time.sleep(0.25)


def test_flow_runs_carry_their_progress_and_summary_artifacts(up: Up) -> None:
    with up.client() as client:
        export = client.create_export(
            ExportCreate(export_name="inventory", export_type=ExportType.INVENTORY, format=ExportFormat.CSV)
        )
        assert client.wait(export.id).status == ExportStatus.COMPLETED
        flow_run_id = client.status(export.id).flow_run_id
    _wait_for_state(up, flow_run_id, "COMPLETED")
    artifacts = up.prefect(
        "POST", "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}}
    )
    assert isinstance(artifacts, list)
    by_type = {artifact["type"]: artifact for artifact in artifacts}
    assert by_type["progress"]["data"] == 100
    assert by_type["markdown"]["key"] == "export-summary"
    assert str(export.id) in by_type["markdown"]["data"]


def test_a_schedule_appears_on_the_export_deployment_in_prefect(up: Up) -> None:
    with up.client() as client:
        schedule = client.create_schedule(
            ScheduleCreate(
                schedule_name="nightly sales",
                export_type=ExportType.SALES,
                format=ExportFormat.CSV,
                frequency=Frequency.DAILY,
                time_of_day="02:30",
                timezone="Europe/Berlin",
            )
        )
        deadline = time.monotonic() + WAIT_SECONDS
        while not (schedule := client.get_schedule(schedule.id)).prefect_synced:
            assert time.monotonic() < deadline, "the schedule never reached Prefect"
            time.sleep(0.5)
    deployment = up.prefect("GET", "/deployments/name/export/export")
    assert isinstance(deployment, dict)
    in_prefect = up.prefect("GET", f"/deployments/{deployment['id']}/schedules")
    assert isinstance(in_prefect, list)
    (ours,) = [item for item in in_prefect if item["id"] == str(schedule.prefect_schedule_id)]
    assert ours["schedule"]["cron"] == "30 2 * * *"
    assert ours["schedule"]["timezone"] == "Europe/Berlin"
    assert ours["active"] is True


def test_sigterm_stops_everything_within_the_limit_and_leaves_nothing_running(up: Up) -> None:
    with up.client() as client:  # a busy worker: a flow-run process to stop as well
        busy = client.create_export(
            ExportCreate(export_name="busy", export_type=ExportType.SALES, format=ExportFormat.PDF)
        )
        _wait_until_processing(client, busy.id)
    up.sample_processes()
    assert len(up.seen) >= 4, up.seen  # the Prefect server, the worker, its forkserver, the API at least
    began = time.monotonic()
    up.process.send_signal(signal.SIGTERM)
    up.process.wait(timeout=STOP_LIMIT_SECONDS + 10)
    took = time.monotonic() - began
    assert up.process.returncode == 0, up.output.read_text()
    assert took < STOP_LIMIT_SECONDS, up.output.read_text()
    still = [process for process in up.seen.values() if _alive(process)]
    assert still == [], [process.cmdline() for process in still]
    for url in (up.api_url, up.prefect_api):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health", timeout=2.0)


def _alive(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def test_kill_9_of_up_takes_its_children_along_and_the_next_up_starts_on_the_same_ports(
    tmp_path: Path,
) -> None:
    api_port, prefect_port = free_port(), free_port()
    first = _start_up(tmp_path, api_port, prefect_port)
    assert len(first.seen) >= 4, first.seen  # the Prefect server, the worker, its forkserver, the API

    first.process.kill()  # SIGKILL: up stops nothing itself
    first.process.wait()
    deadline = time.monotonic() + STOP_LIMIT_SECONDS
    while (still := [process for process in first.seen.values() if _alive(process)]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    left = [" ".join(process.cmdline()) for process in still]
    for orphan in still:  # not to outlive the test when it fails
        orphan.kill()
    assert left == []

    again = _start_up(tmp_path, api_port, prefect_port)  # the same HOME and ports
    try:
        assert again.process.poll() is None
        assert httpx.get(f"{again.api_url}/health", timeout=5.0).status_code == httpx.codes.OK
        assert httpx.get(f"{again.prefect_api}/health", timeout=5.0).status_code == httpx.codes.OK
    finally:
        again.process.send_signal(signal.SIGTERM)
        again.process.wait(timeout=STOP_LIMIT_SECONDS + 10)
        _kill(again)
