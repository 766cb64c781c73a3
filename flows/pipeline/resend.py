"""Resending a completed export: its email and webhooks again, from the stored file, without running its
query again.

An explicit request, so the export's delivery rule does not apply (an if_rows export with no rows is
mailed when asked). The file is read from storage into a temporary folder only when it is small
enough to be attached; a larger one is mailed as a link, as the flow does. A failed email or webhook
is reported to the caller and kept (on the row, in webhook_deliveries), never raised. Which export may
be resent (completed, unexpired, not deleted) is the caller's check.
"""

import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import transaction
from flows.appdb.models import DataExport, User
from flows.exports.audit import Actor, audit
from flows.exports.lifecycle import ExportJob, export_job, record_notification_error
from flows.pipeline.notify import send_export_ready, send_to_each
from flows.pipeline.preview import Preview
from flows.pipeline.webhooks import ExportFacts, Outcome, send_webhooks
from flows.settings import Settings
from flows.storage.store import Storage, StoredObject
from flows.vocabulary import ExportStatus, WebhookEvent


@dataclass(frozen=True)
class Resent:
    emailed: list[str]
    email_error: str | None
    webhooks: list[Outcome]


def resend_export(
    sessions: sessionmaker[Session], settings: Settings, storage: Storage, export_id: uuid.UUID, actor: Actor
) -> Resent:
    """Mail the export's recipients and POST export.completed to its webhooks again; audited."""
    with sessions() as session:
        delivery = stored_delivery(session, session.get_one(DataExport, export_id))
    job = delivery.job
    emailed, email_error = email_recipients(settings, storage, delivery)
    if email_error is not None:
        record_notification_error(sessions, job.id, email_error)
    facts = ExportFacts.of(job, ExportStatus.COMPLETED, delivery.rows, delivery.stored, delivery.expires_at)
    outcomes = send_webhooks(settings, sessions, job.webhook_urls, WebhookEvent.COMPLETED, facts)
    with transaction(sessions) as session:
        details = {
            "emailed": len(emailed),
            "email_error": email_error,
            "webhooks": [{"url": outcome.url, "succeeded": outcome.succeeded} for outcome in outcomes],
        }
        audit(session, "export_resent", job.id, details, actor=actor)
    return Resent(emailed, email_error, outcomes)


@dataclass(frozen=True)
class StoredDelivery:
    """What mailing a completed export's recipients again takes: its job (whose recipients are mailed),
    its stored file, and the facts its message gives."""

    job: ExportJob
    stored: StoredObject
    rows: int
    expires_at: datetime | None
    preview: Preview | None


def stored_delivery(session: Session, row: DataExport) -> StoredDelivery:
    """A completed export's delivery, read from its row; ValueError when it has no stored file."""
    if row.storage_key is None or row.checksum_sha256 is None:
        raise ValueError(f"export {row.id} has no stored file")
    owner = session.get_one(User, row.created_by)
    return StoredDelivery(
        export_job(row, owner, row.started_at or row.created_at),
        StoredObject(row.storage_key, row.file_size, row.checksum_sha256, row.file_path or ""),
        row.record_count,
        row.expires_at,
        row.preview,
    )


def email_recipients(
    settings: Settings,
    storage: Storage,
    delivery: StoredDelivery,
    sent: Callable[[str], None] = lambda recipient: None,
) -> tuple[list[str], str | None]:
    """Send each of the job's recipients their ready email from the stored file (attached when small),
    calling `sent` after each one sent: who got it, and what went wrong for the others (None when
    nothing did)."""
    job, stored = delivery.job, delivery.stored
    with tempfile.TemporaryDirectory(prefix="exportflow-resend-", dir=_staging(settings)) as folder:
        path = Path(folder) / Path(stored.key).name

        def send(recipient: str) -> None:
            # The one call of the ready email outside the flow (its content is notify.py's).
            send_export_ready(
                settings,
                job,
                recipient,
                stored,
                path,
                rows=delivery.rows,
                expires_at=delivery.expires_at,
                preview=delivery.preview,
            )
            sent(recipient)

        try:
            if job.recipients and stored.size <= settings.email_attachment_max_bytes:
                with storage.open_read(stored.key) as source, path.open("wb") as target:
                    shutil.copyfileobj(source, target)
            emailed, failures = send_to_each(job, send)
        except Exception as error:
            return [], str(error) or type(error).__name__
    return emailed, "; ".join(failures) or None


def _staging(settings: Settings) -> Path:
    settings.staging_dir.mkdir(parents=True, exist_ok=True)
    return settings.staging_dir
