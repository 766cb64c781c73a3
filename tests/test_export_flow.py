"""The export flow under a real Prefect API: success, failures, cancellation and progress.

Flows are called in-process (Prefect's own test harness serves the API); the app database is
SQLite or PostgreSQL (each test runs on both), the warehouse a real DuckDB or PostgreSQL one,
storage a local folder, email the outbox folder. Nothing is mocked.
"""

import hashlib
import socket
import threading
import time
import uuid
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterType,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect.client.schemas.objects import StateType
from prefect.states import Cancelling
from sqlalchemy import select

from flows.appdb.engine import app_sessions, transaction
from flows.appdb.models import AuditLog, DataExport, ExportStatistic, User
from flows.demo_warehouse import generate_demo_data
from flows.export import export
from flows.exports.creation import create_export
from flows.exports.requests import ExportRequest
from flows.pipeline.sources import Source
from flows.settings import get_settings
from flows.vocabulary import ExportStatus

if TYPE_CHECKING:
    from tests.fault_proxy import FaultProxy
    from tests.fixtures_smtp import SmtpServer

pytest_plugins = ["tests.fixtures_s3", "tests.fixtures_smtp"]
pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture(scope="session")
def big_duckdb_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Source:
    """A warehouse large enough for a PDF export to take a while (cancel and progress tests)."""
    from flows.pipeline.sources import parse_source

    source = parse_source(str(tmp_path_factory.mktemp("big") / "warehouse.duckdb"))
    generate_demo_data(source, rows=250_000)
    return source


def submit(role: str = "admin", *, raw: dict[str, Any] | None = None, **request: Any) -> uuid.UUID:
    """Store a pending export (validated like the API does, unless `raw` overrides the row)."""
    fields = {"export_name": "Flow test", "export_type": "sales", "format": "csv"} | request
    with transaction(app_sessions()) as session:
        owner = User(email=f"{uuid.uuid4().hex[:12]}@example.com", role=role, first_name="Zoë")
        session.add(owner)
        session.flush()
        row = create_export(session, ExportRequest.validated(fields), owner)
        for name, value in (raw or {}).items():
            setattr(row, name, value)
        return row.id


def row_of(export_id: uuid.UUID) -> DataExport:
    with app_sessions()() as session:
        return session.get_one(DataExport, export_id)


def statistics_of(export_id: uuid.UUID) -> list[ExportStatistic]:
    with app_sessions()() as session:
        return list(session.scalars(select(ExportStatistic).where(ExportStatistic.export_id == export_id)))


def audit_actions(export_id: uuid.UUID) -> list[str]:
    with app_sessions()() as session:
        query = (
            select(AuditLog.action)
            .where(AuditLog.resource_id == str(export_id))
            .order_by(AuditLog.created_at)
        )
        return list(session.scalars(query))


def outbox_messages(home: Path) -> list[EmailMessage]:
    parse = BytesParser(policy=policy.default).parsebytes
    return [parse(path.read_bytes()) for path in sorted((home / "outbox").glob("*.eml"))]


def body_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def artifacts_of(flow_run_id: uuid.UUID, kind: str) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]), type=ArtifactFilterType(any_=[kind])
            )
        )


def staging_is_empty(home: Path) -> bool:
    staging = home / "staging"
    return not staging.exists() or not any(path.is_file() for path in staging.rglob("*"))


@pytest.mark.parametrize("export_format", ["csv", "excel", "pdf", "json", "parquet"])
def test_an_export_completes_with_file_statistics_audit_artifacts_and_email(
    exportflow_env: Path, export_format: str
) -> None:
    export_id = submit(format=export_format, recipients=["ops@example.com"], filters={"region": "EMEA"})
    state = export(export_id, return_state=True)
    assert state.is_completed(), state.message

    row = row_of(export_id)
    assert row.status == ExportStatus.COMPLETED
    assert row.progress_percentage == 100
    assert row.record_count > 0
    assert row.flow_run_id == state.state_details.flow_run_id
    assert row.storage_key is not None
    stored = exportflow_env / "exports" / row.storage_key
    assert stored.is_file()
    assert stored.stat().st_size == row.file_size
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == row.checksum_sha256
    assert row.completed_at is not None
    assert row.expires_at == row.completed_at + timedelta(days=7)
    assert staging_is_empty(exportflow_env)

    (statistic,) = statistics_of(export_id)
    assert statistic.success
    assert statistic.record_count == row.record_count
    assert statistic.file_size == row.file_size
    assert statistic.worker_node == socket.gethostname()
    assert audit_actions(export_id) == ["export_created", "export_started", "export_completed"]

    flow_run_id = row.flow_run_id
    assert flow_run_id is not None
    (progress,) = artifacts_of(flow_run_id, "progress")
    assert progress.data == 100
    (summary,) = artifacts_of(flow_run_id, "markdown")
    assert row.checksum_sha256 in summary.data
    assert f"{row.record_count:,}" in summary.data

    assert row.preview is not None
    assert len(row.preview["columns"]) == len(row.preview["rows"][0])
    assert len(row.preview["rows"]) == min(20, row.record_count)
    (message,) = outbox_messages(exportflow_env)
    assert message["To"] == "ops@example.com"
    assert "/d/" in body_of(message)
    assert "/api/v1/" not in body_of(message)
    assert message.get_body(("html",)) is not None


def test_a_postgresql_warehouse_exports_the_same_rows(
    exportflow_env: Path, monkeypatch: pytest.MonkeyPatch, postgres_warehouse: Source
) -> None:
    duckdb_export = submit(filters={"region": "APAC"})
    export(duckdb_export)
    monkeypatch.setenv("EXPORTFLOW_SOURCE_URL", postgres_warehouse.location)
    get_settings.cache_clear()
    postgres_export = submit(filters={"region": "APAC"})
    export(postgres_export)
    first, second = row_of(duckdb_export), row_of(postgres_export)
    assert second.status == ExportStatus.COMPLETED
    assert (second.record_count, second.checksum_sha256) == (first.record_count, first.checksum_sha256)


def task_run_counts(flow_run_id: uuid.UUID) -> dict[str, int]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[flow_run_id]))
        )
    return {run.name.rsplit("-", 1)[0]: run.run_count for run in runs}


def test_a_terminal_error_fails_at_once_with_an_actionable_message(exportflow_env: Path) -> None:
    export_id = submit(raw={"filters": {"colour": "red"}})
    state = export(export_id, return_state=True)
    assert state.is_failed()

    row = row_of(export_id)
    assert row.status == ExportStatus.FAILED
    assert row.error_message is not None
    assert "filters.colour" in row.error_message
    assert row.completed_at is not None
    (statistic,) = statistics_of(export_id)
    assert not statistic.success
    assert statistic.error_message == row.error_message
    assert audit_actions(export_id)[-1] == "export_failed"
    assert row.flow_run_id is not None
    assert task_run_counts(row.flow_run_id)["extract_and_render"] == 1
    assert staging_is_empty(exportflow_env)
    (message,) = outbox_messages(exportflow_env)
    assert "filters.colour" in body_of(message)


def test_a_pdf_whose_rows_grew_past_its_cap_since_it_was_asked_for_fails_before_rendering(
    exportflow_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_id = submit(format="pdf")  # as the API accepted it, under the cap of the time
    monkeypatch.setenv("EXPORTFLOW_FORMAT_MAX_ROWS", '{"pdf": 100}')
    get_settings.cache_clear()

    assert export(export_id, return_state=True).is_failed()
    row = row_of(export_id)
    assert row.error_message is not None
    assert "pdf exports hold at most 100 rows" in row.error_message
    assert "choose csv" in row.error_message
    assert row.flow_run_id is not None
    assert task_run_counts(row.flow_run_id)["extract_and_render"] == 1  # not retried
    assert staging_is_empty(exportflow_env)


def test_a_role_that_may_not_export_the_type_is_refused(exportflow_env: Path) -> None:
    export_id = submit(role="manager", export_type="payroll")
    assert export(export_id, return_state=True).is_failed()
    row = row_of(export_id)
    assert row.status == ExportStatus.FAILED
    assert row.error_message == "role manager may not export payroll data"


def test_a_finished_export_is_not_run_again(exportflow_env: Path) -> None:
    export_id = submit()
    export(export_id)
    completed = row_of(export_id)
    assert export(export_id, return_state=True).is_failed()
    again = row_of(export_id)
    assert (again.status, again.checksum_sha256) == (ExportStatus.COMPLETED, completed.checksum_sha256)
    assert len(statistics_of(export_id)) == 1


class Watcher:
    """Polls the row's progress from another thread; can cancel the export when it passes a mark."""

    def __init__(self, export_id: uuid.UUID, cancel_at: int | None = None, via: str = "row") -> None:
        self.export_id = export_id
        self.cancel_at = cancel_at
        self.via = via
        self.seen: list[int] = []
        self.artifact_seen: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> "Watcher":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            row = row_of(self.export_id)
            self.seen.append(row.progress_percentage)
            if row.flow_run_id is not None:
                self.artifact_seen.extend(
                    artifact.data for artifact in artifacts_of(row.flow_run_id, "progress")
                )
            if self.cancel_at is not None and row.progress_percentage >= self.cancel_at:
                self._cancel(row)
                self.cancel_at = None

    def _cancel(self, row: DataExport) -> None:
        if self.via == "row":
            with transaction(app_sessions()) as session:
                session.get_one(DataExport, row.id).status = ExportStatus.CANCELLED
        else:
            assert row.flow_run_id is not None
            with get_client(sync_client=True) as client:
                client.set_flow_run_state(row.flow_run_id, Cancelling(), force=True)


@pytest.fixture
def big_warehouse_env(
    exportflow_env: Path, monkeypatch: pytest.MonkeyPatch, big_duckdb_warehouse: Source
) -> Path:
    monkeypatch.setenv("EXPORTFLOW_SOURCE_URL", str(big_duckdb_warehouse.duckdb_path))
    get_settings.cache_clear()
    return exportflow_env


@pytest.mark.slow
def test_progress_is_observed_from_outside_and_never_decreases(big_warehouse_env: Path) -> None:
    export_id = submit(format="pdf", filters={"channel": "store"})
    with Watcher(export_id) as watcher:
        assert export(export_id, return_state=True).is_completed()
    assert watcher.seen == sorted(watcher.seen)
    assert any(10 < percent < 90 for percent in watcher.seen), watcher.seen
    assert watcher.artifact_seen == sorted(watcher.artifact_seen)
    assert any(10 < percent < 90 for percent in watcher.artifact_seen), watcher.artifact_seen


@pytest.mark.slow
@pytest.mark.parametrize("via", ["row", "prefect"])
def test_a_cancelled_export_stops_between_batches_and_cleans_up(big_warehouse_env: Path, via: str) -> None:
    export_id = submit(format="pdf", recipients=["ops@example.com"])
    started = time.monotonic()
    with Watcher(export_id, cancel_at=15, via=via):
        state = export(export_id, return_state=True)
    assert state.type is StateType.CANCELLED
    assert time.monotonic() - started < 60

    row = row_of(export_id)
    assert row.status == ExportStatus.CANCELLED
    assert 15 <= row.progress_percentage < 90
    assert row.storage_key is None
    assert not list((big_warehouse_env / "exports").rglob("*.pdf"))
    assert staging_is_empty(big_warehouse_env)
    (statistic,) = statistics_of(export_id)
    assert not statistic.success
    assert audit_actions(export_id)[-1] == "export_cancelled"
    assert outbox_messages(big_warehouse_env) == []


@pytest.fixture
def smtp_env(
    exportflow_env: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: "SmtpServer"
) -> "SmtpServer":
    """The flow's email going to a real SMTP server on loopback."""
    monkeypatch.setenv("EXPORTFLOW_SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("EXPORTFLOW_SMTP_PORT", str(smtp_server.port))
    get_settings.cache_clear()
    return smtp_server


@pytest.mark.slow
def test_a_transient_smtp_refusal_is_retried_then_delivered(smtp_env: "SmtpServer") -> None:
    smtp_env.handler.data_replies_once.append("451 4.3.0 Mailbox busy, try again later")
    export_id = submit(recipients=["ops@example.com"])
    assert export(export_id, return_state=True).is_completed()

    row = row_of(export_id)
    assert row.notification_error is None
    (received,) = smtp_env.received
    assert received.rcpt_tos == ["ops@example.com"]
    assert row.flow_run_id is not None
    assert task_run_counts(row.flow_run_id)["notify"] == 2


def test_a_permanent_smtp_refusal_is_recorded_not_fatal(smtp_env: "SmtpServer") -> None:
    smtp_env.handler.data_reply = "554 5.7.1 Message rejected"
    export_id = submit(recipients=["ops@example.com"])
    assert export(export_id, return_state=True).is_completed()
    row = row_of(export_id)
    assert row.status == ExportStatus.COMPLETED
    assert row.notification_error is not None
    assert "554" in row.notification_error
    assert audit_actions(export_id)[-1] == "export_notification_failed"


def test_a_refused_recipient_does_not_stop_or_repeat_the_others(smtp_env: "SmtpServer") -> None:
    smtp_env.handler.rcpt_replies = {"gone@example.com": "550 5.1.1 No such user"}
    export_id = submit(recipients=["ops@example.com", "gone@example.com", "lead@example.com"])
    assert export(export_id, return_state=True).is_completed()

    row = row_of(export_id)
    assert [received.rcpt_tos for received in smtp_env.received] == [
        ["ops@example.com"],
        ["lead@example.com"],
    ]
    assert row.notification_error is not None
    assert "gone@example.com" in row.notification_error
    assert "ops@example.com" not in row.notification_error
    assert row.flow_run_id is not None
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[row.flow_run_id]))
        )
    notify_runs = [run.run_count for run in runs if run.name.startswith("notify-")]
    assert notify_runs == [1, 1, 1]  # one task a recipient; the refusal (5xx) was not retried


@pytest.fixture
def s3_env(
    exportflow_env: Path, monkeypatch: pytest.MonkeyPatch, s3_bucket: str, s3_proxy: "FaultProxy"
) -> "FaultProxy":
    """The flow storing on a real S3-compatible server (moto) behind a proxy that can fail for real."""
    monkeypatch.setenv("EXPORTFLOW_STORAGE_URL", f"s3://{s3_bucket}/files")
    monkeypatch.setenv("EXPORTFLOW_S3_ENDPOINT_URL", s3_proxy.endpoint)
    get_settings.cache_clear()
    return s3_proxy


def test_an_export_is_stored_on_s3(s3_env: "FaultProxy", s3_admin: Any, s3_bucket: str) -> None:
    export_id = submit(format="parquet")
    assert export(export_id, return_state=True).is_completed()
    row = row_of(export_id)
    assert row.file_path == f"s3://{s3_bucket}/files/{row.storage_key}"
    assert hashlib.sha256(s3_admin.cat_file(row.file_path)).hexdigest() == row.checksum_sha256


@pytest.mark.slow
# One app database is enough here (the wait is S3's and Prefect's retries, ~55 s a run); the failed row
# is written on both kinds by the other failure tests.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_storage_failing_mid_upload_fails_the_row_and_leaves_no_file(
    s3_env: "FaultProxy", s3_admin: Any, s3_bucket: str
) -> None:
    s3_env.answer(503, "SlowDown")
    export_id = submit(format="csv")
    assert export(export_id, return_state=True).is_failed()

    row = row_of(export_id)
    assert row.status == ExportStatus.FAILED
    assert row.storage_key is None
    assert row.error_message is not None
    assert "503" in row.error_message or "SlowDown" in row.error_message
    assert row.flow_run_id is not None
    assert task_run_counts(row.flow_run_id)["upload"] == 4
    s3_env.restore()
    assert s3_admin.find(f"{s3_bucket}/files/exports") == []
