"""Schedules in Prefect (the session's real Prefect API): the routes apply changes at once when Prefect
answers, keep them when it does not, and `sync_schedules` reconciles both ways, idempotently."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.objects import DeploymentSchedule
from prefect.client.schemas.schedules import CronSchedule
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from deployments.cli import app
from deployments.prefect_setup import set_up_prefect
from flows.appdb.engine import transaction
from flows.appdb.models import AuditLog, ExportSchedule
from flows.schedules.prefect_sync import SLUG_PREFIX, SyncReport, sync_schedules
from flows.settings import Settings
from tests.api.conftest import Caller
from tests.api.test_schedules import URL, create
from tests.network import free_port

pytestmark = pytest.mark.usefixtures("prefect_api")

runner = CliRunner()


@pytest.fixture
def prefect(prefect_api: str) -> Iterator[SyncPrefectClient]:
    with get_client(sync_client=True) as client:
        yield client


@pytest.fixture
def deployment_id(prefect: SyncPrefectClient, api_settings: Settings) -> Iterator[uuid.UUID]:
    """The export deployment on the session's Prefect; the schedules tests add are removed after them."""
    deployment = set_up_prefect(prefect, api_settings)
    yield deployment
    for schedule in prefect.read_deployment_schedules(deployment):
        if "schedule_id" in schedule.parameters:
            prefect.delete_deployment_schedule(deployment, schedule.id)


@contextmanager
def prefect_down() -> Iterator[None]:
    """Within it, this thread's Prefect (and that of the requests it makes) is a port nothing listens on."""
    with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{free_port()}/api"}):
        yield


def in_prefect(prefect: SyncPrefectClient, deployment_id: uuid.UUID) -> dict[str, DeploymentSchedule]:
    """The deployment's schedules by the exportflow schedule id they carry."""
    return {
        str(schedule.parameters["schedule_id"]): schedule
        for schedule in prefect.read_deployment_schedules(deployment_id)
        if "schedule_id" in schedule.parameters
    }


def stored(sessions: sessionmaker[Session], schedule_id: str) -> ExportSchedule | None:
    with sessions() as session:
        return session.get(ExportSchedule, uuid.UUID(schedule_id))


def changed(report: SyncReport | None) -> set[str]:
    assert report is not None
    return {line.rsplit(" ", 1)[1] for line in report.lines()}


@pytest.mark.slow
def test_changes_made_while_prefect_is_down_are_applied_once_it_answers(
    client: TestClient,
    prefect: SyncPrefectClient,
    deployment_id: uuid.UUID,
    api_settings: Settings,
    sessions: sessionmaker[Session],
    admin: Caller,
) -> None:
    with prefect_down():
        nightly = create(client, admin)
        weekly = create(client, admin, frequency="weekly", weekday="friday", time_of_day="17:45")
        paused = client.post(f"{URL}/{weekly['id']}/pause", headers=admin.headers)

    assert paused.status_code == 200, paused.text
    assert nightly["prefect_synced"] is False
    assert paused.json()["data"]["prefect_synced"] is False
    assert not {nightly["id"], weekly["id"]} & set(in_prefect(prefect, deployment_id))

    report = sync_schedules(sessions, api_settings)  # Prefect answers again

    assert report is not None
    assert {nightly["id"], weekly["id"]} <= {str(item) for item in report.created}
    remote = in_prefect(prefect, deployment_id)
    assert remote[nightly["id"]].schedule == CronSchedule(cron="0 9 * * *", timezone="Europe/Berlin")
    assert remote[nightly["id"]].active is True
    assert remote[nightly["id"]].parameters == {"schedule_id": nightly["id"]}
    assert remote[nightly["id"]].slug == f"{SLUG_PREFIX}{nightly['id']}"
    assert remote[weekly["id"]].schedule == CronSchedule(cron="45 17 * * 5", timezone="Europe/Berlin")
    assert remote[weekly["id"]].active is False
    for schedule_id in (nightly["id"], weekly["id"]):
        row = stored(sessions, schedule_id)
        assert row is not None
        assert row.prefect_synced is True
        assert row.prefect_schedule_id == remote[schedule_id].id

    again = sync_schedules(sessions, api_settings)

    assert not {nightly["id"], weekly["id"]} & changed(again)
    assert len(in_prefect(prefect, deployment_id)) == len(remote)


def test_with_prefect_up_the_routes_act_on_prefect_at_once(
    client: TestClient,
    prefect: SyncPrefectClient,
    deployment_id: uuid.UUID,
    admin: Caller,
) -> None:
    schedule = create(client, admin, frequency="monthly", day_of_month=31, timezone="America/New_York")
    one = f"{URL}/{schedule['id']}"

    assert schedule["prefect_synced"] is True
    remote = in_prefect(prefect, deployment_id)[schedule["id"]]
    assert remote.id == uuid.UUID(schedule["prefect_schedule_id"])
    assert getattr(remote.schedule, "rrule", None) == (
        "DTSTART:20200101T000000\nFREQ=MONTHLY;BYMONTHDAY=31,-1;BYSETPOS=1;BYHOUR=9;BYMINUTE=0;BYSECOND=0"
    )

    assert client.post(f"{one}/pause", headers=admin.headers).json()["data"]["prefect_synced"] is True
    assert in_prefect(prefect, deployment_id)[schedule["id"]].active is False
    client.post(f"{one}/resume", headers=admin.headers)
    assert in_prefect(prefect, deployment_id)[schedule["id"]].active is True
    updated = client.put(one, json={"cron_expression": "15 7 * * 1-5"}, headers=admin.headers)
    assert updated.status_code == 200, updated.text
    assert in_prefect(prefect, deployment_id)[schedule["id"]].schedule == CronSchedule(
        cron="15 7 * * 1-5", timezone="America/New_York"
    )
    assert client.delete(one, headers=admin.headers).status_code == 200
    assert schedule["id"] not in in_prefect(prefect, deployment_id)


def test_sync_takes_a_pause_made_in_prefect_reverts_edits_and_deletes_orphans(
    client: TestClient,
    prefect: SyncPrefectClient,
    deployment_id: uuid.UUID,
    api_settings: Settings,
    sessions: sessionmaker[Session],
    admin: Caller,
) -> None:
    schedule = create(client, admin)
    remote_id = uuid.UUID(schedule["prefect_schedule_id"])

    # Paused in the Prefect UI: a PATCH of `active` alone, which also resets the schedule's parameters.
    prefect.update_deployment_schedule(deployment_id, remote_id, active=False)
    (lost,) = [item for item in prefect.read_deployment_schedules(deployment_id) if item.id == remote_id]
    assert lost.parameters == {}
    prefect.update_deployment_schedule(
        deployment_id, remote_id, schedule=CronSchedule(cron="0 12 * * *", timezone="UTC")
    )
    report = sync_schedules(sessions, api_settings)

    assert report is not None
    assert uuid.UUID(schedule["id"]) in report.paused_from_prefect
    assert uuid.UUID(schedule["id"]) in report.updated
    row = stored(sessions, schedule["id"])
    assert row is not None
    assert row.is_active is False
    remote = in_prefect(prefect, deployment_id)[schedule["id"]]
    assert remote.active is False
    assert remote.schedule == CronSchedule(cron="0 9 * * *", timezone="Europe/Berlin")
    assert remote.parameters == {"schedule_id": schedule["id"]}
    with sessions() as session:
        entry = session.scalars(
            select(AuditLog).where(
                AuditLog.resource_id == schedule["id"], AuditLog.action == "schedule_paused"
            )
        ).one()
    assert entry.user_id is None
    assert entry.details == {"source": "prefect"}
    assert schedule["id"] not in changed(sync_schedules(sessions, api_settings))

    with transaction(sessions) as session:  # the row goes, Prefect still has the schedule
        session.delete(session.get_one(ExportSchedule, uuid.UUID(schedule["id"])))
    report = sync_schedules(sessions, api_settings)

    assert report is not None
    assert uuid.UUID(schedule["id"]) in report.deleted
    assert schedule["id"] not in in_prefect(prefect, deployment_id)


@pytest.mark.slow
def test_sync_without_prefect_or_its_deployment_changes_nothing_and_says_so(
    client: TestClient,
    api_settings: Settings,
    sessions: sessionmaker[Session],
    admin: Caller,
) -> None:
    with prefect_down():
        schedule = create(client, admin)
        assert sync_schedules(sessions, api_settings) is None
    assert (
        sync_schedules(sessions, api_settings.model_copy(update={"export_deployment": "export/none"})) is None
    )
    row = stored(sessions, schedule["id"])
    assert row is not None
    assert row.prefect_synced is False


@pytest.mark.usefixtures("exportflow_env")
def test_the_sync_command_reports_what_it_changed_and_is_idempotent(
    client: TestClient, deployment_id: uuid.UUID, prefect: SyncPrefectClient, admin: Caller
) -> None:
    with prefect_down():
        schedule = create(client, admin)

    first = runner.invoke(app, ["schedules", "sync"])
    second = runner.invoke(app, ["schedules", "sync"])

    assert first.exit_code == 0, first.output
    assert f"created in Prefect {schedule['id']}" in first.output
    assert schedule["id"] in in_prefect(prefect, deployment_id)
    assert second.exit_code == 0, second.output
    assert schedule["id"] not in second.output
