"""Flow-run states read from Prefect, cached briefly, and the status answer built on them."""

import math
import threading
import time
import uuid
from collections import OrderedDict

from prefect.client.schemas.objects import StateType
from sqlalchemy.orm import Session, sessionmaker

from api.schemas.exports import ExportStatusOut
from flows.appdb.models import DataExport
from flows.exports.admission import queue_position
from flows.exports.lifecycle import ACTIVE_STATUSES
from flows.orchestration.flow_runs import RunState, correct_from_prefect, read_run_state

ACTIVE_TTL_SECONDS = 1.0
MAX_ENTRIES = 10_000
FINAL_STATES = frozenset({StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED})


class RunStateCache:
    """States of flow runs: a final state is kept (it never changes), any other for a second."""

    def __init__(self) -> None:
        self._entries: OrderedDict[uuid.UUID, tuple[float, RunState | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, flow_run_id: uuid.UUID, *, row_ended: bool = False) -> RunState | None:
        """The run's state; for a row that has ended, a state not yet final is read again rather than
        served from the cache (its run may have ended within the last second)."""
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(flow_run_id)
            if cached is not None and cached[0] > now and not (row_ended and cached[0] != math.inf):
                return cached[1]
        state = read_run_state(flow_run_id)
        final = state is not None and state.type in FINAL_STATES
        with self._lock:
            self._entries[flow_run_id] = (math.inf if final else now + ACTIVE_TTL_SECONDS, state)
            self._entries.move_to_end(flow_run_id)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
        return state


def current_status(cache: RunStateCache, sessions: sessionmaker[Session], row: DataExport) -> ExportStatusOut:
    """The row's status; an active row whose run ended badly in Prefect is corrected (and re-read) first;
    one waiting for its owner's slot says where it stands in their queue.

    Call it with no transaction of the caller's open: a correction writes in its own.
    """
    ended = row.status not in ACTIVE_STATUSES
    run = cache.get(row.flow_run_id, row_ended=ended) if row.flow_run_id is not None else None
    if run is not None and not ended and correct_from_prefect(sessions, row.id, run):
        row = load_export(sessions, row.id)
    return ExportStatusOut.of(row, run, queue_position(sessions, row))


def load_export(sessions: sessionmaker[Session], export_id: uuid.UUID) -> DataExport:
    """The row as it is now, read in a short session of its own."""
    with sessions() as session:
        return session.get_one(DataExport, export_id)
