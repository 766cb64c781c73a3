"""The flow-run state cache behind /exports/status, against the session's real Prefect server."""

import uuid

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.states import Cancelled, Running

from api.run_states import RunStateCache


@flow(name="run-state-cache-probe")
def probe() -> None:
    """Never run: only its flow runs are made, in whatever state the test sets."""


def state_of(cache: RunStateCache, run_id: uuid.UUID, *, row_ended: bool = False) -> StateType | None:
    state = cache.get(run_id, row_ended=row_ended)
    return state.type if state is not None else None


def test_a_row_that_ended_never_shows_a_run_state_from_before_its_run_ended(prefect_api: str) -> None:
    cache = RunStateCache()
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(probe, state=Running())
        assert state_of(cache, run.id) is StateType.RUNNING

        client.set_flow_run_state(run.id, Cancelled(), force=True)
        assert state_of(cache, run.id) is StateType.RUNNING  # an active row: cached for a second
        assert state_of(cache, run.id, row_ended=True) is StateType.CANCELLED

        client.set_flow_run_state(run.id, Running(), force=True)
        assert state_of(cache, run.id, row_ended=True) is StateType.CANCELLED  # final states are kept
