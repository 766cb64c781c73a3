"""Retention cleanup: expire exports' files, remove leftovers, report (and on request remove) orphans.

One run, as the Prefect flow `export-cleanup` (its deployment fires on `EXPORTFLOW_CLEANUP_CRON`)
or as `exportflow cleanup` without Prefect, takes these steps in order:

- expire: completed exports past `expires_at`, and deleted ones (the DELETE route removed their
  file, unless something went wrong), lose their file and become `expired`; the row, its
  statistics, download logs and audit trail stay, and an `export_expired` audit entry says what
  was removed;
- temporaries: upload temporaries older than `EXPORTFLOW_WORK_FILE_MAX_AGE_HOURS`;
- staged: files and folders under the staging folder of this machine older than that age, unless a
  running export (processing, heartbeat within the lease) owns them;
- orphans: stored files under `exports/` that no live row references and that are older than that
  age (so a file being promoted right now is never one): reported, removed only when asked.

Every step is idempotent and safe while another run does the same: a row is expired by an UPDATE
guarded by its status and expiry, whose row count says which run did it (only that run counts and
audits it); removing what is already gone is not an error. A dry run counts what it would do and
changes nothing.
"""

import errno
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import app_sessions, transaction
from flows.appdb.models import DataExport
from flows.exports.audit import audit
from flows.pipeline.retries import RETRIES
from flows.settings import Settings, get_settings
from flows.storage.failures import ObjectNotFoundError
from flows.storage.keys import TEMP_DIR
from flows.storage.store import Storage, open_storage
from flows.vocabulary import ExportStatus

logger = logging.getLogger(__name__)

EXPORTS_FOLDER = "exports"
"""The first segment of every export's key (flows.storage.keys.export_key)."""
KEYS_PER_QUERY = 500
LISTED = 100
"""Orphan keys an audit entry or a summary names at most (the count is always complete)."""


@dataclass(frozen=True)
class Cleanup:
    """One cleanup run: what it works on, the instant ages are measured from, and what it may change."""

    settings: Settings
    sessions: sessionmaker[Session]
    storage: Storage
    now: datetime
    remove_orphans: bool = False
    dry_run: bool = False

    @classmethod
    def configured(
        cls, settings: Settings, sessions: sessionmaker[Session], *, remove_orphans: bool, dry_run: bool
    ) -> "Cleanup":
        return cls(settings, sessions, open_storage(settings), datetime.now(UTC), remove_orphans, dry_run)

    @property
    def work_file_age(self) -> timedelta:
        return timedelta(hours=self.settings.work_file_max_age_hours)

    @property
    def work_file_cutoff(self) -> datetime:
        """Work files, temporaries and orphans last written before this are old enough to remove."""
        return self.now - self.work_file_age


@dataclass
class CleanupReport:
    """What a run did (or, dry, would do); reports of steps add up to the run's."""

    expired: int = 0
    files_removed: int = 0
    temporaries_removed: int = 0
    staged_removed: int = 0
    orphans_found: int = 0
    orphans_removed: int = 0
    bytes_freed: int = 0
    expired_exports: list[str] = field(default_factory=list)
    orphan_keys: list[str] = field(default_factory=list)

    def __add__(self, other: "CleanupReport") -> "CleanupReport":
        return CleanupReport(
            **{item.name: getattr(self, item.name) + getattr(other, item.name) for item in fields(self)}
        )

    def counts(self) -> dict[str, int]:
        return {
            item.name: value for item in fields(self) if isinstance(value := getattr(self, item.name), int)
        }

    def markdown(self, dry_run: bool) -> str:
        title = "# Export cleanup (dry run: nothing changed)" if dry_run else "# Export cleanup"
        lines = [title, "", "| | |", "|---|---|"]
        lines += [f"| {name.replace('_', ' ')} | {value:,} |" for name, value in self.counts().items()]
        if self.orphan_keys:
            lines += ["", "## Orphans (no export references them)", ""]
            lines += [f"- `{key}`" for key in self.orphan_keys[:LISTED]]
            if len(self.orphan_keys) > LISTED:
                lines.append(f"- and {len(self.orphan_keys) - LISTED:,} more")
        return "\n".join(lines)


def expire_exports(run: Cleanup) -> CleanupReport:
    """Remove the files of completed exports past their expiry (or deleted) and mark them expired."""
    report = CleanupReport()
    for export_id, key, deleted in _expiring(run):
        size = _stored_size(run.storage, key)
        if not run.dry_run:
            if key:
                run.storage.delete(key)
            if not _mark_expired(run, export_id, key, size, "deleted" if deleted else "retention"):
                continue  # another run expired it first
        report += CleanupReport(
            expired=1,
            files_removed=int(size is not None),
            bytes_freed=size or 0,
            expired_exports=[str(export_id)],
        )
    if report.expired:
        logger.info(
            "expired %d exports (%d files, %d bytes)",
            report.expired,
            report.files_removed,
            report.bytes_freed,
        )
    return report


def remove_temporaries(run: Cleanup) -> CleanupReport:
    """Remove upload temporaries older than the work-file age (S3: unfinished multipart uploads too).

    Bytes freed are the sizes the listing showed just before (a run racing this one may share them).
    """
    stale = [item for item in run.storage.list_objects(TEMP_DIR) if item.modified < run.work_file_cutoff]
    freed = sum(item.size for item in stale)
    if run.dry_run:
        return CleanupReport(temporaries_removed=len(stale), bytes_freed=freed)
    removed = run.storage.remove_stale_temporaries(run.work_file_age)
    if removed:
        _audit_storage(run, "temporaries_removed", TEMP_DIR, {"count": removed, "bytes": freed})
    return CleanupReport(temporaries_removed=removed, bytes_freed=freed)


def remove_staged(run: Cleanup) -> CleanupReport:
    """Remove staged work files and folders older than the work-file age that no running export owns."""
    root = run.settings.staging_dir
    if not root.is_dir():
        return CleanupReport()
    running = _running_exports(run)
    report = CleanupReport()
    for entry in sorted(root.iterdir()):
        changed = _last_change(entry)
        if entry.name in running or changed is None or changed >= run.work_file_cutoff:
            continue
        freed = _tree_size(entry) if run.dry_run else _remove_tree(entry)
        report += CleanupReport(staged_removed=1, bytes_freed=freed)
    if report.staged_removed and not run.dry_run:
        details = {"count": report.staged_removed, "bytes": report.bytes_freed, "folder": str(root)}
        _audit_storage(run, "staged_files_removed", "staging", details)
    return report


def handle_orphans(run: Cleanup) -> CleanupReport:
    """Find stored export files no live row references, older than the work-file age; remove them if asked."""
    old = [item for item in run.storage.list_objects(EXPORTS_FOLDER) if item.modified < run.work_file_cutoff]
    referenced = _referenced_keys(run, [item.key for item in old])
    orphans = [item for item in old if item.key not in referenced]
    report = CleanupReport(orphans_found=len(orphans), orphan_keys=[item.key for item in orphans])
    if not orphans or not run.remove_orphans:
        return report
    if not run.dry_run:
        for orphan in orphans:
            run.storage.delete(orphan.key)
        keys = report.orphan_keys[:LISTED]
        _audit_storage(run, "orphans_removed", EXPORTS_FOLDER, {"count": len(orphans), "keys": keys})
    return report + CleanupReport(
        orphans_removed=len(orphans), bytes_freed=sum(item.size for item in orphans)
    )


Step = Callable[[Cleanup], CleanupReport]
STEPS: tuple[Step, ...] = (expire_exports, remove_temporaries, remove_staged, handle_orphans)


def clean_up(run: Cleanup) -> CleanupReport:
    """Take every step in this process, without Prefect (`exportflow cleanup`)."""
    return _total(step(run) for step in STEPS)


_STEP_TASKS = tuple(task(step, **RETRIES) for step in STEPS)


@flow(name="export-cleanup")
def export_cleanup(remove_orphans: bool = False, dry_run: bool = False) -> dict[str, int]:
    """Expire exports past their retention, remove old work files, report orphans (remove them if asked)."""
    settings = get_settings()
    run = Cleanup.configured(settings, app_sessions(), remove_orphans=remove_orphans, dry_run=dry_run)
    report = _total(step(run) for step in _STEP_TASKS)
    create_markdown_artifact(report.markdown(dry_run), key="export-cleanup", description="export cleanup")
    return report.counts()


def _total(reports: Iterable[CleanupReport]) -> CleanupReport:
    return sum(reports, CleanupReport())


def _expirable(now: datetime) -> ColumnElement[bool]:
    return and_(
        DataExport.status == ExportStatus.COMPLETED,
        or_(DataExport.expires_at < now, DataExport.deleted_at.is_not(None)),
    )


def _expiring(run: Cleanup) -> list[tuple[UUID, str | None, bool]]:
    with run.sessions() as session:
        rows = session.execute(
            select(DataExport.id, DataExport.storage_key, DataExport.deleted_at)
            .where(_expirable(run.now))
            .order_by(DataExport.expires_at)
        ).all()
    return [(export_id, key, deleted_at is not None) for export_id, key, deleted_at in rows]


def _mark_expired(run: Cleanup, export_id: UUID, key: str | None, size: int | None, reason: str) -> bool:
    """Mark the row expired unless another run did; True when this call did (and audited it)."""
    with transaction(run.sessions) as session:
        updated = session.execute(
            update(DataExport)
            .where(DataExport.id == export_id, _expirable(run.now))
            .values(status=ExportStatus.EXPIRED.value)
            .execution_options(synchronize_session=False)
        )
        if updated.rowcount != 1:  # type: ignore[attr-defined]
            return False
        details: dict[str, Any] = {
            "reason": reason,
            "storage_key": key,
            "file_removed": size is not None,
            "bytes_freed": size or 0,
        }
        audit(session, "export_expired", export_id, details)
    return True


def _stored_size(storage: Storage, key: str | None) -> int | None:
    """The size of the stored file under `key`; None when there is none."""
    if not key:
        return None
    try:
        return storage.size(key)
    except ObjectNotFoundError:
        return None


def _running_exports(run: Cleanup) -> set[str]:
    """Ids of exports processing with a heartbeat within the lease: their staged folders are in use."""
    fresh = run.now - timedelta(seconds=run.settings.heartbeat_lease_seconds)
    with run.sessions() as session:
        ids = session.scalars(
            select(DataExport.id).where(
                DataExport.status == ExportStatus.PROCESSING, DataExport.heartbeat_at >= fresh
            )
        ).all()
    return {str(export_id) for export_id in ids}


def _referenced_keys(run: Cleanup, keys: list[str]) -> set[str]:
    """Which of `keys` a row that still has its file (any status but expired) references."""
    found: set[str | None] = set()
    with run.sessions() as session:
        for start in range(0, len(keys), KEYS_PER_QUERY):
            chunk = keys[start : start + KEYS_PER_QUERY]
            found.update(
                session.scalars(
                    select(DataExport.storage_key).where(
                        DataExport.storage_key.in_(chunk), DataExport.status != ExportStatus.EXPIRED
                    )
                )
            )
    return {key for key in found if key}


def _audit_storage(run: Cleanup, action: str, folder: str, details: dict[str, Any]) -> None:
    with transaction(run.sessions) as session:
        audit(session, action, folder, details, resource="storage")


def _walk(path: Path) -> Iterator[Path]:
    """`path` and, for a folder, everything under it, deepest first; symbolic links are not followed."""
    if path.is_dir() and not path.is_symlink():
        for directory, folders, files in os.walk(path, topdown=False):
            for name in [*files, *folders]:
                yield Path(directory, name)
    yield path


def _last_change(path: Path) -> datetime | None:
    """The latest modification time of `path` and everything under it; None once it is gone."""
    times = [stat.st_mtime for item in _walk(path) if (stat := _lstat(item)) is not None]
    return datetime.fromtimestamp(max(times), UTC) if times else None


def _tree_size(path: Path) -> int:
    return sum(
        stat.st_size for item in _walk(path) if (stat := _lstat(item)) is not None and not item.is_dir()
    )


def _remove_tree(path: Path) -> int:
    """Remove a file or folder tree; return the bytes of the files this call removed. What another run
    removes first, or a file a new run adds meanwhile (its folder then stays), is no error."""
    freed = 0
    for item in _walk(path):
        stat = _lstat(item)
        with suppress(FileNotFoundError):
            if item.is_dir() and not item.is_symlink():
                _remove_empty_folder(item)
            else:
                item.unlink()
                freed += stat.st_size if stat else 0
    return freed


def _remove_empty_folder(path: Path) -> None:
    try:
        path.rmdir()
    except OSError as error:
        if error.errno != errno.ENOTEMPTY:
            raise


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except FileNotFoundError:
        return None
