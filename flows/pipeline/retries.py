"""The retry policy of every task that touches the outside world: transient errors only, backed off."""

from typing import Any

from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.tasks import Task, exponential_backoff

from flows.errors import is_transient


def _retry_if_transient(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    return is_transient(state.result(raise_on_failure=False))


RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=2),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": _retry_if_transient,
    "cache_policy": NO_CACHE,
}
"""Keyword arguments of `@task`: three retries after 2, 4 and 8 s (±50 %) when the error is transient."""
