"""The background service (deployments/background.py): one tick settles dead exports and syncs the
schedules; a failed tick is logged and the loop goes on; stop ends it at once; `exportflow api` runs
it unless EXPORTFLOW_RUN_BACKGROUND_SERVICES is off, `exportflow reconcile --loop` until SIGTERM."""

import logging
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy.orm import Session, sessionmaker

from deployments.background import Reconciler
from deployments.prefect_setup import set_up_prefect
from deployments.supervisor import Child, answers_ok, stop_tree
from flows.appdb import migrations
from flows.appdb.engine import make_engine, session_factory
from flows.appdb.models import ExportSchedule
from flows.settings import Settings
from tests.app_rows import audit_of, row_of
from tests.exports.conftest import LEASE_SECONDS
from tests.exports.test_reconcile import running_export
from tests.network import LOOPBACK, free_port
from tests.processes import inherited_environment
from tests.schedules.test_scheduled_exports import make_schedule
from tests.waiting import wait_for

BIN = Path(sys.executable).parent
PROMPT_SECONDS = 1.0
PROCESS_SECONDS = 60.0


@pytest.fixture
def own_database_url(tmp_path: Path) -> str:
    """A migrated app database of this test alone: a pass with Prefect answering would also dispatch
    the exports other tests left pending in the session's shared databases."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    migrations.upgrade(url)
    return url


@contextmanager
def sessions_on(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


def messages(caplog: pytest.LogCaptureFixture, level: int = logging.DEBUG) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= level]


@pytest.mark.usefixtures("prefect_api")
def test_one_tick_settles_a_dead_export_and_syncs_a_schedule(
    own_database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        home=tmp_path / "home", database_url=own_database_url, heartbeat_lease_seconds=LEASE_SECONDS
    )
    with sessions_on(own_database_url) as sessions, get_client(sync_client=True) as client:
        deployment_id = set_up_prefect(client, settings)
        export_id, dead_run = running_export(sessions, client)  # silent for longer than the lease
        schedule_id = make_schedule(sessions, is_active=False).id
        caplog.set_level(logging.INFO, logger="exportflow")
        try:
            Reconciler(settings, sessions).run_once()

            in_prefect = {
                str(schedule.parameters.get("schedule_id")): schedule
                for schedule in client.read_deployment_schedules(deployment_id)
            }
        finally:
            for schedule in client.read_deployment_schedules(deployment_id):
                if schedule.parameters.get("schedule_id") == str(schedule_id):
                    client.delete_deployment_schedule(deployment_id, schedule.id)

        row = row_of(sessions, export_id)
        reattempted = audit_of(sessions, export_id, "export_reattempted")
        with sessions() as session:
            row_schedule = session.get_one(ExportSchedule, schedule_id)

    assert row.attempt == 2
    assert row.flow_run_id not in (None, dead_run)
    assert len(reattempted) == 1
    assert row_schedule.prefect_synced is True
    assert in_prefect[str(schedule_id)].id == row_schedule.prefect_schedule_id
    assert in_prefect[str(schedule_id)].active is False
    assert any(message.startswith("reconciled: 1 reattempted") for message in messages(caplog))


def test_a_failed_tick_is_logged_and_the_loop_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database_url = f"sqlite:///{tmp_path / 'never-migrated.db'}"  # every tick fails: no table
    settings = Settings(home=tmp_path / "home", database_url=database_url, reconcile_interval_seconds=0.05)
    caplog.set_level(logging.INFO, logger="exportflow")
    with sessions_on(database_url) as sessions:
        service = Reconciler(settings, sessions)
        service.start()
        try:
            failures = wait_for(
                "two failed ticks",
                lambda: [r for r in caplog.records if "the tick failed" in r.getMessage()][1:],
                timeout=30,
            )
            assert service.running
        finally:
            service.stop()

    assert failures[0].exc_info is not None
    assert "no such table" in str(failures[0].exc_info[1])
    assert not service.running


def test_stop_ends_the_wait_between_ticks_at_once(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(home=tmp_path / "home", database_url=database_url, reconcile_interval_seconds=3600)
    caplog.set_level(logging.DEBUG, logger="exportflow.background")
    with sessions_on(database_url) as sessions:
        service = Reconciler(settings, sessions)
        with temporary_settings(restore_defaults={PREFECT_API_URL}):  # no Prefect: a tick changes nothing
            service.start()
        wait_for("the first tick", lambda: any("tick done" in m for m in messages(caplog)), timeout=30)

        began = time.monotonic()
        service.stop()
        stopped_in = time.monotonic() - began

    assert stopped_in < PROMPT_SECONDS
    assert not service.running
    assert messages(caplog, logging.INFO)[-1] == "reconciler stopped"


def process(name: str, command: list[str], tmp_path: Path, **settings: str) -> Child:
    """An `exportflow` command as a child process, on no Prefect but the one `settings` name."""
    environment = {
        **inherited_environment(),
        "PREFECT_HOME": str(tmp_path / "prefect"),  # no profile of this machine's
        "EXPORTFLOW_HOME": str(tmp_path / "home"),
        **settings,
    }
    return Child(name, [str(BIN / "exportflow"), *command], environment, tmp_path / f"{name}.log")


@pytest.mark.slow
@pytest.mark.parametrize("enabled", [True, False], ids=["on", "off"])
def test_exportflow_api_runs_the_service_unless_the_setting_is_off(
    sqlite_database_url: str, tmp_path: Path, enabled: bool
) -> None:
    port = free_port()
    api = process(
        "api",
        ["api", "--port", str(port)],
        tmp_path,
        EXPORTFLOW_DATABASE_URL=sqlite_database_url,
        EXPORTFLOW_RUN_BACKGROUND_SERVICES=str(enabled).lower(),
    )
    api.start()
    try:
        wait_for("the API answering", lambda: answers_ok(f"http://{LOOPBACK}:{port}/health"), PROCESS_SECONDS)
    finally:
        stop_tree(api, grace_seconds=10)

    log = api.log.read_text()
    assert "Application startup complete" in log
    assert ("reconciler started" in log) is enabled, log
    assert ("reconciler stopped" in log) is enabled, log


@pytest.mark.slow
def test_reconcile_loop_runs_the_service_until_sigterm(sqlite_database_url: str, tmp_path: Path) -> None:
    loop = process(
        "reconcile",
        ["reconcile", "--loop"],
        tmp_path,
        EXPORTFLOW_DATABASE_URL=sqlite_database_url,
        EXPORTFLOW_PREFECT_API_URL=f"http://{LOOPBACK}:{free_port()}/api",  # nothing listens there
        EXPORTFLOW_RECONCILE_INTERVAL_SECONDS="3600",
    )
    loop.start()
    try:
        wait_for("the loop started", lambda: "reconciler started" in loop.log.read_text(), PROCESS_SECONDS)
        assert loop.process is not None
        loop.process.send_signal(signal.SIGTERM)
        code = loop.process.wait(timeout=PROCESS_SECONDS)
    finally:
        stop_tree(loop, grace_seconds=10)

    assert code == 0, loop.log.read_text()
    assert "reconciler stopped" in loop.log.read_text()
