"""Retention cleanup on both app databases, on local storage and on S3 (a moto server): the
export-cleanup flow under Prefect's test harness, `exportflow cleanup`, and two runs at once.

Completed exports are made through the record path (tests/api/test_downloads.py's make_export).
Files are aged the way the cleanup reads their age: a local file's mtime, an S3 object's
LastModified (set on the moto server's own record of the object).
"""

import os
import posixpath
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterType
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from deployments.cli import app
from flows.appdb.engine import reset_app_sessions, transaction
from flows.appdb.models import AuditLog, DataExport, ExportDownloadLog, ExportStatistic, User
from flows.cleanup import EXPORTS_FOLDER, Cleanup, CleanupReport, clean_up, export_cleanup
from flows.exports.creation import create_export
from flows.exports.lifecycle import begin_export
from flows.exports.requests import ExportRequest
from flows.settings import Settings, get_settings
from flows.storage.keys import TEMP_DIR
from flows.storage.store import Storage, open_storage
from flows.vocabulary import ExportStatus
from tests.api.conftest import (
    Caller,
    MakeExport,
    api_settings,
    make_caller,
    make_client,
    make_export,
    manager,
    sessions,
    storage_settings,
)
from tests.api.stored_exports import change_row, row_of
from tests.api.test_downloads import download

pytest_plugins = ["tests.fixtures_s3"]
SHARED_FIXTURES = (api_settings, make_caller, make_client, manager, make_export, sessions, storage_settings)
"""The API tests' fixtures this module uses: imported, so that pytest finds them here too."""

OLD = timedelta(hours=48)
runner = CliRunner()


@pytest.fixture
def process_settings(
    fresh_home: Path, monkeypatch: pytest.MonkeyPatch, storage_settings: Settings
) -> Settings:
    """The process's settings (what the flow and the CLI read) made the test's storage settings."""
    for name in ("database_url", "source_url", "storage_url", "s3_endpoint_url"):
        monkeypatch.setenv(f"EXPORTFLOW_{name.upper()}", getattr(storage_settings, name))
    get_settings.cache_clear()
    reset_app_sessions()
    settings = get_settings()
    assert settings.home == storage_settings.home
    return settings


def put(storage: Storage, path: str, data: bytes = b"left behind") -> str:
    """A file at `path` under the storage root, written directly (as a crashed upload leaves one)."""
    full = f"{storage.root}/{path}"
    if storage.is_local:
        storage.filesystem.makedirs(posixpath.dirname(full), exist_ok=True)
    storage.filesystem.pipe_file(full, data)
    return path


def make_old(storage: Storage, path: str) -> None:
    """Age a stored file by OLD: a local mtime, or the moto server's LastModified of the object."""
    when = datetime.now(UTC) - OLD
    full = f"{storage.root}/{path}"
    if storage.is_local:
        os.utime(full, (when.timestamp(), when.timestamp()))
        return
    bucket, _, key = full.partition("/")
    stored = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets[bucket].keys[key]
    stored.last_modified = when.replace(tzinfo=None)  # moto keeps naive UTC


def stage(folder: Path, *, old: bool, size: int = 1000) -> Path:
    """A staged work file `folder/work/staged.arrow`; old: every part of it last changed OLD ago."""
    path = folder / "work" / "staged.arrow"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x" * size)
    if old:
        when = (datetime.now(UTC) - OLD).timestamp()
        for item in (path, path.parent, folder):
            os.utime(item, (when, when))
    return folder


def processing_export(sessions: sessionmaker[Session], settings: Settings, owner: Caller) -> uuid.UUID:
    """An export its run has just begun: processing, heartbeat now."""
    request = ExportRequest.validated({"export_name": "running", "export_type": "sales", "format": "csv"})
    with transaction(sessions) as session:
        export_id = create_export(session, request, session.get_one(User, owner.id)).id
    begin_export(sessions, export_id, None, settings)
    return export_id


def end_processing(sessions: sessionmaker[Session], *export_ids: uuid.UUID) -> None:
    """Fail exports a test left processing, so that no other test's reconciler takes them up."""
    for export_id in export_ids:
        change_row(sessions, export_id, status=ExportStatus.FAILED.value, error_message="test over")


def audits(sessions: sessionmaker[Session], action: str, since: datetime) -> list[AuditLog]:
    """Audit entries of an action written since a time (the session's app database is shared)."""
    with sessions() as session:
        found = session.scalars(
            select(AuditLog).where(AuditLog.action == action, AuditLog.created_at >= since)
        )
        return list(found)


def counts_in(output: str) -> dict[str, int]:
    names = CleanupReport().counts()
    pairs = (line.split(": ", 1) for line in output.splitlines() if ": " in line)
    return {name: int(value) for name, value in pairs if name in names}


def past(sessions: sessionmaker[Session], export_id: uuid.UUID) -> None:
    change_row(sessions, export_id, expires_at=datetime.now(UTC) - timedelta(minutes=1))


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_the_flow_expires_old_and_deleted_exports_keeping_rows_logs_and_audit(
    process_settings: Settings,
    storage_settings: Settings,
    make_export: MakeExport,
    manager: Caller,
    make_client: Callable[[Settings], TestClient],
    sessions: sessionmaker[Session],
) -> None:
    began = datetime.now(UTC)
    client = make_client(storage_settings)
    old, fresh, deleted = (
        make_export(storage_settings, manager, name=name) for name in ("old", "fresh", "gone")
    )
    assert download(client, manager, old).status_code == 200  # logged
    past(sessions, old)
    change_row(sessions, deleted, deleted_at=datetime.now(UTC))  # hidden, its file somehow still stored
    before = {export_id: row_of(sessions, export_id) for export_id in (old, fresh, deleted)}
    storage = open_storage(storage_settings)

    state = export_cleanup(return_state=True)

    assert state.is_completed()
    counts = state.result()
    assert counts.pop("expired") >= 2  # the session's app database may hold other tests' exports
    assert counts == {
        "files_removed": 2,
        "temporaries_removed": 0,
        "staged_removed": 0,
        "orphans_found": 0,
        "orphans_removed": 0,
        "bytes_freed": before[old].file_size + before[deleted].file_size,
    }
    for export_id, reason in ((old, "retention"), (deleted, "deleted")):
        row = row_of(sessions, export_id)
        assert (row.status, row.storage_key, row.record_count) == (
            ExportStatus.EXPIRED,
            before[export_id].storage_key,
            before[export_id].record_count,
        )
        assert not storage.exists(before[export_id].storage_key or "")
        (entry,) = [
            item for item in audits(sessions, "export_expired", began) if item.resource_id == str(export_id)
        ]
        assert entry.user_id is None
        assert entry.details == {
            "reason": reason,
            "storage_key": before[export_id].storage_key,
            "file_removed": True,
            "bytes_freed": before[export_id].file_size,
        }
    with sessions() as session:
        assert session.scalars(
            select(ExportStatistic.success).where(ExportStatistic.export_id == old)
        ).all() == [True]
        assert (
            len(session.scalars(select(ExportDownloadLog).where(ExportDownloadLog.export_id == old)).all())
            == 1
        )
        assert session.scalar(
            select(AuditLog.id).where(
                AuditLog.resource_id == str(old), AuditLog.action == "export_downloaded"
            )
        )
    gone = download(client, manager, old)
    assert gone.status_code == 410
    assert gone.json()["errors"][0]["message"] == "this export has expired and its file has been removed"
    assert row_of(sessions, fresh).status == ExportStatus.COMPLETED
    assert storage.exists(before[fresh].storage_key or "")
    assert download(client, manager, fresh).status_code == 200

    with get_client(sync_client=True) as prefect:
        (artifact,) = prefect.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
                type=ArtifactFilterType(any_=["markdown"]),
            )
        )
    assert "| files removed | 2 |" in str(artifact.data)

    again = export_cleanup(return_state=True)
    assert again.result()["expired"] == 0
    mine = [
        item
        for item in audits(sessions, "export_expired", began)
        if item.resource_id in (str(old), str(deleted))
    ]
    assert len(mine) == 2


def test_the_cli_removes_old_leftovers_and_orphans_only_when_asked(
    process_settings: Settings,
    storage_settings: Settings,
    make_export: MakeExport,
    manager: Caller,
    sessions: sessionmaker[Session],
    request: pytest.FixtureRequest,
) -> None:
    began = datetime.now(UTC)
    storage = open_storage(process_settings)
    referenced = row_of(sessions, make_export(storage_settings, manager)).storage_key or ""
    make_old(storage, referenced)  # old, but an export's file: never an orphan
    old_temporary = put(storage, f"{TEMP_DIR}/{uuid.uuid4().hex}-old.csv.part")
    make_old(storage, old_temporary)
    fresh_temporary = put(storage, f"{TEMP_DIR}/{uuid.uuid4().hex}-fresh.csv.part")
    orphan = put(storage, f"{EXPORTS_FOLDER}/sales/2026/01/{uuid.uuid4()}/lost.csv", b"o" * 300)
    make_old(storage, orphan)
    being_promoted = put(storage, f"{EXPORTS_FOLDER}/sales/2026/11/{uuid.uuid4()}/new.csv")
    staging = process_settings.staging_dir
    running_id, stalled_id = (processing_export(sessions, storage_settings, manager) for _ in range(2))
    request.addfinalizer(lambda: end_processing(sessions, running_id, stalled_id))
    change_row(sessions, stalled_id, heartbeat_at=datetime.now(UTC) - timedelta(hours=1))
    running = stage(staging / str(running_id), old=True)
    stalled = stage(staging / str(stalled_id), old=True)
    abandoned = stage(staging / str(uuid.uuid4()), old=True)
    recent = stage(staging / str(uuid.uuid4()), old=False)

    def present() -> dict[str, bool]:
        stored = {key: storage.exists(key) for key in (referenced, orphan, being_promoted)}
        temporaries = {item.key for item in storage.list_objects(TEMP_DIR)}
        return (
            stored
            | {key: key in temporaries for key in (old_temporary, fresh_temporary)}
            | {str(folder): folder.exists() for folder in (running, stalled, abandoned, recent)}
        )

    everything = present()
    assert all(everything.values())

    dry = runner.invoke(app, ["cleanup", "--dry-run", "--remove-orphans"])

    assert dry.exit_code == 0, dry.output
    would = counts_in(dry.output)
    would.pop("expired")  # other tests' exports in the session's app database may be due
    assert would == {
        "files_removed": 0,
        "temporaries_removed": 1,
        "staged_removed": 2,
        "orphans_found": 1,
        "orphans_removed": 1,
        "bytes_freed": len(b"left behind") + 2 * 1000 + 300,
    }
    assert f"orphan: {orphan}" in dry.output.splitlines()
    assert present() == everything
    assert audits(sessions, "staged_files_removed", began) == []

    plain = runner.invoke(app, ["cleanup"])

    assert plain.exit_code == 0, plain.output
    counts = counts_in(plain.output)
    assert (counts["temporaries_removed"], counts["staged_removed"]) == (1, 2)
    assert (counts["orphans_found"], counts["orphans_removed"]) == (1, 0)
    assert f"orphan: {orphan}" in plain.output.splitlines()
    assert being_promoted not in plain.output
    assert present() == everything | {old_temporary: False, str(stalled): False, str(abandoned): False}
    (staged_audit,) = audits(sessions, "staged_files_removed", began)
    assert staged_audit.details["count"] == 2
    assert len(audits(sessions, "temporaries_removed", began)) == 1

    removing = runner.invoke(app, ["cleanup", "--remove-orphans"])

    assert removing.exit_code == 0, removing.output
    assert counts_in(removing.output)["orphans_removed"] == 1
    assert counts_in(removing.output)["bytes_freed"] == 300
    assert present() == everything | {
        old_temporary: False,
        str(stalled): False,
        str(abandoned): False,
        orphan: False,
    }
    (orphan_audit,) = audits(sessions, "orphans_removed", began)
    assert orphan_audit.details == {"count": 1, "keys": [orphan]}
    assert (orphan_audit.resource, orphan_audit.resource_id) == ("storage", EXPORTS_FOLDER)


def test_two_cleanups_at_once_share_the_work_and_neither_fails(
    storage_settings: Settings, make_export: MakeExport, manager: Caller, sessions: sessionmaker[Session]
) -> None:
    began = datetime.now(UTC)
    exports = [make_export(storage_settings, manager, name=f"export {index}") for index in range(6)]
    for export_id in exports:
        past(sessions, export_id)
    storage = open_storage(storage_settings)
    for index in range(3):
        make_old(storage, put(storage, f"{EXPORTS_FOLDER}/sales/2026/01/{uuid.uuid4()}/lost-{index}.csv"))
        make_old(storage, put(storage, f"{TEMP_DIR}/{uuid.uuid4().hex}-{index}.part"))
        stage(storage_settings.staging_dir / str(uuid.uuid4()), old=True)
    start = threading.Barrier(2)
    reports: list[CleanupReport] = []
    failures: list[BaseException] = []

    def run() -> None:
        cleanup = Cleanup.configured(storage_settings, sessions, remove_orphans=True, dry_run=False)
        start.wait()
        try:
            reports.append(clean_up(cleanup))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert failures == []
    assert len(reports) == 2
    mine = sorted(map(str, exports))
    expired_by_either = [export for report in reports for export in report.expired_exports]
    assert sorted(export for export in expired_by_either if export in mine) == mine  # each by one run only
    with sessions() as session:
        statuses = session.scalars(select(DataExport.status).where(DataExport.id.in_(exports))).all()
    assert statuses == [ExportStatus.EXPIRED] * 6
    audited = [entry.resource_id for entry in audits(sessions, "export_expired", began)]
    assert sorted(export for export in audited if export in mine) == mine
    assert storage.list_objects(EXPORTS_FOLDER) == []
    assert storage.list_objects(TEMP_DIR) == []
    assert list(storage_settings.staging_dir.iterdir()) == []

    after = clean_up(Cleanup.configured(storage_settings, sessions, remove_orphans=True, dry_run=False))
    assert after.counts() == dict.fromkeys(CleanupReport().counts(), 0)
