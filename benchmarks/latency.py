"""POST -> completed latency of a small export on the embedded stack: the warm worker against Prefect's
stock process worker, measured in the same run on the same machine, database and Prefect server.

    .venv/bin/python benchmarks/latency.py [--runs 20] [--rows 1000]

Phase "warm": `exportflow up` in a scratch HOME on free ports, exactly as a newcomer runs it (its demo
warehouse made with --rows sales rows). Phase "stock": the same HOME started again piece by piece (the
Prefect server on the same SQLite database, `exportflow api`) with `prefect worker start --pool exportflow
--type process` instead of the warm worker, polling as often (EXPORTFLOW_WORKER_POLL_SECONDS).

A run is: POST /api/v1/exports (every sales row as CSV) then GET /api/v1/exports/status/{id} every 50 ms
(rate limits raised out of the way) until it reads completed; its latency runs from just before the POST
to that answer. Runs go one after the other, in two modes (MODES): "settled", each once the previous
flow run is final in Prefect and a second has passed, as a user's occasional export meets the stack;
and "back-to-back", each as soon as the previous export reads completed. One warm-up run per phase is
not counted. Prints p50, p90 and max per phase with the 503s the Prefect server answered meanwhile
(SQLite's "database is locked"), the stock/warm ratio of the p50s, and whether the warm figures meet
the targets (TARGETS). Figures from a busy machine are upper bounds.
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from deployments.prefect_server import CLIENT_ENVIRONMENT
from deployments.supervisor import Child, Supervisor, answers_ok
from deployments.up_cli import BIN, LOOPBACK, prefect_server
from flows.settings import Settings

TARGETS = {"settled": (1.5, None), "back-to-back": (2.0, 4.0)}
"""Per mode: the warm p50 under this many seconds, and the warm max under this many (None: no limit)."""
POLL_SECONDS = 0.05
"""How often the measuring client reads the status: a completion is seen at most this late, and the
reads stay light (at 20 ms they cost the API 0.3 CPU-seconds a run, taken from the run measured on
two cores)."""
RUN_TIMEOUT_SECONDS = 120.0
START_TIMEOUT_SECONDS = 180.0
WARM_UP_RUNS = 1
SETTLE_SECONDS = 1.0
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
WARM = "warm (exportflow up)"
STOCK = "stock process worker"
MODES = {"settled": True, "back-to-back": False}
"""settled: each request reaches an idle stack (the previous flow run final in Prefect, then a second);
back-to-back: the next request goes as soon as the previous export reads completed, while its flow run
still finishes (and the Prefect server on SQLite still writes its events)."""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20, help="Measured runs per phase.")
    parser.add_argument("--rows", type=int, default=1000, help="Sales rows in the demo warehouse.")
    arguments = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))  # stop the stacks on the way out
    with tempfile.TemporaryDirectory(prefix="exportflow-latency-") as scratch:
        home = Path(scratch) / "var"
        api_port, prefect_port = _free_port(), _free_port()
        api_url = f"http://{LOOPBACK}:{api_port}"
        environment = {
            **{
                name: value
                for name, value in os.environ.items()
                if not name.startswith(("PREFECT_", "EXPORTFLOW_"))
            },
            "EXPORTFLOW_HOME": str(home),
            "PREFECT_HOME": str(home / "prefect"),
            # out of the way of 50 status reads a second: the limiter still does its work on each
            "EXPORTFLOW_RATE_LIMIT_REQUESTS": "1000000",
            "EXPORTFLOW_RATE_LIMIT_CREATE_REQUESTS": "1000000",
            # each 503 the Prefect server answers (SQLite's "database is locked") becomes a log line
            "PREFECT_SERVER_LOG_RETRYABLE_ERRORS": "true",
        }
        prefect_api = f"http://{LOOPBACK}:{prefect_port}/api"
        figures: dict[tuple[str, str], list[float]] = {}
        unavailable: dict[tuple[str, str], int] = {}
        with _exportflow_up(environment, home, api_port, prefect_port, arguments.rows) as token:
            for mode, settle in MODES.items():
                with _counting_503s(home / "logs" / "prefect-server.log", unavailable, (WARM, mode)):
                    figures[WARM, mode] = _measure(api_url, prefect_api, token, arguments.runs, settle)
        with _stock_stack(environment, home, api_port, prefect_port):
            for mode, settle in MODES.items():
                with _counting_503s(home / "logs" / "stock-prefect-server.log", unavailable, (STOCK, mode)):
                    figures[STOCK, mode] = _measure(api_url, prefect_api, token, arguments.runs, settle)
    _report(arguments.runs, arguments.rows, figures, unavailable)


@contextmanager
def _exportflow_up(
    environment: dict[str, str], home: Path, api_port: int, prefect_port: int, rows: int
) -> Iterator[str]:
    """`exportflow up` until the block ends (then SIGTERM); yields the bootstrap token it printed."""
    output = home.parent / "up.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [
                *(str(BIN / "exportflow"), "up", "--port", str(api_port)),
                *("--prefect-port", str(prefect_port), "--demo-rows", str(rows)),
            ],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while "Ctrl-C stops everything" not in output.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"exportflow up did not come up:\n{output.read_text()}")
            time.sleep(0.5)
        yield next(line for line in output.read_text().splitlines() if line.startswith("ef_"))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


@contextmanager
def _stock_stack(environment: dict[str, str], home: Path, api_port: int, prefect_port: int) -> Iterator[None]:
    """The same Prefect server, database and API, with Prefect's stock process worker."""
    prefect_api = f"http://{LOOPBACK}:{prefect_port}/api"
    logs = home / "logs"
    exportflow = {
        **CLIENT_ENVIRONMENT,  # as exportflow up gives them
        **environment,
        "EXPORTFLOW_PREFECT_API_URL": prefect_api,
        "EXPORTFLOW_API_PORT": str(api_port),
        "EXPORTFLOW_API_PUBLIC_URL": f"http://{LOOPBACK}:{api_port}",
    }
    poll_seconds = str(Settings.model_fields["worker_poll_seconds"].default)  # as the warm worker polls
    supervisor = Supervisor()
    try:
        server = supervisor.start(
            prefect_server(prefect_port, environment, logs / "stock-prefect-server.log")
        )
        supervisor.wait_ready(
            server, lambda: answers_ok(f"{prefect_api}/health"), "its API", START_TIMEOUT_SECONDS
        )
        api = supervisor.start(
            Child("api", [str(BIN / "exportflow"), "api"], exportflow, logs / "stock-api.log")
        )
        supervisor.start(
            Child(
                "stock-worker",
                [str(BIN / "prefect"), "worker", "start", "--pool", "exportflow", "--type", "process"],
                {**exportflow, "PREFECT_API_URL": prefect_api, "PREFECT_WORKER_QUERY_SECONDS": poll_seconds},
                logs / "stock-worker.log",
            )
        )
        url = f"http://{LOOPBACK}:{api_port}/health"
        supervisor.wait_ready(api, lambda: answers_ok(url), "its /health", START_TIMEOUT_SECONDS)
        yield
    finally:
        supervisor.stop()


@contextmanager
def _counting_503s(log: Path, counts: dict[tuple[str, str], int], line: tuple[str, str]) -> Iterator[None]:
    """Count the 503s (retryable errors) the Prefect server logged while the block ran."""
    before = _retryable_errors(log)
    yield
    counts[line] = _retryable_errors(log) - before


def _retryable_errors(log: Path) -> int:
    return log.read_text(errors="replace").count("Encountered retryable exception in request")


def _measure(api_url: str, prefect_api: str, token: str, runs: int, settle: bool) -> list[float]:
    """Seconds from POST to a completed status, per run (after the warm-up runs). With `settle`, each
    run starts only once the previous flow run is final in Prefect and SETTLE_SECONDS have passed."""
    headers = {"Authorization": f"Bearer {token}"}
    body = {"export_name": "latency", "export_type": "sales", "format": "csv"}
    latencies = []
    with (
        httpx.Client(base_url=f"{api_url}/api/v1", headers=headers, timeout=30.0) as client,
        httpx.Client(base_url=prefect_api, timeout=30.0) as prefect,
    ):
        for run in range(WARM_UP_RUNS + runs):
            began = time.monotonic()
            created = client.post("/exports", json=body)
            created.raise_for_status()
            export_id = created.json()["data"]["id"]
            while (status := _status(client, export_id))["status"] != "completed":
                waited = time.monotonic() - began
                if status["status"] in {"failed", "cancelled"} or waited > RUN_TIMEOUT_SECONDS:
                    raise SystemExit(f"export {export_id} is {status['status']} after {waited:.1f} s")
                time.sleep(POLL_SECONDS)
            if run >= WARM_UP_RUNS:
                latencies.append(time.monotonic() - began)
            if settle:
                while prefect.get(f"/flow_runs/{status['flow_run_id']}").json()["state_type"] not in FINAL:
                    time.sleep(POLL_SECONDS)
                time.sleep(SETTLE_SECONDS)
    return latencies


def _status(client: httpx.Client, export_id: str) -> dict[str, Any]:
    answer = client.get(f"/exports/status/{export_id}")
    answer.raise_for_status()
    data: dict[str, Any] = answer.json()["data"]
    return data


def _report(
    runs: int, rows: int, figures: dict[tuple[str, str], list[float]], unavailable: dict[tuple[str, str], int]
) -> None:
    print(f"POST -> completed, {rows:,}-row sales CSV, {runs} runs per line, one after the other")
    print(f"{'worker':<24} {'mode':<14} {'p50 s':>7} {'p90 s':>7} {'max s':>7} {'503s':>5}")
    for (worker, mode), latencies in figures.items():
        deciles = statistics.quantiles(latencies, n=10)
        median = statistics.median(latencies)
        shown = f"{median:7.2f} {deciles[8]:7.2f} {max(latencies):7.2f} {unavailable[worker, mode]:5}"
        print(f"{worker:<24} {mode:<14} {shown}")
    for mode in MODES:
        warm = statistics.median(figures[WARM, mode])
        ratio = statistics.median(figures[STOCK, mode]) / warm
        p50_target, max_target = TARGETS[mode]
        verdicts = [f"warm p50 {'meets' if warm < p50_target else 'misses'} < {p50_target} s"]
        if max_target is not None:
            worst = max(figures[WARM, mode])
            verdicts.append(f"warm max {'meets' if worst < max_target else 'misses'} < {max_target} s")
        print(f"{mode}: stock p50 / warm p50 {ratio:.1f}x; " + "; ".join(verdicts))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


if __name__ == "__main__":
    main()
