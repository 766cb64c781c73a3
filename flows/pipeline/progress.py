"""One throttled, never-decreasing progress reporter feeding every place that shows progress.

A run reports as often as it likes (every batch); the reporter passes a value on at most once per
interval, and always on the final report. Its sinks are the row (progress and heartbeat, which
also notices a cancelled row) and the Prefect progress artifact (which also notices a run being
cancelled in Prefect). A sink may raise ExportCancelled to stop the run between batches.

Progress may pause for long (a slow query before the first batch, a long upload), so a Heartbeat
thread keeps the row's heartbeat fresh meanwhile: the reconciler takes a row without one for a
lease for dead.
"""

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flows.errors import ExportCancelled

logger = logging.getLogger(__name__)

ProgressSink = Callable[[int, str], None]
"""Receives the percentage (0 to 100) and a short description of what the run is doing."""


class ProgressReporter:
    """Monotonic progress, throttled to one pass-on per `interval` seconds (forced ones excepted)."""

    def __init__(
        self,
        sinks: Sequence[ProgressSink],
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sinks = tuple(sinks)
        self._interval = interval
        self._clock = clock
        self._percent = 0
        self._last_sent: float | None = None

    @property
    def percent(self) -> int:
        return self._percent

    def report(self, percent: float, description: str, *, force: bool = False) -> None:
        """Record progress; pass it to the sinks if the interval has passed (or `force`)."""
        self._percent = max(self._percent, min(100, int(percent)))
        now = self._clock()
        if not force and self._last_sent is not None and now - self._last_sent < self._interval:
            return
        self._last_sent = now
        for sink in self._sinks:
            sink(self._percent, description)


@dataclass(frozen=True)
class Phase:
    """A stretch of the 0 to 100 scale given to one step, e.g. rendering from 10 to 90."""

    start: float
    end: float

    def at(self, done: int, total: int) -> float:
        if total <= 0:
            return self.end
        return self.start + (self.end - self.start) * min(done, total) / total


class PrefectProgress:
    """A progress artifact on the current flow run, and a watch on the run's own state (read at most
    once per `check_interval`: the forced reports of a short run come milliseconds apart)."""

    def __init__(
        self,
        flow_run_id: uuid.UUID | None,
        check_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._flow_run_id = flow_run_id
        self._artifact_id: uuid.UUID | None = None
        self._check_interval = check_interval
        self._clock = clock
        self._last_check: float | None = None

    def __call__(self, percent: int, description: str) -> None:
        from prefect.artifacts import create_progress_artifact, update_progress_artifact

        if self._artifact_id is None:
            created = create_progress_artifact(float(percent), description=description)
            if not isinstance(created, uuid.UUID):
                raise TypeError("create_progress_artifact must be called from synchronous code here")
            self._artifact_id = created
        else:
            update_progress_artifact(self._artifact_id, float(percent), description=description)
        self._raise_if_cancelling()

    def _raise_if_cancelling(self) -> None:
        now = self._clock()
        if self._flow_run_id is None or (
            self._last_check is not None and now - self._last_check < self._check_interval
        ):
            return
        self._last_check = now
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.objects import StateType

        with get_client(sync_client=True) as client:
            state = client.read_flow_run(self._flow_run_id).state
        if state is not None and state.type in (StateType.CANCELLING, StateType.CANCELLED):
            raise ExportCancelled(f"flow run {self._flow_run_id} is being cancelled in Prefect")


class Heartbeat:
    """A daemon thread calling `beat` every `interval` seconds until stopped, or until `beat` returns
    False (the row is no longer this run's). A beat that raises is logged; the next one tries again."""

    def __init__(self, beat: Callable[[], bool], interval: float) -> None:
        self._beat = beat
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="exportflow-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop beating (a beat in flight finishes on its own; no wait)."""
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                if not self._beat():
                    return
            except Exception as error:
                logger.warning("heartbeat not recorded, trying again in %.0f s: %s", self._interval, error)
