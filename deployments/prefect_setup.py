"""The Prefect side of exportflow, made idempotently: the work pool, its queues, the export deployment
and the export-cleanup deployment with its cron schedule.

Run against the configured Prefect API (PREFECT_API_URL; see flows.orchestration.prefect_config). The pool
`exportflow` is of the warm worker's type (deployments/warm_worker.py, the process worker's job
template); its queues `high` and `normal` are polled in priority order by `exportflow worker`.

The pool's concurrency limit is EXPORTFLOW_MAX_RUNNING_EXPORTS: the global cap on running exports.

The export deployment is created once and afterwards only PATCHed, without a `schedules` field:
Prefect's create call (an upsert) and RunnerDeployment.apply() both replace the deployment's
schedules, which would delete the per-user schedules exportflow adds to it through the API.
"""

import uuid
from typing import Any

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import (
    DeploymentScheduleCreate,
    DeploymentUpdate,
    WorkPoolCreate,
    WorkPoolUpdate,
)
from prefect.client.schemas.objects import WorkPool
from prefect.client.schemas.schedules import CronSchedule
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.flows import Flow
from prefect.utilities.callables import parameter_schema

from deployments.warm_worker import WarmWorker
from flows.errors import ConfigurationError
from flows.orchestration.pool import WORK_POOL, WORK_QUEUES
from flows.settings import Settings
from flows.vocabulary import ExportPriority

EXPORT_ENTRYPOINT = "flows.export.export"
"""A module path: the package is installed wherever a worker runs, so runs need no pull step."""
QUEUE_PRIORITIES = {WORK_QUEUES[ExportPriority.HIGH]: 1, WORK_QUEUES[ExportPriority.NORMAL]: 2}
"""Queue name to priority (1 is polled first)."""
DEFAULT_QUEUE = WORK_QUEUES[ExportPriority.NORMAL]
DEPLOYMENT_DESCRIPTION = (
    "One export of business data, from its data_exports row to a stored file and an email."
)
CLEANUP_DEPLOYMENT = "export-cleanup"
CLEANUP_ENTRYPOINT = "flows.cleanup.export_cleanup"
CLEANUP_SCHEDULE_SLUG = "cleanup-cron"
"""The cleanup deployment's own schedule; others added to it by hand are left alone."""
CLEANUP_DESCRIPTION = (
    "Retention cleanup: expires exports past their retention, removes old work files, reports orphans."
)


def set_up_prefect(client: SyncPrefectClient, settings: Settings) -> uuid.UUID:
    """Ensure the work pool with its concurrency limit, its queues, the cleanup and the export deployment;
    returns the export's id."""
    ensure_pool_limit(client, ensure_work_pool(client), settings.max_running_exports)
    ensure_work_queues(client)
    ensure_cleanup_deployment(client, settings)
    return ensure_export_deployment(client, settings)


def ensure_work_pool(client: SyncPrefectClient) -> WorkPool:
    """The `exportflow` work pool of the warm worker's type, created if missing (an existing one is
    left as it is: a pool made for `prefect worker start` keeps working, with a type warning)."""
    try:
        return client.read_work_pool(WORK_POOL)
    except ObjectNotFound:
        pool = WorkPoolCreate(
            name=WORK_POOL,
            type=WarmWorker.type,
            base_job_template=WarmWorker.get_default_base_job_template(),
            description="exportflow's export runs, started by `exportflow worker`.",
        )
        try:
            return client.create_work_pool(pool)
        except ObjectAlreadyExists:  # a starting worker made it meanwhile, from the same template
            return client.read_work_pool(WORK_POOL)


def ensure_pool_limit(client: SyncPrefectClient, pool: WorkPool, limit: int | None) -> None:
    """Set the pool's concurrency limit to EXPORTFLOW_MAX_RUNNING_EXPORTS (None clears it): Prefect then
    hands all workers together no more than that many of the pool's runs at once (the cleanup's
    included), the others waiting scheduled in their queues. One changed in the Prefect UI holds until
    the next setup."""
    if pool.concurrency_limit != limit:
        client.update_work_pool(WORK_POOL, WorkPoolUpdate(concurrency_limit=limit))


def ensure_work_queues(client: SyncPrefectClient) -> dict[str, int]:
    """Give the pool its queues with their priorities; returns every queue's priority as it ended up.

    Prefect renumbers the other queues when a priority is taken, so the queues are set from the
    highest priority down and the end state is checked.
    """
    for name, priority in sorted(QUEUE_PRIORITIES.items(), key=lambda item: item[1]):
        try:
            queue = client.read_work_queue_by_name(name, work_pool_name=WORK_POOL)
        except ObjectNotFound:
            client.create_work_queue(name, priority=priority, work_pool_name=WORK_POOL)
            continue
        if queue.priority != priority:
            client.update_work_queue(queue.id, priority=priority)
    priorities = {queue.name: queue.priority for queue in client.read_work_queues(work_pool_name=WORK_POOL)}
    wrong = {
        name: priorities.get(name)
        for name, wanted in QUEUE_PRIORITIES.items()
        if priorities.get(name) != wanted
    }
    if wrong:
        raise ConfigurationError(f"work pool {WORK_POOL}: queue priorities ended up wrong: {wrong}")
    return priorities


def ensure_export_deployment(client: SyncPrefectClient, settings: Settings) -> uuid.UUID:
    """Create the export deployment, or update it in place leaving its schedules alone."""
    from flows.export import export

    flow_name, _, name = settings.export_deployment.partition("/")
    if flow_name != export.name or not name:
        raise ConfigurationError(
            f"EXPORTFLOW_EXPORT_DEPLOYMENT must be {export.name}/<deployment name>, "
            f"not {settings.export_deployment!r}"
        )
    return _create_or_update(client, export, name, EXPORT_ENTRYPOINT, DEPLOYMENT_DESCRIPTION)


def ensure_cleanup_deployment(client: SyncPrefectClient, settings: Settings) -> uuid.UUID:
    """Create or update the export-cleanup deployment and set its cron schedule (UTC) to
    EXPORTFLOW_CLEANUP_CRON; a schedule paused in the Prefect UI stays paused."""
    from flows.cleanup import export_cleanup

    try:
        wanted = CronSchedule(cron=settings.cleanup_cron, timezone="UTC")
    except ValueError as error:
        raise ConfigurationError(f"EXPORTFLOW_CLEANUP_CRON is not a cron expression: {error}") from error
    deployment_id = _create_or_update(
        client, export_cleanup, CLEANUP_DEPLOYMENT, CLEANUP_ENTRYPOINT, CLEANUP_DESCRIPTION
    )
    schedules = client.read_deployment_schedules(deployment_id)
    ours = [item for item in schedules if item.slug == CLEANUP_SCHEDULE_SLUG]
    if not ours:
        created = DeploymentScheduleCreate(schedule=wanted, active=True, slug=CLEANUP_SCHEDULE_SLUG)
        client.create_deployment_schedules(deployment_id, [created])
    elif ours[0].schedule != wanted:
        client.update_deployment_schedule(deployment_id, ours[0].id, schedule=wanted)
    return deployment_id


def _create_or_update(
    client: SyncPrefectClient, flow: Flow[..., Any], name: str, entrypoint: str, description: str
) -> uuid.UUID:
    """Create the flow's deployment `name` on the pool, or update it in place leaving its schedules alone."""
    fields: dict[str, Any] = {
        "description": description,
        "work_pool_name": WORK_POOL,
        "work_queue_name": DEFAULT_QUEUE,
        "entrypoint": entrypoint,
        "pull_steps": [],
        "parameter_openapi_schema": parameter_schema(flow).model_dump(exclude_unset=True),
        "enforce_parameter_schema": True,
    }
    try:
        existing = client.read_deployment_by_name(f"{flow.name}/{name}")
    except ObjectNotFound:
        flow_id = client.create_flow_from_name(flow.name)
        return client.create_deployment(flow_id=flow_id, name=name, **fields)
    client.update_deployment(existing.id, DeploymentUpdate(**fields))
    return existing.id
