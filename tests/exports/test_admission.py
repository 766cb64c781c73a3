"""Per-user admission (flows/exports/admission.py) and its dispatch (flows/orchestration/dispatch.py) on real
app databases (SQLite and PostgreSQL, a fresh one each for this module, so a reconciler pass sees no other
module's rows) and the session's Prefect test server with the work pool and export deployment set up. No
worker runs: an export that is started has a flow run that stays scheduled in Prefect.
"""

import contextvars
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import transaction
from flows.appdb.models import DataExport, ExportSchedule, User
from flows.exports.admission import HOLDING, admit, queue_position
from flows.exports.creation import create_export, submit_export
from flows.exports.lifecycle import RunResult, begin_export, cancel_export, complete_export, fail_export
from flows.exports.reconcile import Death, Outcome, reconcile, settle
from flows.exports.requests import ExportRequest
from flows.orchestration.dispatch import dispatch_owner
from flows.pipeline.sources import Source
from flows.schedules.scheduled_exports import start_scheduled_export
from flows.settings import Settings
from flows.vocabulary import ExportStatus
from tests.app_rows import audit_of, row_of
from tests.exports.conftest import prepared_settings

pytestmark = pytest.mark.usefixtures("prefect_api")

SLOTS = 2
"""EXPORTFLOW_USER_MAX_RUNNING_EXPORTS here."""
RACERS = 10


@pytest.fixture(scope="module")
def settings(database: str, prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("home")
    return prepared_settings(database, prefect_api, home, user_max_running_exports=SLOTS, max_attempts=2)


@pytest.fixture
def owner(sessions: sessionmaker[Session]) -> User:
    return new_owner(sessions)


def new_owner(sessions: sessionmaker[Session]) -> User:
    with transaction(sessions) as session:
        user = User(email=f"{uuid.uuid4().hex[:12]}@example.com", role="admin", first_name="Queued")
        session.add(user)
        return user


def request(name: str) -> ExportRequest:
    return ExportRequest.validated({"export_name": name, "export_type": "customers", "format": "csv"})


def submitted(
    sessions: sessionmaker[Session], settings: Settings, owner: User, count: int
) -> list[uuid.UUID]:
    """`count` exports of the owner, created one after the other as the API creates them."""
    ids = []
    for index in range(count):
        with sessions() as session:
            ids.append(submit_export(session, sessions, settings, request(f"export {index}"), owner).id)
    return ids


def stored(sessions: sessionmaker[Session], owner: User, count: int) -> list[uuid.UUID]:
    """`count` exports of the owner stored without admission (as `exportflow export run` or a release
    before admission stores them): they wait."""
    with transaction(sessions) as session:
        return [create_export(session, request(f"stored {index}"), owner).id for index in range(count)]


def started(sessions: sessionmaker[Session], export_id: uuid.UUID) -> bool:
    """Admitted and given its flow run (which stays scheduled: no worker runs here)."""
    row = row_of(sessions, export_id)
    return row.admitted_at is not None and row.flow_run_id is not None


def waiting(sessions: sessionmaker[Session], export_ids: list[uuid.UUID]) -> list[int | None]:
    """Each export's place in its owner's queue (None: not waiting), checked to have no flow run."""
    places = []
    for export_id in export_ids:
        row = row_of(sessions, export_id)
        place = queue_position(sessions, row)
        assert place is None or (row.status, row.flow_run_id) == (ExportStatus.PENDING, None)
        places.append(place)
    return places


def holding(sessions: sessionmaker[Session], owner: User) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).where(DataExport.created_by == owner.id, *HOLDING)) or 0


def test_an_owner_gets_their_slots_and_the_rest_wait_in_order_unrefused(
    sessions: sessionmaker[Session], settings: Settings, owner: User
) -> None:
    exports = submitted(sessions, settings, owner, SLOTS + 3)

    assert [started(sessions, export_id) for export_id in exports] == [True] * SLOTS + [False] * 3
    assert waiting(sessions, exports) == [None] * SLOTS + [1, 2, 3]
    assert all(row_of(sessions, export_id).status == ExportStatus.PENDING for export_id in exports)
    assert holding(sessions, owner) == SLOTS
    (entry,) = audit_of(sessions, exports[0], "export_admitted")
    assert entry.details == {"slot": 1, "slots": SLOTS}
    assert audit_of(sessions, exports[SLOTS], "export_admitted") == []

    other = submitted(sessions, settings, new_owner(sessions), 1)  # another user is not held up
    assert started(sessions, other[0])


@pytest.mark.parametrize("ending", ["completed", "failed", "cancelled"])
def test_an_export_that_ends_frees_its_slot_for_the_owners_oldest_waiting_one(
    sessions: sessionmaker[Session], settings: Settings, owner: User, ending: str
) -> None:
    exports = submitted(sessions, settings, owner, SLOTS + 2)
    first = exports[0]
    if ending == "completed":
        job = begin_export(sessions, first, row_of(sessions, first).flow_run_id, settings)
        complete_export(sessions, job, RunResult(1, 1, "0" * 64, "k", "k"), settings)
    elif ending == "failed":
        assert fail_export(sessions, first, "the warehouse refused")
    else:
        assert cancel_export(sessions, first, "cancelled by a test")
    assert waiting(sessions, exports) == [None] * SLOTS + [1, 2]  # nothing starts by itself

    assert dispatch_owner(sessions, settings, owner.id) == 1

    assert started(sessions, exports[SLOTS])
    assert waiting(sessions, exports[1:]) == [None] * SLOTS + [1]
    assert holding(sessions, owner) == SLOTS
    assert dispatch_owner(sessions, settings, owner.id) == 0  # no slot free: nothing more starts


def test_the_flow_that_ends_an_export_starts_its_owners_next_one(
    sessions: sessionmaker[Session],
    settings: Settings,
    owner: User,
    fresh_home: Path,
    duckdb_warehouse: Source,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.export import export

    monkeypatch.setenv("EXPORTFLOW_SOURCE_URL", str(duckdb_warehouse.duckdb_path))
    monkeypatch.setenv("EXPORTFLOW_USER_MAX_RUNNING_EXPORTS", str(SLOTS))
    _use_settings(monkeypatch, settings)
    running, *queued = stored(sessions, owner, SLOTS + 2)
    with transaction(sessions) as session:
        assert admit(session, owner.id, SLOTS) == [running, queued[0]]

    state = export(running, return_state=True)  # in this process, as its own flow run

    assert state.is_completed(), state.message
    assert row_of(sessions, running).status == ExportStatus.COMPLETED
    assert started(sessions, queued[1])  # the run itself started the owner's next export
    assert waiting(sessions, queued) == [None, None, 1]


def test_the_reconciler_giving_up_on_an_export_starts_the_owners_next_one(
    sessions: sessionmaker[Session], settings: Settings, owner: User
) -> None:
    exports = submitted(sessions, settings, owner, SLOTS + 1)
    dying = exports[0]
    run = begun(sessions, settings, dying, attempt=settings.max_attempts)

    decision = settle(sessions, settings, dying, Death.crashed(run, "killed"))

    assert decision is not None
    assert decision.outcome == Outcome.ABANDONED
    assert row_of(sessions, dying).status == ExportStatus.FAILED
    assert started(sessions, exports[SLOTS])


def test_another_attempt_keeps_the_exports_slot(
    sessions: sessionmaker[Session], settings: Settings, owner: User
) -> None:
    exports = submitted(sessions, settings, owner, SLOTS + 1)
    dying = exports[0]
    admitted_at = row_of(sessions, dying).admitted_at
    run = begun(sessions, settings, dying, attempt=1)

    decision = settle(sessions, settings, dying, Death.crashed(run, "killed"))
    reconcile(sessions, settings)

    assert decision is not None
    assert decision.outcome == Outcome.REATTEMPTED
    row = row_of(sessions, dying)
    assert (row.status, row.attempt, row.admitted_at) == (ExportStatus.PENDING, 2, admitted_at)
    assert row.flow_run_id == decision.next_flow_run_id != run
    assert waiting(sessions, exports) == [None] * SLOTS + [1]
    assert holding(sessions, owner) == SLOTS


def test_the_reconciler_admits_and_starts_waiting_exports_in_order(
    sessions: sessionmaker[Session], settings: Settings, owner: User
) -> None:
    exports = stored(sessions, owner, SLOTS + 1)
    assert waiting(sessions, exports) == list(range(1, SLOTS + 2))

    report = reconcile(sessions, settings)

    assert report.dispatched >= SLOTS
    assert [started(sessions, export_id) for export_id in exports] == [True] * SLOTS + [False]
    assert waiting(sessions, exports) == [None] * SLOTS + [1]


def test_a_schedules_export_holds_a_slot_of_its_owner_without_waiting_for_one(
    sessions: sessionmaker[Session], settings: Settings, owner: User
) -> None:
    exports = submitted(sessions, settings, owner, SLOTS)
    with transaction(sessions) as session:
        schedule = ExportSchedule(
            schedule_name="Nightly",
            export_type="customers",
            format="csv",
            frequency="daily",
            next_run=datetime.now(UTC),
            created_by=owner.id,
        )
        session.add(schedule)

    fired = start_scheduled_export(sessions, schedule.id, uuid.uuid4(), datetime.now(UTC))

    assert fired.export_id is not None
    assert row_of(sessions, fired.export_id).admitted_at is not None  # its flow run is already running
    assert holding(sessions, owner) == SLOTS + 1
    later = submitted(sessions, settings, owner, 1)
    assert fail_export(sessions, exports[0], "the warehouse refused")
    dispatch_owner(sessions, settings, owner.id)
    assert waiting(sessions, later) == [1]  # still: the schedule's export counts toward the slots


def test_an_export_run_without_having_been_admitted_takes_a_slot_as_it_begins(
    sessions: sessionmaker[Session], settings: Settings, owner: User
) -> None:
    (export_id,) = stored(sessions, owner, 1)  # as `exportflow export run` stores it, to run it in-process

    begin_export(sessions, export_id, uuid.uuid4(), settings)

    assert row_of(sessions, export_id).admitted_at is not None
    assert holding(sessions, owner) == 1


def test_racing_admissions_and_creates_never_admit_more_than_the_slots(
    sessions: sessionmaker[Session], settings: Settings, owner: User
) -> None:
    """API replicas creating and reconcilers dispatching for one owner at once, each in its own
    transaction and connection; the waiting exports are there before, so every racer finds some."""
    stored(sessions, owner, RACERS)
    barrier = threading.Barrier(RACERS)
    admitted: list[uuid.UUID] = []
    failures: list[BaseException] = []

    def dispatcher() -> None:
        barrier.wait()
        with transaction(sessions) as session:
            admitted.extend(admit(session, owner.id, SLOTS))

    def creator() -> None:
        barrier.wait()
        with sessions() as session:
            row = submit_export(session, sessions, settings, request("raced"), owner)
            if row.admitted_at is not None:
                admitted.append(row.id)

    def racing(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as error:
                failures.append(error)

        return run

    # Each thread in a copy of this one's context: Prefect's test-harness settings live in a context
    # variable (the creators start the runs of what they admit).
    threads = [
        threading.Thread(
            target=contextvars.copy_context().run, args=(racing(dispatcher if index % 2 else creator),)
        )
        for index in range(RACERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert failures == []
    assert holding(sessions, owner) == SLOTS
    assert len(set(admitted)) == len(admitted) <= SLOTS


def begun(
    sessions: sessionmaker[Session], settings: Settings, export_id: uuid.UUID, *, attempt: int
) -> uuid.UUID:
    """The started export processing on `attempt` for its flow run (which then dies); returns the run."""
    with transaction(sessions) as session:
        row = session.get_one(DataExport, export_id)
        row.attempt = attempt
        run = row.flow_run_id
    assert run is not None
    begin_export(sessions, export_id, run, settings)
    return run


def _use_settings(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The flow reads the process settings and sessions: point them at this module's (the `fresh_home`
    fixture reads them anew after the test)."""
    from flows.appdb.engine import reset_app_sessions
    from flows.settings import get_settings

    monkeypatch.setenv("EXPORTFLOW_HOME", str(settings.home))
    monkeypatch.setenv("EXPORTFLOW_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    reset_app_sessions()
