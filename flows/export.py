"""The export flow: one Prefect flow run per export; its body reads as the pipeline.

    start → extract_and_render (one pass from the source query to the file: rows counted,
          checksummed and previewed on the way) → upload → record → deliver? → notify (email) + webhooks

Tasks that touch the outside world retry transient errors only (exponential backoff with
jitter); anything else fails the run at once. Whatever stops a run — an error, a cancelled row,
a run cancelled in Prefect, a crash of its process — ends with the row out of `processing`, a
statistics row, an audit entry, and no staged or temporary file left. A crash (the process killed)
is settled by flows/exports/reconcile.py: another attempt, or a failed row that says why. While it works, a
run keeps its row's heartbeat fresh, and every write it makes is guarded by its flow run id: an
attempt given up on stops at its next write and leaves the row to the attempt that replaced it.
Once a run has ended its row, it starts its owner's next export waiting for a slot
(flows/exports/admission.py), if any.
"""

import logging
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun, State
from prefect.runtime import flow_run as current_flow_run
from prefect.states import Cancelled

from flows.appdb.engine import app_sessions
from flows.appdb.models import DataExport
from flows.catalog.query import build_query
from flows.errors import ExportCancelled, TerminalError, describe_error
from flows.exports.estimate import refuse_over_cap
from flows.exports.lifecycle import (
    ExportJob,
    RunResult,
    RunSuperseded,
    begin_export,
    cancel_export,
    complete_export,
    fail_export,
    record_heartbeat,
    record_notification_error,
    record_progress,
)
from flows.exports.reconcile import Death, settle
from flows.orchestration.dispatch import dispatch_owner
from flows.pipeline.delivery import decide_delivery
from flows.pipeline.file_names import export_file_name
from flows.pipeline.notify import send_export_failed, send_export_ready, send_to_each
from flows.pipeline.one_pass import write_export_file
from flows.pipeline.owed_mail import settle as settle_owed_mail
from flows.pipeline.owed_mail import strike_off
from flows.pipeline.preview import Preview
from flows.pipeline.progress import Heartbeat, Phase, PrefectProgress, ProgressReporter
from flows.pipeline.resources import Resources
from flows.pipeline.retries import RETRIES
from flows.pipeline.sources import parse_source
from flows.pipeline.webhooks import ExportFacts, send_webhooks
from flows.render import ExportOptions, RenderOptions, media_type, renderer_for
from flows.schedules.scheduled_exports import ScheduledStart, export_of_run, start_scheduled_export
from flows.settings import Settings, get_settings
from flows.storage.keys import export_key
from flows.storage.store import StoredObject
from flows.vocabulary import Delivery, ExportStatus, WebhookEvent

logger = logging.getLogger(__name__)

OPENED = 3
"""Percent once the query is open and its rows counted (or estimated)."""
WRITE = Phase(OPENED, 90)
UPLOAD = Phase(90, 97)
ESTIMATE_HEADROOM = 1.1
"""Past an estimated row count, progress takes the total to be this much more than the rows so far."""


@dataclass(frozen=True)
class Rendered:
    """The file a run made, how many rows it holds, their content checksum, and its first rows as text."""

    path: Path
    file_name: str
    media_type: str
    rows: int
    content_checksum: str | None
    preview: Preview


@task(**RETRIES)
def start(export_id: uuid.UUID, resources: Resources) -> ExportJob:
    """Mark the export processing for this run; refuse it if it may not run."""
    return begin_export(resources.sessions, export_id, _this_run(), resources.settings)


@task(**RETRIES)
def start_scheduled(schedule_id: uuid.UUID, resources: Resources) -> ScheduledStart:
    """Make (once per flow run) the export row of a schedule that fired, or say why there is none."""
    fired_at = current_flow_run.scheduled_start_time or datetime.now(UTC)
    return start_scheduled_export(resources.sessions, schedule_id, _this_run(), fired_at)


@task(**RETRIES)
def extract_and_render(
    job: ExportJob, workdir: Path, progress: ProgressReporter, resources: Resources
) -> Rendered:
    """Stream the export's query into its file in one pass; on the way the rows are counted, checksummed
    and the first ones kept as the preview the email and the recipient page show."""
    source = parse_source(resources.settings.source_url)
    query = build_query(job.export_type, dialect=source.kind, columns=job.columns, filters=job.filters)
    renderer = renderer_for(job.format)
    generated_at = datetime.now(UTC)
    file_name = export_file_name(job.name, generated_at, renderer.EXTENSION)
    export_options = ExportOptions.model_validate(job.options)
    options = RenderOptions(
        **export_options.model_dump(),
        title=job.name,
        export_type=job.export_type.value,
        filters=job.filters,
        generated_at=generated_at,
    )
    target = workdir / file_name
    cap = resources.settings.format_max_rows.get(job.format)

    def watch(rows: int, expected: int, exact: bool) -> None:
        if cap is not None and (rows > cap or (exact and expected > cap)):
            refuse_over_cap(job.format, expected if exact else rows, cap)  # the rows grew since it was asked
        about = "" if exact else "about "
        if rows == 0:
            progress.report(OPENED, f"{about}{expected:,} rows to export", force=True)
            return
        total = expected if exact else max(expected, int(rows * ESTIMATE_HEADROOM))
        progress.report(WRITE.at(rows, total), f"{rows:,} of {about}{expected:,} rows written")

    written = write_export_file(
        source,
        query,
        renderer,
        target,
        options,
        preview_rows=resources.settings.email_preview_rows,
        spill_dir=workdir / "spill",
        watch=watch,
        # What deciding the delivery compares (if_changed) and a schedule keeps of each delivery.
        with_checksum=job.deliver is Delivery.IF_CHANGED or job.schedule_id is not None,
    )
    progress.report(WRITE.end, f"{written.rows:,} rows written", force=True)
    return Rendered(
        target,
        file_name,
        media_type(job.format, export_options),
        written.rows,
        written.content_checksum,
        written.preview,
    )


@task(**RETRIES)
def upload(
    job: ExportJob, rendered: Rendered, progress: ProgressReporter, resources: Resources
) -> StoredObject:
    """Store the file under a temporary key, then promote it to its final key."""
    progress.report(UPLOAD.start, "uploading", force=True)
    key = export_key(job.export_type.value, job.started_at, job.id, rendered.file_name)
    stored = resources.storage.upload(rendered.path, key, rendered.media_type)
    progress.report(UPLOAD.end, "uploaded", force=True)
    return stored


@dataclass(frozen=True)
class Recorded:
    rows: int
    expires_at: datetime
    preview: Preview


@task(**RETRIES)
def record(
    job: ExportJob, stored: StoredObject, rendered: Rendered, progress: ProgressReporter, resources: Resources
) -> Recorded:
    """Mark the export completed and publish the run's summary."""
    progress.report(100, "completed", force=True)
    result = RunResult(
        rendered.rows,
        stored.size,
        stored.sha256,
        stored.key,
        stored.location,
        content_checksum=rendered.content_checksum,
        preview=rendered.preview,
    )
    try:
        expires_at = complete_export(resources.sessions, job, result, resources.settings)
    except (ExportCancelled, RunSuperseded):
        resources.storage.delete(stored.key)
        raise
    create_markdown_artifact(
        _summary_markdown(job, result, expires_at), key="export-summary", description="export summary"
    )
    return Recorded(rendered.rows, expires_at, rendered.preview)


@task(**RETRIES)
def decide(job: ExportJob, rendered: Rendered, resources: Resources) -> bool:
    """Whether the export's rule lets it be delivered (a skip is recorded on the row and audited)."""
    decision = decide_delivery(resources.sessions, job, rendered.rows, rendered.content_checksum)
    if not decision.deliver:
        logger.info("export %s: not delivered: %s", job.id, decision.skipped)
    return decision.deliver


@task(cache_policy=NO_CACHE)
def webhooks(job: ExportJob, event: WebhookEvent, facts: ExportFacts, resources: Resources) -> None:
    """POST the event to the export's webhooks (retried inside, so the task has no retries of its own);
    a failed URL is recorded on the row like a failed email."""
    outcomes = send_webhooks(resources.settings, resources.sessions, job.webhook_urls, event, facts)
    failed = [outcome for outcome in outcomes if not outcome.succeeded]
    if failed:
        described = "; ".join(f"{outcome.url}: {outcome.error}" for outcome in failed)
        message = f"webhook {event.value} failed: {described}"
        record_notification_error(resources.sessions, job.id, message, append=True)


@task(**RETRIES)
def notify(
    job: ExportJob,
    recipient: str,
    stored: StoredObject,
    rendered: Rendered,
    recorded: Recorded,
    resources: Resources,
) -> None:
    """Tell one recipient the file is ready: their own link, the first rows, the file when small; then
    strike them off the recipients the export owes."""
    send_export_ready(
        resources.settings,
        job,
        recipient,
        stored,
        rendered.path,
        rows=recorded.rows,
        expires_at=recorded.expires_at,
        preview=recorded.preview,
    )
    strike_off(resources.sessions, job.id, recipient, job.flow_run_id)


def notify_recipients(
    job: ExportJob, stored: StoredObject, rendered: Rendered, recorded: Recorded, resources: Resources
) -> None:
    """One message (one `notify` task, retried on its own) per recipient, since each carries that
    recipient's link: a recipient whose message fails neither stops nor repeats the others' messages.
    Raises TerminalError naming the recipients that were not reached. Once each was tried, none is owed
    any more (flows/pipeline/owed_mail.py): only a run that dies before leaves them to the reconciler."""
    try:
        _, failures = send_to_each(
            job, lambda recipient: notify(job, recipient, stored, rendered, recorded, resources)
        )
    finally:
        settle_owed_mail(resources.sessions, job.id, job.flow_run_id)
    if failures:
        raise TerminalError(f"not sent to {len(failures)} recipient(s): " + "; ".join(failures))


def _on_crashed(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    """Runs in the runner or worker when the run's process died: another attempt or a failed row."""
    given = flow_run.parameters.get("export_id")
    export_id = uuid.UUID(str(given)) if given else export_of_run(app_sessions(), flow_run.id)
    if export_id is None:
        return
    settle(app_sessions(), get_settings(), export_id, Death.crashed(flow_run.id, state.message))


@flow(name="export", on_crashed=[_on_crashed])
def export(
    export_id: uuid.UUID | None = None, schedule_id: uuid.UUID | None = None
) -> dict[str, Any] | State[Any]:
    """Run one export from its row to a stored file and an email; a schedule's run makes its row first."""
    resources = Resources.configured()
    if export_id is None:
        if schedule_id is None:
            raise TerminalError("an export run needs an export_id or a schedule_id")
        scheduled = start_scheduled(schedule_id, resources)
        if scheduled.export_id is None:
            return Cancelled(message=scheduled.skipped)
        export_id = scheduled.export_id
    progress = _reporter(export_id, resources)
    heartbeat = _heartbeat(export_id, resources)
    workdir = _work_directory(export_id, resources.settings)
    job: ExportJob | None = None
    try:
        job = start(export_id, resources)
        heartbeat.start()
        rendered = extract_and_render(job, workdir, progress, resources)
        stored = upload(job, rendered, progress, resources)
        recorded = record(job, stored, rendered, progress, resources)
        _start_owners_next(export_id, resources)
        if decide(job, rendered, resources):
            _notify_without_failing(
                job, resources, lambda: notify_recipients(job, stored, rendered, recorded, resources)
            )
            facts = ExportFacts.of(job, ExportStatus.COMPLETED, recorded.rows, stored, recorded.expires_at)
            _webhooks_without_failing(job, WebhookEvent.COMPLETED, facts, resources)
        return {"export_id": str(job.id), "key": stored.key, "rows": recorded.rows, "bytes": stored.size}
    except ExportCancelled as cancelled:
        cancel_export(resources.sessions, export_id, str(cancelled), run=job.flow_run_id if job else None)
        _start_owners_next(export_id, resources)
        return Cancelled(message=str(cancelled))
    except RunSuperseded:
        raise  # the row ended or another attempt has it: not this run's to write
    except Exception as error:
        message = str(error) or type(error).__name__
        # Once begun, the run ends only a row that is still its own.
        run = job.flow_run_id if job else None
        if fail_export(resources.sessions, export_id, message, run=run):
            _start_owners_next(export_id, resources)
            if job:
                failed = job
                settings = resources.settings
                _notify_without_failing(job, resources, lambda: send_export_failed(settings, failed, message))
                facts = ExportFacts.of(job, ExportStatus.FAILED, 0, None, None, error=message)
                _webhooks_without_failing(job, WebhookEvent.FAILED, facts, resources)
        raise
    finally:
        heartbeat.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _this_run() -> uuid.UUID | None:
    run_id = current_flow_run.id
    return uuid.UUID(run_id) if run_id else None


def _reporter(export_id: uuid.UUID, resources: Resources) -> ProgressReporter:
    """Progress to the row (and its heartbeat) and to a progress artifact on this flow run."""
    run, sessions = _this_run(), resources.sessions
    return ProgressReporter(
        [
            lambda percent, _description: record_progress(sessions, export_id, percent, run),
            PrefectProgress(run),
        ]
    )


def _heartbeat(export_id: uuid.UUID, resources: Resources) -> Heartbeat:
    """Keeps the row's heartbeat fresh while the run works, also when no progress is reported for a while."""
    run, sessions = _this_run(), resources.sessions
    interval = resources.settings.heartbeat_lease_seconds / 4
    return Heartbeat(lambda: record_heartbeat(sessions, export_id, run), interval)


def _work_directory(export_id: uuid.UUID, settings: Settings) -> Path:
    workdir = settings.staging_dir / str(export_id) / uuid.uuid4().hex
    workdir.mkdir(parents=True)
    return workdir


def _start_owners_next(export_id: uuid.UUID, resources: Resources) -> None:
    """The export has ended and freed its owner's slot: admit and start the owner's next waiting export
    now rather than at the reconciler's next pass. Never fails the export (the reconciler catches up)."""
    try:
        with resources.sessions() as session:
            owner_id = session.get_one(DataExport, export_id).created_by
        dispatch_owner(resources.sessions, resources.settings, owner_id)
    except Exception as error:
        reason = describe_error(error)
        logger.warning("export %s: its owner's next export is left to the reconciler: %s", export_id, reason)


def _notify_without_failing(job: ExportJob, resources: Resources, send: Callable[[], None]) -> None:
    """An email that cannot be sent (after its retries) is recorded on the row, never fatal."""
    try:
        send()
    except Exception as error:
        logger.warning("export %s: notification failed: %s", job.id, error)
        record_notification_error(resources.sessions, job.id, str(error))


def _webhooks_without_failing(
    job: ExportJob, event: WebhookEvent, facts: ExportFacts, resources: Resources
) -> None:
    """Webhooks that cannot be sent are recorded (each attempt, and on the row), never fatal."""
    if not job.webhook_urls:
        return
    try:
        webhooks(job, event, facts, resources)
    except Exception as error:
        logger.warning("export %s: webhooks failed: %s", job.id, type(error).__name__)
        record_notification_error(resources.sessions, job.id, f"webhooks failed: {error}", append=True)


def _summary_markdown(job: ExportJob, result: RunResult, expires_at: datetime) -> str:
    seconds = time.time() - job.started_at.timestamp()
    return "\n".join(
        [
            f"# {job.name}",
            "",
            "| | |",
            "|---|---|",
            f"| type / format | {job.export_type.value} / {job.format.value} |",
            f"| rows | {result.record_count:,} |",
            f"| bytes | {result.file_size:,} |",
            f"| duration | {seconds:.1f} s |",
            f"| sha256 | `{result.checksum_sha256}` |",
            f"| stored at | `{result.file_path}` |",
            f"| expires | {expires_at:%Y-%m-%d %H:%M} UTC |",
        ]
    )
