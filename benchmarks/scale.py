"""The scale-out drill: exportflow as production runs it (tests/cluster.py: Prefect server on PostgreSQL,
PostgreSQL app database and warehouse, S3 through moto, SMTP, two API replicas sharing their rate limits
in Redis, each with its reconciler), with 1, then 2, then 3 warm workers.

    .venv/bin/python -m benchmarks.scale [--exports 200] [--workers 1,2,3] [--users 10] [--report FILE]

Before the load, two checks across the replicas:
- shared rate limits: one user sends EXPORTFLOW_RATE_LIMIT_REQUESTS + 10 list calls, alternating between
  the replicas: exactly that many answer 200 and 10 answer 429;
- idempotency: 100 concurrent creates with one Idempotency-Key, alternating between the replicas: every
  answer 201 with one export id, one row, one flow run.
Then, for each worker count: --exports exports (sales CSV, one recipient each, spread over --users
managers) created concurrently through both replicas, waited for, and tallied: every export completed
exactly once (one completed flow run, one statistics row, one ready email, one stored file, no
temporary left), none stuck. Prints the throughput (exports a minute, from the first create to the last
completion) per worker count and its ratio to one worker's, measured in the same run. Exits 1 when a
check fails; --report writes every figure and count as JSON (tests/drills/test_scale.py reads it).
"""

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import func, select

from flows.appdb.models import DataExport
from tests.cluster import Cluster, Tally, open_cluster
from tests.stack_parts import StackUser

Request = tuple[StackUser, dict[str, Any], dict[str, str]]
"""A create to send: who sends it, its body, its extra headers."""
IN_FLIGHT = 50
"""Create requests under way at once."""
IDEMPOTENT_CREATES = 100
FINISH_TIMEOUT_SECONDS = 900.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--exports", type=int, default=200, help="Exports created per worker count.")
    parser.add_argument("--workers", default="1,2,3", help="Worker counts, in increasing order.")
    parser.add_argument("--users", type=int, default=10, help="Managers the exports are spread over.")
    parser.add_argument("--warehouse-rows", type=int, default=2_000, help="Sales rows: each export's rows.")
    parser.add_argument("--report", type=Path, help="Write the figures and counts here as JSON.")
    arguments = parser.parse_args()
    worker_counts = [int(count) for count in arguments.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="exportflow-scale-") as scratch:
        report = drill(
            Path(scratch), arguments.exports, worker_counts, arguments.users, arguments.warehouse_rows
        )
    if arguments.report:
        arguments.report.write_text(json.dumps(report, indent=2))
    sys.exit(0 if report["passed"] else 1)


def drill(
    root: Path, exports: int, worker_counts: list[int], users: int, warehouse_rows: int
) -> dict[str, Any]:
    began = time.monotonic()
    with open_cluster(root, warehouse_rows=warehouse_rows) as cluster:
        cluster.start_api()
        cluster.start_api()
        print(f"cluster up in {time.monotonic() - began:.1f} s: {len(cluster.apis)} API replicas", flush=True)
        report: dict[str, Any] = {"rate_limits": check_shared_rate_limit(cluster), "steps": []}
        print(f"shared rate limit: {report['rate_limits']}", flush=True)
        owners = cluster.make_users(users)
        for count in worker_counts:
            while len(cluster.workers) < count:
                cluster.add_worker()
            if "idempotency" not in report:  # once a worker runs the one export it makes
                report["idempotency"] = check_idempotency(cluster)
                print(f"idempotency: {report['idempotency']}", flush=True)
            report["steps"].append(run_step(cluster, owners, exports, count))
    report["passed"] = _passed(report)
    _print_table(report["steps"])
    print("PASSED" if report["passed"] else "FAILED", flush=True)
    return report


def check_shared_rate_limit(cluster: Cluster) -> dict[str, Any]:
    """One user's list calls alternate between the replicas: the one budget is spent across both."""
    (user,) = cluster.make_users(1)
    budget = cluster.settings.rate_limit_requests
    answers: Counter[int] = Counter()
    for url in itertools.islice(itertools.cycle(cluster.api_urls), budget + 10):
        answers[httpx.get(f"{url}/exports/types", headers=user.headers, timeout=30).status_code] += 1
    return {"budget": budget, "ok": answers[200], "limited": answers[429], "expected_limited": 10}


def check_idempotency(cluster: Cluster) -> dict[str, Any]:
    """IDEMPOTENT_CREATES concurrent creates with one key, spread over the replicas."""
    (user,) = cluster.make_users(1)
    key = f"drill-{uuid.uuid4().hex}"
    body = {"export_name": f"Idempotent {key[-8:]}", "export_type": "sales", "format": "csv"}
    answers = asyncio.run(
        _post_all(cluster.api_urls, [(user, body, {"Idempotency-Key": key})] * IDEMPOTENT_CREATES)
    )
    ids = sorted({uuid.UUID(answer["id"]) for status, answer in answers if status == 201})
    with cluster.sessions() as session:
        rows = session.scalar(
            select(func.count()).select_from(DataExport).where(DataExport.created_by == user.id)
        )
    cluster.wait_until_final(ids, FINISH_TIMEOUT_SECONDS)
    tally = cluster.tally(ids)
    return {
        "requests": IDEMPOTENT_CREATES,
        "statuses": dict(Counter(status for status, _ in answers)),
        "export_ids": [str(export_id) for export_id in ids],
        "rows": rows,
        "flow_runs": tally.flow_runs.total(),
        **_tally_fields(tally),
    }


def run_step(cluster: Cluster, owners: list[StackUser], exports: int, workers: int) -> dict[str, Any]:
    """Create `exports` exports at once through every replica, wait for them, tally them."""
    tag = uuid.uuid4().hex[:6]
    requests: list[Request] = [
        (
            owner,
            {
                "export_name": f"Scale {workers}w {tag} {number}",
                "export_type": "sales",
                "format": "csv",
                "recipients": [f"scale-{number}@example.com"],
            },
            {},
        )
        for number, owner in zip(range(exports), itertools.cycle(owners), strict=False)
    ]
    cpu_before = cluster.cpu_seconds()
    first_create = time.time()
    answers = asyncio.run(_post_all(cluster.api_urls, requests))
    created = [uuid.UUID(answer["id"]) for status, answer in answers if status == 201]
    waited = cluster.wait_until_final(created, FINISH_TIMEOUT_SECONDS)
    wall = time.time() - first_create
    cpu = {part: round(used - cpu_before[part], 1) for part, used in cluster.cpu_seconds().items()}
    tally = cluster.tally(created)
    with cluster.sessions() as session:
        last_completion = session.scalar(
            select(func.max(DataExport.completed_at)).where(DataExport.id.in_(created))
        )
    seconds = (last_completion.timestamp() - first_create) if last_completion else float("nan")
    step = {
        "workers": workers,
        "worker_limit": cluster.settings.worker_limit,
        "requested": exports,
        "acknowledged": len(created),
        "create_statuses": dict(Counter(status for status, _ in answers)),
        "seconds": round(seconds, 2),
        "waited_seconds": round(waited, 1),
        "exports_per_minute": round(len(created) / seconds * 60, 1),
        "cpu_seconds": cpu,
        "machine_busy": round(cpu["machine"] / (wall * psutil.cpu_count()), 2),
        **_tally_fields(tally),
    }
    print(f"{workers} worker(s): {step}", flush=True)
    return step


def _tally_fields(tally: Tally) -> dict[str, Any]:
    return {"counts": tally.counts(), "flow_run_states": dict(tally.flow_runs), "problems": tally.problems()}


async def _post_all(api_urls: list[str], requests: list[Request]) -> list[tuple[int, dict[str, Any]]]:
    """POST /exports for each (user, body, extra headers), IN_FLIGHT at a time, alternating between the
    replicas; each answer's status and its `data` (or its errors)."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(timeout=60) as client:

        async def post(
            url: str, user: StackUser, body: dict[str, Any], headers: dict[str, str]
        ) -> tuple[int, dict[str, Any]]:
            async with gate:
                response = await client.post(f"{url}/exports", json=body, headers={**user.headers, **headers})
            payload: dict[str, Any] = response.json()
            return response.status_code, payload.get("data") or payload

        return list(
            await asyncio.gather(
                *(
                    post(url, *request)
                    for url, request in zip(itertools.cycle(api_urls), requests, strict=False)
                )
            )
        )


def _passed(report: dict[str, Any]) -> bool:
    limits, idempotency = report["rate_limits"], report["idempotency"]
    return (
        limits["limited"] == limits["expected_limited"]
        and limits["ok"] == limits["budget"]
        and idempotency["statuses"] == {201: idempotency["requests"]}
        and len(idempotency["export_ids"]) == 1
        and idempotency["rows"] == 1
        and idempotency["flow_runs"] == 1
        and not idempotency["problems"]
        and all(
            step["acknowledged"] == step["requested"] and not step["problems"] for step in report["steps"]
        )
    )


def _print_table(steps: list[dict[str, Any]]) -> None:
    if not steps:
        return
    baseline = steps[0]["exports_per_minute"]
    headings = ("workers", "exports", "seconds", "exports/min", "vs first", "lost", "stuck")
    print("\n" + " ".join(f"{heading:>{len(heading) + 2}}" for heading in headings))
    for step in steps:
        counts = step["counts"]
        print(
            f"{step['workers']:>9} {step['acknowledged']:>9} {step['seconds']:>9.1f} "
            f"{step['exports_per_minute']:>13.1f} {step['exports_per_minute'] / baseline:>9.2f}x "
            f"{counts['lost']:>6} {counts['stuck']:>7}"
        )


if __name__ == "__main__":
    main()
