"""The ready emails a completed export still owes (flows/pipeline/owed_mail.py): a run that died while
mailing leaves them to the reconciler, which sends each once; a run still mailing keeps them. Real app
databases (SQLite and PostgreSQL), the session's Prefect test server (tests/exports/conftest.py), local
storage and the outbox folder (no SMTP settings: every message is an .eml file)."""

import contextvars
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import StateType
from prefect.states import Running
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import transaction
from flows.appdb.models import DataExport
from flows.exports.lifecycle import record_heartbeat
from flows.exports.reconcile import reconcile
from flows.pipeline.owed_mail import settle, strike_off
from flows.settings import Settings
from flows.storage.keys import export_key
from flows.storage.store import open_storage
from flows.vocabulary import ExportStatus
from tests.exports.test_reconcile import SILENT_SECONDS, audit_of, dead_run, row_of, state_of, stored_export

RECIPIENTS = ["ana@example.com", "bo@example.com", "cy@example.com"]


def mailing_export(
    sessions: sessionmaker[Session],
    client: SyncPrefectClient,
    settings: Settings,
    owed: list[str],
    silent_for: float = SILENT_SECONDS,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A completed export with a stored file, mailing RECIPIENTS when its run (Running in Prefect) last
    beat `silent_for` seconds ago, still owing `owed`."""
    export_id = stored_export(sessions)
    run = dead_run(client, export_id, Running())
    now = datetime.now(UTC)
    storage = open_storage(settings)
    with transaction(sessions) as session:
        row = session.get_one(DataExport, export_id)
        key = export_key(row.export_type, now, export_id, "reconciled.pdf")
        source = settings.home / f"{export_id}.pdf"
        source.write_bytes(b"%PDF-1.4 a small file")
        stored = storage.upload(source, key, "application/pdf")
        row.status = ExportStatus.COMPLETED
        row.flow_run_id = run.id
        row.recipients = RECIPIENTS
        row.storage_key, row.file_size, row.checksum_sha256 = stored.key, stored.size, stored.sha256
        row.file_path, row.record_count = stored.location, 1
        row.started_at = now - timedelta(seconds=silent_for + 5)
        row.completed_at = row.heartbeat_at = now - timedelta(seconds=silent_for)
        row.expires_at = now + timedelta(days=7)
        row.owed_recipients = owed
    return export_id, run.id


def outbox(settings: Settings) -> set[str]:
    return {path.name for path in (settings.home / "outbox").glob("*.eml")}


def mailed_since(settings: Settings, earlier: set[str]) -> Counter[str]:
    """Ready emails written to the outbox since it held `earlier`, by recipient."""
    parse = BytesParser(policy=policy.default).parsebytes
    sent: Counter[str] = Counter()
    for name in outbox(settings) - earlier:
        message = parse((settings.home / "outbox" / name).read_bytes())
        assert str(message["Subject"]).startswith("Export ready: ")
        sent[str(message["To"])] += 1
    return sent


def test_a_run_that_died_while_mailing_leaves_its_owed_recipients_to_the_reconciler(
    sessions: sessionmaker[Session], settings: Settings, client: SyncPrefectClient
) -> None:
    earlier = outbox(settings)
    export_id, run = mailing_export(sessions, client, settings, owed=RECIPIENTS[1:])

    first = reconcile(sessions, settings)
    second = reconcile(sessions, settings)

    assert mailed_since(settings, earlier) == Counter(RECIPIENTS[1:])  # ana had hers from the run
    assert (first.mailed, second.mailed) == (1, 0)
    row = row_of(sessions, export_id)
    assert (row.status, row.owed_recipients, row.notification_error) == (ExportStatus.COMPLETED, None, None)
    (entry,) = audit_of(sessions, export_id, "export_owed_mail_sent")
    assert entry.details["emailed"] == RECIPIENTS[1:]
    assert entry.details["flow_run_id"] == str(run)
    assert state_of(client, run) == StateType.CRASHED


def test_a_run_still_mailing_keeps_its_owed_recipients(
    sessions: sessionmaker[Session], settings: Settings, client: SyncPrefectClient
) -> None:
    export_id, run = mailing_export(sessions, client, settings, owed=RECIPIENTS, silent_for=1)

    assert reconcile(sessions, settings).mailed == 0

    assert row_of(sessions, export_id).owed_recipients == RECIPIENTS
    assert record_heartbeat(sessions, export_id, run)  # a completed row's run beats while it owes mail
    strike_off(sessions, export_id, RECIPIENTS[0], uuid.uuid4())  # another run's word counts for nothing
    strike_off(sessions, export_id, RECIPIENTS[0], run)
    assert row_of(sessions, export_id).owed_recipients == RECIPIENTS[1:]
    settle(sessions, export_id, run)
    assert row_of(sessions, export_id).owed_recipients is None
    assert not record_heartbeat(sessions, export_id, run)  # nothing left to beat for


def test_two_reconcilers_at_once_mail_each_owed_recipient_once(
    sessions: sessionmaker[Session], settings: Settings, client: SyncPrefectClient
) -> None:
    earlier = outbox(settings)
    export_id, _ = mailing_export(sessions, client, settings, owed=RECIPIENTS)
    barrier = threading.Barrier(2)

    def reconciler() -> None:
        barrier.wait()
        reconcile(sessions, settings)

    # Each thread in a copy of this one's context, where Prefect's test-harness settings live.
    threads = [threading.Thread(target=contextvars.copy_context().run, args=(reconciler,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert mailed_since(settings, earlier) == Counter(RECIPIENTS)
    assert len(audit_of(sessions, export_id, "export_owed_mail_sent")) == 1
