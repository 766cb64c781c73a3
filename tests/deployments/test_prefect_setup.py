"""deployments.prefect_setup against a real Prefect API (the session's test harness): the work pool,
its concurrency limit (the global cap) and queues with their priorities, the export deployment,
idempotency, and schedules surviving a re-run."""

import uuid
from collections.abc import Iterator
from contextlib import suppress

import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate, WorkPoolUpdate
from prefect.client.schemas.schedules import CronSchedule
from prefect.exceptions import ObjectNotFound
from prefect.states import Completed, Running

from deployments.prefect_setup import (
    CLEANUP_ENTRYPOINT,
    CLEANUP_SCHEDULE_SLUG,
    EXPORT_ENTRYPOINT,
    set_up_prefect,
)
from deployments.warm_worker import WORKER_TYPE
from flows.errors import ConfigurationError
from flows.orchestration.pool import WORK_POOL
from flows.settings import Settings

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture
def client() -> Iterator[SyncPrefectClient]:
    """A client of the harness's API, with no exportflow pool or export deployment on it (so setup starts
    from nothing, whatever other tests left on the session's Prefect)."""
    with get_client(sync_client=True) as client:
        with suppress(ObjectNotFound):
            client.delete_work_pool(WORK_POOL)
        with suppress(ObjectNotFound):
            client.delete_deployment(client.read_deployment_by_name("export/export").id)
        yield client


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home")


def queue_priorities(client: SyncPrefectClient) -> dict[str, int]:
    return {queue.name: queue.priority for queue in client.read_work_queues(work_pool_name=WORK_POOL)}


def test_setup_makes_the_pool_its_prioritised_queues_and_the_deployment(
    client: SyncPrefectClient, settings: Settings
) -> None:
    deployment_id = set_up_prefect(client, settings)

    pool = client.read_work_pool(WORK_POOL)
    assert pool.type == WORKER_TYPE
    assert pool.base_job_template["job_configuration"]["command"] == "{{ command }}"
    priorities = queue_priorities(client)
    assert (priorities["high"], priorities["normal"]) == (1, 2)
    assert set(priorities) == {"default", "high", "normal"}  # Prefect's own queue is moved behind ours
    assert priorities["default"] > 2
    deployment = client.read_deployment_by_name("export/export")
    assert deployment.id == deployment_id
    assert deployment.work_pool_name == WORK_POOL
    assert deployment.work_queue_name == "normal"
    assert deployment.entrypoint == EXPORT_ENTRYPOINT
    assert deployment.pull_steps == []
    assert deployment.parameter_openapi_schema is not None
    assert set(deployment.parameter_openapi_schema["properties"]) == {"export_id", "schedule_id"}
    assert deployment.schedules == []


def test_setup_run_again_changes_nothing_and_restores_priorities(
    client: SyncPrefectClient, settings: Settings
) -> None:
    first = set_up_prefect(client, settings)
    before = queue_priorities(client)
    high = client.read_work_queue_by_name("high", work_pool_name=WORK_POOL)
    client.update_work_queue(high.id, priority=3)  # someone reorders the queues by hand
    assert queue_priorities(client)["high"] == 3

    second = set_up_prefect(client, settings)
    third = set_up_prefect(client, settings)

    assert first == second == third
    assert queue_priorities(client) == before
    assert len(client.read_work_queues(work_pool_name=WORK_POOL)) == 3


def test_a_schedule_added_through_the_api_survives_running_setup_again(
    client: SyncPrefectClient, settings: Settings
) -> None:
    deployment_id = set_up_prefect(client, settings)
    (added,) = client.create_deployment_schedules(
        deployment_id,
        [
            DeploymentScheduleCreate(
                schedule=CronSchedule(cron="0 9 * * *", timezone="Europe/Berlin"),
                parameters={"export_id": "00000000-0000-0000-0000-000000000001"},
                active=False,
            )
        ],
    )
    try:
        set_up_prefect(client, settings)

        kept = client.read_deployment_schedules(deployment_id)
        assert [schedule.id for schedule in kept] == [added.id]
        assert kept[0].parameters == {"export_id": "00000000-0000-0000-0000-000000000001"}
        assert client.read_deployment(deployment_id).work_queue_name == "normal"
    finally:
        client.delete_deployment_schedule(deployment_id, added.id)


def test_a_deployment_name_of_another_flow_is_refused(client: SyncPrefectClient, tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="EXPORTFLOW_EXPORT_DEPLOYMENT must be export/"):
        set_up_prefect(client, Settings(home=tmp_path / "home", export_deployment="other/export"))


def test_setup_gives_the_cleanup_deployment_one_cron_schedule_it_keeps_in_step(
    client: SyncPrefectClient, settings: Settings
) -> None:
    set_up_prefect(client, settings)
    deployment = client.read_deployment_by_name("export-cleanup/export-cleanup")
    try:
        assert (deployment.entrypoint, deployment.work_pool_name) == (CLEANUP_ENTRYPOINT, WORK_POOL)
        assert deployment.parameter_openapi_schema is not None
        assert set(deployment.parameter_openapi_schema["properties"]) == {"remove_orphans", "dry_run"}
        (schedule,) = client.read_deployment_schedules(deployment.id)
        assert schedule.schedule == CronSchedule(cron="0 * * * *", timezone="UTC")
        assert (schedule.slug, schedule.active) == (CLEANUP_SCHEDULE_SLUG, True)
        client.update_deployment_schedule(deployment.id, schedule.id, active=False)  # paused in the UI

        set_up_prefect(client, settings.model_copy(update={"cleanup_cron": "30 2 * * *"}))
        set_up_prefect(client, settings.model_copy(update={"cleanup_cron": "30 2 * * *"}))

        assert client.read_deployment_by_name("export-cleanup/export-cleanup").id == deployment.id
        (changed,) = client.read_deployment_schedules(deployment.id)
        assert changed.id == schedule.id
        assert changed.schedule == CronSchedule(cron="30 2 * * *", timezone="UTC")
        assert changed.active is False
    finally:
        client.delete_deployment(deployment.id)


def test_a_cleanup_cron_that_is_not_one_is_refused(client: SyncPrefectClient, settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="EXPORTFLOW_CLEANUP_CRON is not a cron expression"):
        set_up_prefect(client, settings.model_copy(update={"cleanup_cron": "every hour"}))


def test_setup_makes_the_global_cap_the_pools_concurrency_limit_and_clears_it(
    client: SyncPrefectClient, settings: Settings
) -> None:
    capped = settings.model_copy(update={"max_running_exports": 3})

    set_up_prefect(client, settings)
    assert client.read_work_pool(WORK_POOL).concurrency_limit is None
    set_up_prefect(client, capped)
    set_up_prefect(client, capped)
    assert client.read_work_pool(WORK_POOL).concurrency_limit == 3
    client.update_work_pool(WORK_POOL, WorkPoolUpdate(concurrency_limit=7))  # changed in the Prefect UI
    assert client.read_work_pool(WORK_POOL).concurrency_limit == 7
    set_up_prefect(client, capped)
    assert client.read_work_pool(WORK_POOL).concurrency_limit == 3
    set_up_prefect(client, settings)
    assert client.read_work_pool(WORK_POOL).concurrency_limit is None


def test_with_the_global_cap_reached_prefect_hands_workers_no_more_runs(
    client: SyncPrefectClient, settings: Settings
) -> None:
    """What every worker of the pool asks for (the warm worker polls with Prefect's own worker code): the
    pool's scheduled runs, at most as many as the cap leaves free. At a cap of 1 a running run leaves
    none to hand out, until it ends or the cap is lifted."""
    deployment_id = set_up_prefect(client, settings.model_copy(update={"max_running_exports": 1}))
    running, waiting = (
        client.create_flow_run_from_deployment(deployment_id, parameters={"export_id": str(uuid.uuid4())})
        for _ in range(2)
    )

    def offered() -> set[uuid.UUID]:
        return {item.flow_run.id for item in client.get_scheduled_flow_runs_for_work_pool(WORK_POOL)}

    assert len(offered()) == 1  # of the two waiting, one slot's worth
    client.set_flow_run_state(running.id, Running(), force=True)
    assert offered() == set()
    client.set_flow_run_state(running.id, Completed(), force=True)
    assert offered() == {waiting.id}
    client.set_flow_run_state(waiting.id, Running(), force=True)
    assert offered() == set()
    set_up_prefect(client, settings)  # no cap
    extra = client.create_flow_run_from_deployment(deployment_id, parameters={"export_id": str(uuid.uuid4())})
    assert offered() == {extra.id}
