"""The reconciler: an export's status never lies, even when the processes running it die.

Prefect does not retry a crashed flow run, and a run whose worker died with it stays RUNNING in
Prefect forever without any hook running. Two paths lead here, and both end in `settle`, the one
decision for an export whose attempt N died:

- the crash hook (`flows/export.py`), run by the worker within a second of a flow-run process
  being killed;
- `reconcile`, one pass over the active rows: a row `processing` without a heartbeat for
  EXPORTFLOW_HEARTBEAT_LEASE_SECONDS (its run's process and worker are gone, or it hangs), or whose
  flow run Prefect reports failed, crashed or cancelled; a row `pending` whose run Prefect reports
  so; and rows `pending` never dispatched (Prefect was down, or they waited for one of their owner's
  slots), which are admitted and dispatched.

Where `reconcile` runs, and why: every EXPORTFLOW_RECONCILE_INTERVAL_SECONDS in the background
service of deployments/background.py, which runs in the API process (unless
EXPORTFLOW_RUN_BACKGROUND_SERVICES is off) or on its own (`exportflow reconcile --loop`), and once
per `exportflow reconcile`. Not as a Prefect flow:
it exists for the moments Prefect's side is broken (no worker left, a run stuck RUNNING), when a
flow of its own might not run either; the API is up whenever exports are accepted and needs no
worker. Any number of reconcilers may run at once (API replicas, the command): each decision is
one transaction on the locked row, guarded by the dead run's id (and, for a missed heartbeat, by
the heartbeat still being old), so exactly one of them decides and the others find the row moved on.

The decision (`settle`), audited with the reason, the dead flow run and its attempt:
- the run crashed or missed its heartbeat, attempt N < EXPORTFLOW_MAX_ATTEMPTS: attempt N+1 (row
  back to `pending`, attempt + 1, flow run cleared, then a new flow run whose idempotency key
  export:<id>:<N+1> is new), `export_reattempted`;
- at the last attempt: `failed`, with a message saying what happened, `export_abandoned`; its owner's
  slot is free, and their next waiting export starts (flows/orchestration/dispatch.py).
The next attempt keeps the export's admission (flows/exports/admission.py): it holds its owner's slot
throughout.
A run Prefect reports FAILED or CANCELLED already reached its own verdict (the flow's retries were
spent, or someone cancelled it in Prefect): the row is failed or cancelled with Prefect's message
(`flows.orchestration.flow_runs.correct_from_prefect`), not run again. A run Prefect still reports
active whose heartbeat is gone is set CRASHED in Prefect as well, so its UI does not lie either.

Before the next attempt starts, what the dead one left is removed: files under the export's storage
folder (a promoted file whose row was never completed), its upload temporary, its staged work
folders (this machine's; other machines' are removed by the cleanup by age). They are listed
before the decision, so nothing of the next attempt is among them. While Prefect cannot be reached
nothing is decided: the next attempt could not start, nor the old run be marked crashed.
"""

import logging
import posixpath
import shutil
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from prefect.client.schemas.objects import StateType
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import transaction
from flows.appdb.models import DataExport
from flows.errors import ExportflowError
from flows.exports.audit import audit
from flows.exports.lifecycle import ACTIVE_STATUSES, end_row
from flows.orchestration.dispatch import dispatch_owner, dispatch_pending
from flows.orchestration.flow_runs import (
    RunRequest,
    correct_from_prefect,
    is_active,
    mark_crashed,
    read_run_states,
    start_export_run,
)
from flows.pipeline.owed_mail import mail_what_dead_runs_owe
from flows.settings import Settings
from flows.storage.keys import TEMP_DIR, export_key
from flows.storage.store import Storage, open_storage
from flows.vocabulary import ExportPriority, ExportStatus

logger = logging.getLogger("exportflow.reconcile")

STAGED_FILE = "staged.arrow"
"""The staged rows of a run's work folder; every other file in it is a rendered export file."""
ROWS_PER_PASS = 500


class Outcome(StrEnum):
    """What `settle` decided; also the audit action."""

    REATTEMPTED = "export_reattempted"
    ABANDONED = "export_abandoned"


@dataclass(frozen=True)
class Death:
    """How an attempt of an export ended without settling its row."""

    flow_run_id: uuid.UUID | None
    cause: str
    detail: str | None = None
    stale_before: datetime | None = None
    """For a missed heartbeat: decide only if the row's heartbeat is still older than this."""

    @classmethod
    def crashed(cls, flow_run_id: uuid.UUID | None, message: str | None) -> "Death":
        return cls(flow_run_id, "the flow run crashed", message)

    @classmethod
    def silent(cls, flow_run_id: uuid.UUID | None, seconds: int, stale_before: datetime) -> "Death":
        return cls(
            flow_run_id, f"no heartbeat for {seconds} s; the worker running it is gone", None, stale_before
        )

    def reason(self, attempt: int, max_attempts: int) -> str:
        detail = f": {self.detail.strip().rstrip('.')}" if self.detail else ""
        return f"{self.cause} (attempt {attempt} of {max_attempts}){detail}"


@dataclass(frozen=True)
class Decision:
    export_id: uuid.UUID
    outcome: Outcome
    message: str
    next_flow_run_id: uuid.UUID | None = None
    """The next attempt's flow run; None when abandoned or while Prefect could not start it."""


@dataclass(frozen=True)
class Leftovers:
    """What a dead attempt left behind: work folders on this machine, stored files, upload temporaries."""

    work_folders: tuple[Path, ...] = ()
    stored_keys: tuple[str, ...] = ()
    temporaries: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        return {
            "work_folders": len(self.work_folders),
            "stored_keys": list(self.stored_keys),
            "temporaries": len(self.temporaries),
        }


def settle(
    sessions: sessionmaker[Session], settings: Settings, export_id: uuid.UUID, death: Death
) -> Decision | None:
    """Decide for an export whose attempt died: the next attempt, or failed at the last one.

    None when the row has moved on (ended, another run has it, or its heartbeat is fresh again):
    then nothing is changed. Call it with no transaction of the caller's open.
    """
    with sessions() as session:
        row = session.get(DataExport, export_id)
        if row is None or not _still_dead(row, death):
            return None
        leftovers = _leftovers(settings, row)
    with transaction(sessions) as session:
        row = session.get(DataExport, export_id, with_for_update=True)
        if row is None or not _still_dead(row, death):
            return None
        attempt, priority, owner_id = row.attempt, ExportPriority(row.priority), row.created_by
        reason = death.reason(attempt, settings.max_attempts)
        details = {
            "reason": reason,
            "flow_run_id": str(death.flow_run_id),
            "attempt": attempt,
            "leftovers": leftovers.summary(),
        }
        if attempt >= settings.max_attempts:
            message = f"{reason}; that was the last attempt: nothing was delivered, retry the export"
            end_row(session, row, ExportStatus.FAILED, message, action=Outcome.ABANDONED, details=details)
        else:
            row.status = ExportStatus.PENDING
            row.attempt = attempt + 1
            row.flow_run_id = None
            row.progress_percentage = 0
            row.heartbeat_at = None
            row.error_message = reason
            audit(session, Outcome.REATTEMPTED, row.id, {**details, "next_attempt": attempt + 1})
    _remove(settings, leftovers)
    if attempt >= settings.max_attempts:
        logger.warning("export %s failed: %s", export_id, message)
        dispatch_owner(sessions, settings, owner_id)  # its slot is free: the owner's next may start
        return Decision(export_id, Outcome.ABANDONED, message)
    logger.warning("export %s: %s; starting attempt %d", export_id, reason, attempt + 1)
    return Decision(
        export_id,
        Outcome.REATTEMPTED,
        reason,
        start_export_run(sessions, settings, RunRequest(export_id, attempt + 1, priority)),
    )


@dataclass
class ReconcileReport:
    """What one pass changed."""

    decisions: list[Decision] = field(default_factory=list)
    corrected: int = 0
    """Rows ended because Prefect reports their run failed or cancelled."""
    marked_crashed: int = 0
    """Runs Prefect still showed active, set CRASHED there."""
    dispatched: int = 0
    mailed: int = 0
    """Completed exports whose dead runs owed recipients their email, mailed by this pass."""

    def __bool__(self) -> bool:
        return bool(self.decisions or self.corrected or self.marked_crashed or self.dispatched or self.mailed)

    def summary(self) -> str:
        counts = {outcome: sum(d.outcome == outcome for d in self.decisions) for outcome in Outcome}
        return (
            f"{counts[Outcome.REATTEMPTED]} reattempted, {counts[Outcome.ABANDONED]} failed for good, "
            f"{self.corrected} corrected from Prefect, {self.marked_crashed} marked crashed in Prefect, "
            f"{self.dispatched} dispatched, {self.mailed} mailed for a dead run"
        )


def reconcile(sessions: sessionmaker[Session], settings: Settings) -> ReconcileReport:
    """One pass: settle the active rows whose run died or went silent, dispatch undispatched ones."""
    report = ReconcileReport()
    now = datetime.now(UTC)
    stale_before = now - timedelta(seconds=settings.heartbeat_lease_seconds)
    with sessions() as session:
        rows = session.execute(
            select(DataExport.id, DataExport.status, DataExport.flow_run_id, DataExport.heartbeat_at)
            .where(
                DataExport.status.in_(ACTIVE_STATUSES),
                DataExport.deleted_at.is_(None),
                or_(DataExport.status == ExportStatus.PROCESSING, DataExport.flow_run_id.is_not(None)),
            )
            .order_by(DataExport.created_at)
            .limit(ROWS_PER_PASS)
        ).all()
    states = read_run_states([row.flow_run_id for row in rows if row.flow_run_id is not None])
    if states is None:
        return report  # Prefect unreachable (or not configured): nothing can be decided or dispatched
    for export_id, status, flow_run_id, heartbeat_at in rows:
        state = states.get(flow_run_id) if flow_run_id is not None else None
        if state is not None and state.type in (StateType.FAILED, StateType.CANCELLED):
            report.corrected += correct_from_prefect(sessions, export_id, state)
        elif state is not None and state.type == StateType.CRASHED:
            _record(report, settle(sessions, settings, export_id, Death.crashed(flow_run_id, state.message)))
        elif status == ExportStatus.PROCESSING and (heartbeat_at is None or heartbeat_at < stale_before):
            silent_for = (
                int((now - heartbeat_at).total_seconds())
                if heartbeat_at
                else settings.heartbeat_lease_seconds
            )
            decision = settle(
                sessions, settings, export_id, Death.silent(flow_run_id, silent_for, stale_before)
            )
            _record(report, decision)
            if decision is not None and flow_run_id is not None and is_active(state):
                report.marked_crashed += mark_crashed(
                    flow_run_id, f"exportflow's reconciler: {decision.message}"
                )
    report.mailed = mail_what_dead_runs_owe(sessions, settings, stale_before)
    report.dispatched = dispatch_pending(sessions, settings)
    return report


def _still_dead(row: DataExport, death: Death) -> bool:
    if row.status not in ACTIVE_STATUSES or row.flow_run_id != death.flow_run_id:
        return False
    return death.stale_before is None or row.heartbeat_at is None or row.heartbeat_at < death.stale_before


def _record(report: ReconcileReport, decision: Decision | None) -> None:
    if decision is not None:
        report.decisions.append(decision)


def _leftovers(settings: Settings, row: DataExport) -> Leftovers:
    """What the row's current attempt left, listed now (nothing of a next attempt exists yet)."""
    export_folder = settings.staging_dir / str(row.id)
    work_folders = (
        tuple(sorted(path for path in export_folder.iterdir() if path.is_dir()))
        if export_folder.is_dir()
        else ()
    )
    if row.started_at is None:  # it never began: nothing stored
        return Leftovers(work_folders)
    rendered = {path.name for folder in work_folders for path in folder.iterdir() if path.name != STAGED_FILE}
    try:
        storage = open_storage(settings)
        folder = posixpath.dirname(export_key(row.export_type, row.started_at, row.id, STAGED_FILE))
        stored = tuple(key for key in storage.list_keys(folder) if key != row.storage_key)
        temporaries = (
            tuple(
                item.key
                for item in storage.list_objects(TEMP_DIR)
                if any(item.key.endswith(f"-{name}.part") for name in rendered)
            )
            if rendered
            else ()
        )
    except ExportflowError as error:
        logger.warning("export %s: its stored leftovers stay for the cleanup: %s", row.id, error)
        return Leftovers(work_folders)
    return Leftovers(work_folders, stored, temporaries)


def _remove(settings: Settings, leftovers: Leftovers) -> None:
    for folder in leftovers.work_folders:
        shutil.rmtree(folder, ignore_errors=True)
    if not (leftovers.stored_keys or leftovers.temporaries):
        return
    try:
        storage = open_storage(settings)
        for key in leftovers.stored_keys:
            storage.delete(key)
        for key in leftovers.temporaries:
            _remove_temporary(storage, key)
    except ExportflowError as error:
        logger.warning("removing a dead attempt's files failed, left for the cleanup: %s", error)


def _remove_temporary(storage: Storage, key: str) -> None:
    """An upload temporary (`.tmp/...`, which `Storage.delete` refuses as a key)."""
    with suppress(FileNotFoundError):
        storage.filesystem.rm_file(f"{storage.root}/{key}")
