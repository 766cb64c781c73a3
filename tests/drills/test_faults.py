"""Fault drills on exportflow as production runs it (tests/cluster.py: Prefect on PostgreSQL, the app
database on a PostgreSQL cluster this module owns, a PostgreSQL warehouse, S3 through a fault proxy, SMTP,
two API replicas with their reconcilers, two warm workers; 10 s heartbeat lease, a reconcile pass every
2 s).

Each drill breaks one part while exports run, then counts (Tally): every acknowledged (201) export
completed, none stuck `pending` or `processing`, each with one completed flow run, one statistics row,
one ready email per recipient, and nothing stored but its final file. Each drill's counts are printed in
the terminal summary ("fault drills").
"""

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import httpx
import psycopg
import pytest

from flows.export import UPLOAD, WRITE
from flows.vocabulary import ExportStatus
from tests.app_rows import row_of, wait_for_row
from tests.cluster import Cluster, OwnedPostgres, Tally, open_cluster
from tests.stack_parts import StackUser

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

WAREHOUSE_ROWS = 100_000
"""Sales rows: a PDF of all of them renders for several seconds, long enough to be killed mid-render."""
SETTLE_SECONDS = 240.0
"""From the fault to every export final, at most (several 10 s leases and reattempts on two CPUs)."""
PHASE_SECONDS = 90.0
"""How long an export may take to reach the phase it is killed in."""
CREATE_EVERY_SECONDS = 1.0
"""How often creates keep arriving during a fault (more only lengthen the drill: each must complete)."""
LIGHT = {"export_type": "sales", "format": "csv", "filters": {"region": "EMEA"}}
"""A small export: a few thousand rows as CSV."""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("faults")
    with open_cluster(
        root, app_postgres=OwnedPostgres(), warehouse_rows=WAREHOUSE_ROWS, rate_limit_requests=100_000
    ) as made:
        made.start_api()
        made.start_api()
        made.add_worker()
        made.add_worker()
        yield made


@pytest.fixture(scope="module")
def owner(cluster: Cluster) -> StackUser:
    (user,) = cluster.make_users(1)
    return user


def create(cluster: Cluster, user: StackUser, name: str, replica: int = 0, **body: Any) -> httpx.Response:
    """POST /exports on one replica: the export named `name`, one recipient, LIGHT unless `body` says."""
    payload = {**LIGHT, **body, "export_name": name, "recipients": [f"{uuid.uuid4().hex[:8]}@example.com"]}
    url = cluster.api_urls[replica % len(cluster.api_urls)]
    return httpx.post(f"{url}/exports", json=payload, headers=user.headers, timeout=30)


def created_id(response: httpx.Response) -> uuid.UUID:
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["data"]["id"])


@contextmanager
def creating_meanwhile(cluster: Cluster, user: StackUser, tag: str) -> Iterator[dict[str, list[Any]]]:
    """Keep creating light exports, one every CREATE_EVERY_SECONDS, alternating between the replicas,
    until the block ends; yields what came back: the ids acknowledged (201) and the statuses of the
    others."""
    answers: dict[str, list[Any]] = {"acknowledged": [], "refused": []}
    stopping = threading.Event()

    def keep_creating() -> None:
        number = 0
        while not stopping.is_set():
            try:
                response = create(cluster, user, f"{tag} meanwhile {number}", replica=number)
            except httpx.HTTPError as error:
                answers["refused"].append(type(error).__name__)
            else:
                if response.status_code == 201:
                    answers["acknowledged"].append(created_id(response))
                else:
                    answers["refused"].append(response.status_code)
            number += 1
            stopping.wait(CREATE_EVERY_SECONDS)

    creator = threading.Thread(target=keep_creating, daemon=True)
    creator.start()
    try:
        yield answers
    finally:
        stopping.set()
        creator.join(timeout=60)


def refusals(refused: list[Any]) -> dict[str, int]:
    """Creates not acknowledged, counted by their answer (a status code, or the connection error)."""
    return {f"refused {answer}": count for answer, count in Counter(refused).items()}


def settle_and_tally(cluster: Cluster, export_ids: list[uuid.UUID]) -> Tally:
    cluster.wait_until_final(export_ids, SETTLE_SECONDS)
    return cluster.tally(export_ids)


def assert_exactly_once(tally: Tally) -> None:
    assert tally.lost == 0, tally.problems()
    assert tally.stuck == 0, tally.problems()
    assert tally.problems() == {}


def test_app_postgres_restarted_while_50_exports_run(
    cluster: Cluster, owner: StackUser, fault_counts: dict[str, dict[str, int]]
) -> None:
    """`pg_ctl restart -m immediate` of the app database while 50 exports run and creates keep coming:
    every acknowledged export ends completed (by retries, or another attempt)."""
    tag = f"PG restart {uuid.uuid4().hex[:6]}"
    first = [created_id(create(cluster, owner, f"{tag} {number}", replica=number)) for number in range(50)]
    with creating_meanwhile(cluster, owner, tag) as meanwhile:
        wait_for_row(
            cluster.sessions, first[0], lambda row: row.status != ExportStatus.PENDING, PHASE_SECONDS
        )
        cluster.restart_app_postgres()
        time.sleep(5)  # creates go on against the restarted database
    acknowledged = first + meanwhile["acknowledged"]
    tally = settle_and_tally(cluster, acknowledged)
    fault_counts["app PostgreSQL restart"] = {**tally.counts(), **refusals(meanwhile["refused"])}
    assert_exactly_once(tally)


def test_prefect_server_killed_and_restarted_mid_run(
    cluster: Cluster, owner: StackUser, fault_counts: dict[str, dict[str, int]]
) -> None:
    """kill -9 of the Prefect server while exports run, creates going on, then the server started again on
    the same database and port: every acknowledged export completes."""
    tag = f"Prefect kill {uuid.uuid4().hex[:6]}"
    first = [created_id(create(cluster, owner, f"{tag} {number}", replica=number)) for number in range(10)]
    with creating_meanwhile(cluster, owner, tag) as meanwhile:
        wait_for_row(
            cluster.sessions, first[0], lambda row: row.status != ExportStatus.PENDING, PHASE_SECONDS
        )
        cluster.prefect.service.kill()
        time.sleep(5)  # exports created now cannot be started: they wait, pending
        cluster.prefect.start()
        time.sleep(3)
    acknowledged = first + meanwhile["acknowledged"]
    tally = settle_and_tally(cluster, acknowledged)
    fault_counts["Prefect server kill -9"] = {**tally.counts(), **refusals(meanwhile["refused"])}
    assert_exactly_once(tally)


@contextmanager
def warehouse_locked(cluster: Cluster) -> Iterator[None]:
    """The warehouse's sales table locked exclusively: a query of it waits (the export is extracting)."""
    with psycopg.connect(cluster.settings.source_url) as connection:
        connection.execute("LOCK TABLE sales IN ACCESS EXCLUSIVE MODE")
        yield
        connection.rollback()


@contextmanager
def storage_down(cluster: Cluster) -> Iterator[None]:
    """S3 unreachable (every connection reset): the upload fails and is retried (the export is uploading)."""
    cluster.s3_proxy.cut_after(0)
    try:
        yield
    finally:
        cluster.s3_proxy.restore()


@contextmanager
def mail_refused(cluster: Cluster) -> Iterator[None]:
    """The SMTP server answers 451 (try later): the message is retried (the export is notifying)."""
    cluster.mail.handler.data_reply = "451 4.3.0 try again later"
    try:
        yield
    finally:
        cluster.mail.handler.data_reply = None


def _held(cluster: Cluster, phase: str) -> Any:
    return {"extract": warehouse_locked, "upload": storage_down, "notify": mail_refused}.get(phase)


PHASES = {
    "extract": lambda row: row.status == ExportStatus.PROCESSING and row.progress_percentage == 0,
    "render": lambda row: WRITE.start + 5 < row.progress_percentage < WRITE.end,
    "upload": lambda row: row.progress_percentage == UPLOAD.start,
    "notify": lambda row: row.status == ExportStatus.COMPLETED,
}
"""When an export's row says it is in the phase (the phase itself held up where it is short)."""


@pytest.mark.parametrize("phase", list(PHASES))
def test_worker_killed_in_each_phase(
    cluster: Cluster, owner: StackUser, fault_counts: dict[str, dict[str, int]], phase: str
) -> None:
    """kill -9 of the worker running an export, with its forkserver and flow run (its machine died), in
    the export's extract, render, upload or notify phase; the worker is started again as a process
    manager would. The export completes on its next attempt, with one stored file and one email; killed
    while mailing (completed already), it is mailed by the reconciler."""
    name = f"Kill in {phase} {uuid.uuid4().hex[:6]}"
    body: dict[str, Any] = {"format": "pdf", "filters": {}} if phase == "render" else {}
    hold = _held(cluster, phase)
    with hold(cluster) if hold else nullcontext():
        export_id = created_id(create(cluster, owner, name, **body))
        in_phase = wait_for_row(cluster.sessions, export_id, PHASES[phase], PHASE_SECONDS)
        if phase != "render":
            time.sleep(1)  # well inside the held phase
        assert in_phase.flow_run_id is not None
        worker = cluster.worker_running(in_phase.flow_run_id)
        assert worker is not None, f"no worker runs {in_phase.flow_run_id}"
        cluster.kill_worker_machine(worker)
    cluster.restart_worker(worker)
    if phase == "notify":  # completed already: the reconciler mails what the dead run owed, after the lease
        wait_for_row(cluster.sessions, export_id, lambda row: row.owed_recipients is None, PHASE_SECONDS)
    tally = settle_and_tally(cluster, [export_id])
    final = row_of(cluster.sessions, export_id)
    fault_counts[f"worker kill -9 in {phase}"] = {**tally.counts(), "attempt": final.attempt}
    assert final.status == ExportStatus.COMPLETED, final.error_message
    if phase == "notify":  # no other attempt: its one run was marked crashed by the reconciler that mailed
        assert final.attempt == 1
        assert list(tally.without_one_completed_run) == [str(export_id)]
        assert tally.flow_runs == Counter({"CRASHED": 1})
        assert set(tally.problems()) == {"not one completed flow run"}  # one email, file and statistics row
    else:
        assert final.attempt == 2
        assert tally.problems() == {}
