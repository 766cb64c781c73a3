"""exportflow's background service, the reconciler: every EXPORTFLOW_RECONCILE_INTERVAL_SECONDS it
settles exports whose runs died or went silent, starts those stored while Prefect was down
(flows/exports/reconcile.py) and brings schedules changed meanwhile to Prefect
(flows/schedules/prefect_sync.py).

Shaped like Prefect's server loop services: a name, an interval, `run_once` (one tick), a loop that
logs a failed tick and goes on, and a stop that ends the wait between ticks at once. It runs in a
thread beside the API (`exportflow api`, when EXPORTFLOW_RUN_BACKGROUND_SERVICES is on: `start` and
`stop` are what `api.app.create_app` calls around its lifespan), or in the foreground as a process of
its own (`serve`, the command `exportflow reconcile --loop`). Any number may run at once (see
flows/exports/reconcile.py).
"""

import contextvars
import logging
import logging.config
import signal
import threading
import time
from types import FrameType

from sqlalchemy.orm import Session, sessionmaker

from deployments.api_cli import log_config
from flows.exports.reconcile import reconcile
from flows.schedules.prefect_sync import sync_schedules
from flows.settings import Settings

logger = logging.getLogger("exportflow.background")

STOP_TIMEOUT_SECONDS = 5.0
"""How long `stop` waits for a tick in progress (within `exportflow up`'s grace period for a child)."""


class Reconciler:
    """The background service: `run_once` every `interval` seconds until stopped."""

    name = "reconciler"

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions
        self.interval = settings.reconcile_interval_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> None:
        """One tick: a reconcile pass (its report logged when it changed anything), then the schedule sync."""
        report = reconcile(self.sessions, self.settings)
        if report:
            logger.info("reconciled: %s", report.summary())
        sync_schedules(self.sessions, self.settings)

    def run(self) -> None:
        """Tick at once, then `interval` seconds after each tick ends, until `stop`; a failed tick is
        logged and the next one comes as usual."""
        logger.info("%s started: a tick every %g s", self.name, self.interval)
        while not self._stopping.is_set():
            began = time.monotonic()
            try:
                self.run_once()
            except Exception:
                logger.exception("%s: the tick failed; the next one in %g s", self.name, self.interval)
            else:
                logger.debug("%s: tick done in %.2f s", self.name, time.monotonic() - began)
            self._stopping.wait(self.interval)
        logger.info("%s stopped", self.name)

    def start(self) -> None:
        """Run the loop in a daemon thread, in the starter's context (Prefect's settings live in a
        context variable, as they did for the API's earlier loop)."""
        self._stopping.clear()
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self.run,), name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the loop: at once between ticks, else after the tick in progress (waited for up to
        STOP_TIMEOUT_SECONDS)."""
        self._stopping.set()
        if self._thread is None:
            return
        self._thread.join(STOP_TIMEOUT_SECONDS)
        if self.running:
            logger.warning("%s: its tick outlasted the stop; it ends with the process", self.name)

    @property
    def running(self) -> bool:
        """Whether the loop's thread is alive."""
        return self._thread is not None and self._thread.is_alive()


def serve(settings: Settings, sessions: sessionmaker[Session]) -> None:
    """The service as a process of its own: in the foreground, logging as `exportflow api` does,
    until SIGINT or SIGTERM."""
    logging.config.dictConfig(log_config(settings.log_level))
    service = Reconciler(settings, sessions)

    def request_stop(signum: int, frame: FrameType | None) -> None:
        service.stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_stop)
    service.run()
