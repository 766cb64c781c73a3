"""A Prefect worker type that starts each flow run in milliseconds instead of seconds.

Prefect's process worker runs `python -m prefect.engine` per flow run: a fresh interpreter that
spends ~3.5 s importing Prefect and the flow before the first row moves. `WarmWorker` keeps one
multiprocessing forkserver that has imported Prefect and exportflow's flows once
(`deployments.flow_run_process`) and forks a child per run from it (3-8 ms).

Everything else is Prefect's: `BaseWorker` polls the pool's queues in priority order, claims runs
and holds the worker's concurrency cap (`limit`); `FlowRunExecutorContext` proposes CRASHED when a
child exits non-zero (a killed export takes no sibling with it, each is its own process), runs the
crash and cancellation hooks, and cancels through Prefect's control channel (then SIGTERM, then
SIGKILL). Only the way a process is started differs, through Prefect's `ProcessStarter` seam.

The seam uses private Prefect modules (`prefect.runner._*`): Prefect is pinned in uv.lock and
tests/test_warm_worker.py checks the behaviour above on every upgrade. Code changes need a worker
restart (the forkserver keeps the modules it imported).
"""

import multiprocessing
import multiprocessing.context
import os
import uuid
from typing import Any

import anyio
import anyio.abc
from prefect.client.schemas.objects import FlowRun
from prefect.flows import load_flow_from_flow_run
from prefect.runner._control_channel import ControlChannel
from prefect.runner._flow_run_executor import FlowRunExecutionResult, FlowRunExecutorContext
from prefect.runner._process_manager import ProcessHandle
from prefect.settings import get_current_settings
from prefect.workers.base import BaseWorker, BaseWorkerResult
from prefect.workers.process import ProcessJobConfiguration, ProcessVariables

from deployments.flow_run_process import run_flow_run

WORKER_TYPE = "exportflow-warm"
PRELOAD_MODULES = ("deployments.flow_run_process", "deployments.cli")
"""Imported once by the forkserver. Python 3.11's forkserver ignores a "__main__" preload, so each child
runs the worker's main script (`exportflow`) again before its target: what that script imports
(deployments.cli) must be preloaded too, or every run pays ~0.3 s of imports."""
STOP_GRACE_SECONDS = 5.0
"""When the worker itself stops: how long a running child has after SIGTERM before SIGKILL."""


class WarmStarter:
    """Prefect `ProcessStarter`: forks a flow run's process from the forkserver and waits for its exit."""

    def __init__(
        self,
        *,
        context: multiprocessing.context.ForkServerContext,
        environment: dict[str, str | None],
        control_channel: ControlChannel | None,
    ) -> None:
        self._context = context
        self._environment = environment
        self._control_channel = control_channel

    async def start(
        self,
        flow_run: FlowRun,
        task_status: anyio.abc.TaskStatus[ProcessHandle] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        environment: dict[str, str | None] = {
            **self._environment,
            **get_current_settings().to_environment_variables(exclude_unset=True),
            "PREFECT__FLOW_RUN_ID": str(flow_run.id),
            # as with the stock worker: crash and cancellation hooks run here, not in the child
            "PREFECT__ENABLE_CANCELLATION_AND_CRASHED_HOOKS": "false",
        }
        registered = self._register(flow_run.id, environment)
        process = self._context.Process(
            target=run_flow_run, args=(str(flow_run.id), environment), name=f"flow-run-{flow_run.id}"
        )
        try:
            await anyio.to_thread.run_sync(process.start)
        except BaseException:
            if registered and self._control_channel is not None:
                self._control_channel.unregister(flow_run.id)
            raise
        task_status.started(ProcessHandle(process))  # type: ignore[arg-type]  # any multiprocessing Process
        try:
            await anyio.to_thread.run_sync(process.join, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_stop, process)
            raise

    def _register(self, flow_run_id: uuid.UUID, environment: dict[str, str | None]) -> bool:
        """Register the run with the control channel (graceful cancel); False when it is disabled."""
        if self._control_channel is None:
            return False
        try:
            port, token = self._control_channel.register(flow_run_id)
        except RuntimeError:  # no loopback listener: Prefect falls back to kill-only cancellation
            return False
        environment["PREFECT__CONTROL_PORT"] = str(port)
        environment["PREFECT__CONTROL_TOKEN"] = token
        return True


def _stop(process: multiprocessing.process.BaseProcess) -> None:
    """SIGTERM a child (Prefect's engine then reports the run as crashed), SIGKILL it if it lingers."""
    if process.is_alive():
        process.terminate()
        process.join(STOP_GRACE_SECONDS)
    if process.is_alive():
        process.kill()
        process.join()


class WarmWorkerResult(BaseWorkerResult):
    """How a flow run's process ended."""


class WarmWorker(BaseWorker[ProcessJobConfiguration, ProcessVariables, WarmWorkerResult]):
    """Runs each flow run in a child of a pre-imported forkserver; same job template as `process`."""

    type = WORKER_TYPE
    job_configuration = ProcessJobConfiguration
    job_configuration_variables = ProcessVariables
    _description = (
        "Runs flow runs as processes forked from a pre-imported forkserver: "
        "milliseconds to start instead of a fresh interpreter's seconds."
    )
    _display_name = "exportflow warm process"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._forkserver = multiprocessing.get_context("forkserver")
        self._forkserver.set_forkserver_preload(list(PRELOAD_MODULES))

    async def setup(self) -> None:
        """Start the forkserver and let it finish its imports before the first run is claimed."""
        await super().setup()
        await anyio.to_thread.run_sync(self._warm_up)

    def _warm_up(self) -> None:
        probe = self._forkserver.Process(target=os.getpid, name="forkserver-warm-up")
        probe.start()
        probe.join()

    async def run(
        self,
        flow_run: FlowRun,
        configuration: ProcessJobConfiguration,
        task_status: anyio.abc.TaskStatus[int] | None = None,
    ) -> WarmWorkerResult:
        started = task_status if task_status is not None else anyio.TASK_STATUS_IGNORED
        execution: FlowRunExecutionResult | None = None
        async with FlowRunExecutorContext() as executor_context:
            starter = WarmStarter(
                context=self._forkserver,
                environment=configuration.env,
                control_channel=executor_context.control_channel,
            )
            executor = executor_context.create_executor(
                flow_run, starter, resolve_flow=load_flow_from_flow_run, propose_submitting=False
            )

            async def execute(
                *, task_status: anyio.abc.TaskStatus[ProcessHandle] = anyio.TASK_STATUS_IGNORED
            ) -> None:
                nonlocal execution
                execution = await executor.submit(task_status=task_status)

            async with anyio.create_task_group() as task_group:
                handle: ProcessHandle = await task_group.start(execute)
                if handle.pid is None:
                    raise RuntimeError("Flow run process has no PID")
                started.started(handle.pid)
        if execution is None or execution.status_code is None:
            raise RuntimeError("Failed to start the flow run's process.")
        return WarmWorkerResult(status_code=execution.status_code, identifier=str(execution.handle.pid))
