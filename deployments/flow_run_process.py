"""What runs inside a warm flow-run process: Prefect's own engine entry, minus the interpreter start.

The warm worker's forkserver imports this module once (with Prefect and exportflow's flows), then
forks one child per flow run that calls `run_flow_run`. The body follows `python -m prefect.engine`
(prefect/engine.py): consume the control-channel bootstrap, load the flow run and its flow, run
it under Prefect's signal handling, so cancel, crash and exit codes behave as with the stock worker.

Importing this module must start no thread, event loop or client: it is imported in the forkserver,
and a fork copies only the thread that forks.
"""

import importlib
import os
import uuid
from collections.abc import Mapping

from prefect._internal.control_listener import configure_from_env
from prefect._internal.metrics import RunMetrics
from prefect.context import SettingsContext, get_settings_context
from prefect.engine import _drive_run_flow_result, handle_engine_signals
from prefect.flow_engine import load_flow, load_flow_run, run_flow
from prefect.logging.loggers import flow_run_logger
from prefect.settings.models.root import Settings
from prefect.utilities.processutils import sanitize_subprocess_env

import flows.cleanup
import flows.export
from flows.render import renderer_for
from flows.vocabulary import ExportFormat

PRELOADED_FLOWS = (flows.export.export, flows.cleanup.export_cleanup)
"""Imported here so that every child starts with them (and Prefect) in memory."""
LAZY_IMPORTS = (
    "prefect.task_engine",
    "prefect.utilities.visualization",
    "prefect.concurrency.sync",
    "prefect._internal.observers",
    "rich._emoji_codes",
    "sqlalchemy.dialects.sqlite",
)
"""What Prefect, rich and SQLAlchemy import only once a run is under way (seen in a run's sys.modules):
imported here, they cost a run nothing (~0.2 s when each run imported them itself)."""
for _module in LAZY_IMPORTS:
    importlib.import_module(_module)
for _format in ExportFormat:
    renderer_for(_format)  # each renderer imports its library on first use


def run_flow_run(flow_run_id: str, environment: Mapping[str, str | None]) -> None:
    """Run one flow run in this (forked) process with the worker's environment for it."""
    os.environ.update(sanitize_subprocess_env(environment, remove_from=os.environ))
    configure_from_env()
    run_id = uuid.UUID(flow_run_id)
    with (
        SettingsContext(profile=get_settings_context().profile, settings=Settings()),
        handle_engine_signals(run_id),
    ):
        flow_run = load_flow_run(flow_run_id=run_id)
        run_logger = flow_run_logger(flow_run=flow_run)
        try:
            flow = load_flow(flow_run)
        except Exception:
            run_logger.error("Unexpected exception encountered when trying to load flow", exc_info=True)
            raise
        with RunMetrics(flow_run, flow):
            outcome = run_flow(flow, flow_run=flow_run, error_logger=run_logger)  # type: ignore[arg-type]
            _drive_run_flow_result(flow, outcome)
