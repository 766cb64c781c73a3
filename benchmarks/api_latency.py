"""Latency of export status reads at a fixed arrival rate, against the unauthenticated /health route.

    uv run python benchmarks/api_latency.py [--rate 200] [--seconds 30] [--exports 20] [--auth token|jwt]

Creates a scratch PostgreSQL app database (migrated), a manager with an API token (or a JWT with
--auth jwt) and --exports rows of theirs (half completed, half pending without a flow run), then
starts `exportflow api` on it as a subprocess: one uvicorn process, rate limits raised out of the
way (a one-second window of 100 x --rate requests, so the limiter still does its work), no Prefect
(no PREFECT_API_URL, so no status read asks Prefect anything), access log on (to a file in the
scratch folder, shown if the server fails to start).

The load is open-loop: request i is due at start + i / rate and is sent then, whether or not
earlier answers came back; its latency runs from that due time to the answer. A stall of the
server or of the client therefore shows in the figures instead of delaying the next sends
(coordinated omission). Each phase first warms up for a second at the same rate. Phases:

- status: GET /api/v1/exports/status/{id}, cycling through the rows (authentication, rate limit,
  permission and ownership checks, the row read, the envelope);
- health: GET /health, the same load on a route with none of that: the floor of uvicorn, the
  middleware and this client on this machine.

Prints p50/p90/p99/max in milliseconds, errors (any answer but 200, or no answer) and the rate
reached, the server's CPU time per request (Linux /proc), and whether the status p99 meets the
target of 25 ms. Client and server share the machine's CPUs: figures from a busy machine are
upper bounds. The client's garbage collector is off while it measures (its pauses would read as
server latency); the server freezes its start-up objects out of collection (api/app.py).
"""

import argparse
import asyncio
import gc
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from common import scratch_database

from flows.appdb import migrations
from flows.appdb.engine import make_engine, session_factory, transaction
from flows.appdb.identity import create_user, issue_access_token, issue_api_token
from flows.appdb.models import DataExport
from flows.settings import Settings
from flows.vocabulary import ExportStatus, Role

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_P99_MS = 25.0
WARMUP_SECONDS = 1.0
REQUEST_TIMEOUT_SECONDS = 10.0
STARTUP_TIMEOUT_SECONDS = 60.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Fixture:
    """What the load needs from the database: the caller's bearer value and the ids to read."""

    bearer: str
    export_ids: list[uuid.UUID]


@dataclass(frozen=True)
class Result:
    latencies_ms: list[float]
    errors: int
    seconds: float
    server_cpu_seconds: float = 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each measured phase")
    parser.add_argument("--exports", type=int, default=20, help="export rows whose status is read")
    parser.add_argument("--auth", choices=("token", "jwt"), default="token", help="API token or bearer JWT")
    parser.add_argument("--postgres", default=POSTGRES_URL, help="admin URL of the PostgreSQL server")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, scratch_database(args.postgres) as database_url:
        home = Path(folder)
        migrations.upgrade(database_url)
        fixture = _fill(Settings(home=home, database_url=database_url), args.exports, args.auth)
        log = home / "api.log"
        with _server(home, database_url, args.rate, log) as (base, pid):
            headers = {"Authorization": f"Bearer {fixture.bearer}"}
            status_urls = [f"{base}/api/v1/exports/status/{export_id}" for export_id in fixture.export_ids]
            phases = {
                "status": asyncio.run(_phase(pid, status_urls, headers, args.rate, args.seconds)),
                "health": asyncio.run(_phase(pid, [f"{base}/health"], {}, args.rate, args.seconds)),
            }
        _report(phases, args)


def _fill(settings: Settings, exports: int, auth: str) -> Fixture:
    """A manager, their bearer value and their export rows: even ones completed, odd ones pending."""
    engine = make_engine(settings.database_url)
    try:
        with transaction(session_factory(engine)) as session:
            user = create_user(session, "bench@example.com", Role.MANAGER)
            _, secret = issue_api_token(session, user, "benchmark")
            now = datetime.now(UTC)
            rows = [_row(index, user.id, now) for index in range(exports)]
            session.add_all(rows)
            session.flush()
            export_ids = [row.id for row in rows]
        bearer = secret if auth == "token" else issue_access_token(settings, user.id, ttl=timedelta(hours=2))
        return Fixture(bearer=bearer, export_ids=export_ids)
    finally:
        engine.dispose()


def _row(index: int, owner: uuid.UUID, now: datetime) -> DataExport:
    row = DataExport(
        export_name=f"bench {index}", export_type="sales", format="csv", created_by=owner, created_at=now
    )
    if index % 2 == 0:
        row.status = ExportStatus.COMPLETED.value
        row.progress_percentage = 100
        row.record_count = 1000 * (index + 1)
        row.file_size = 50_000 * (index + 1)
        row.started_at = now - timedelta(seconds=30)
        row.completed_at = now
        row.expires_at = now + timedelta(days=7)
    return row


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _server(home: Path, database_url: str, rate: float, log: Path) -> Iterator[tuple[str, int]]:
    """`exportflow api` on a free port with raised rate limits and no Prefect; yields its URL and pid."""
    port = _free_port()
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("EXPORTFLOW_", "PREFECT_"))
    }
    env |= {
        "EXPORTFLOW_HOME": str(home),
        "EXPORTFLOW_DATABASE_URL": database_url,
        "EXPORTFLOW_RATE_LIMIT_REQUESTS": str(int(rate * 100)),
        "EXPORTFLOW_RATE_LIMIT_WINDOW_SECONDS": "1",
        "EXPORTFLOW_RECONCILE_INTERVAL_SECONDS": "3600",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    command = [sys.executable, "-c", "from deployments.cli import app; app()", "api", "--port", str(port)]
    with log.open("w") as output:
        server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_up(base, server, log)
            yield base, server.pid
        finally:
            server.terminate()
            try:
                server.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:  # stuck requests keep uvicorn's graceful shutdown waiting
                server.kill()
                server.wait()


def _wait_until_up(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"exportflow api exited with {server.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"exportflow api did not answer within {STARTUP_TIMEOUT_SECONDS:.0f} s")


async def _phase(
    pid: int, urls: Sequence[str], headers: dict[str, str], rate: float, seconds: float
) -> Result:
    """A warm-up second, then `seconds` of open-loop load at `rate`, cycling through `urls`."""
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=REQUEST_TIMEOUT_SECONDS) as client:
        await _load(client, urls, rate, WARMUP_SECONDS)
        # The client's own collector pauses would be counted as server latency: keep it off here.
        gc.collect()
        gc.disable()
        try:
            cpu_before = _cpu_seconds(pid)
            result = await _load(client, urls, rate, seconds)
        finally:
            gc.enable()
        return replace(result, server_cpu_seconds=_cpu_seconds(pid) - cpu_before)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _load(client: httpx.AsyncClient, urls: Sequence[str], rate: float, seconds: float) -> Result:
    loop = asyncio.get_running_loop()
    count = int(rate * seconds)
    latencies: list[float] = []
    errors = 0

    async def send(url: str, due: float) -> None:
        nonlocal errors
        try:
            response = await asyncio.wait_for(client.get(url), REQUEST_TIMEOUT_SECONDS)
            ok = response.status_code == 200
        except (httpx.HTTPError, TimeoutError):
            ok = False
        if ok:
            latencies.append((loop.time() - due) * 1000)
        else:
            errors += 1

    start = loop.time() + 0.05
    pending: list[asyncio.Task[None]] = []
    for index in range(count):
        due = start + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(send(urls[index % len(urls)], due)))
    await asyncio.gather(*pending)
    return Result(latencies_ms=latencies, errors=errors, seconds=loop.time() - start)


def _report(phases: dict[str, Result], args: argparse.Namespace) -> None:
    print(f"{args.rate:.0f} requests/s for {args.seconds:.0f} s per route, open loop; auth: {args.auth}")
    print(f"{'route':>8} {'requests':>9} {'errors':>7} {'req/s':>7} {'p50 ms':>8} {'p90 ms':>8} ", end="")
    print(f"{'p99 ms':>8} {'max ms':>8} {'mean ms':>8} {'server CPU ms/req':>17}")
    for name, result in phases.items():
        total = len(result.latencies_ms) + result.errors
        if not result.latencies_ms:
            print(f"{name:>8} {total:>9,} {result.errors:>7,}  (no successful request)")
            continue
        print(
            f"{name:>8} {total:>9,} {result.errors:>7,} {total / result.seconds:>7.0f} "
            + " ".join(f"{result.percentile(q):>8.1f}" for q in (0.50, 0.90, 0.99))
            + f" {max(result.latencies_ms):>8.1f} {statistics.fmean(result.latencies_ms):>8.1f}"
            + f" {result.server_cpu_seconds * 1000 / total:>17.2f}"
        )
    status, health = phases["status"], phases["health"]
    if status.latencies_ms and health.latencies_ms:
        ratio = status.percentile(0.99) / health.percentile(0.99)
        print(f"status p99 / health p99: {ratio:.1f}")
    met = bool(status.latencies_ms) and status.errors == 0 and status.percentile(0.99) < TARGET_P99_MS
    print(f"target status p99 < {TARGET_P99_MS:.0f} ms with no errors: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
