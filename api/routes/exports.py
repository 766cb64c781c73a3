"""Routes: create, execute, list, read, delete, status, events, cancel and retry exports.

Fixed paths (/exports/status, /exports/execute, ...) are never taken for an id: ids are matched
only as UUIDs (`{export_id:uuid}`).
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.access import check_may_export, visible_export, visible_exports
from api.deps import OriginDep, Services, ServicesDep, SessionDep, require
from api.errors import ApiError
from api.export_creation import CreateCall, CreationDep
from api.pagination import PageDep
from api.params import DateFrom, DateTo, date_bound
from api.permissions import Permission, sees_everyones_objects
from api.ratelimit import Bucket
from api.run_states import current_status, load_export
from api.schemas.common import ERROR_RESPONSES, JSON_ERROR_RESPONSES, Envelope, Page
from api.schemas.exports import (
    Creator,
    ExecuteByType,
    ExportCreate,
    ExportDetailOut,
    ExportEstimateOut,
    ExportOut,
    ExportStatusOut,
    StatisticOut,
    WebhookDeliveryOut,
)
from flows.appdb.models import DataExport, ExportStatistic, User, WebhookDelivery
from flows.catalog.definitions import get_definition
from flows.exports.audit import Actor, audit
from flows.exports.creation import Provenance, submit_export
from flows.exports.estimate import SOURCE_UNREACHABLE, estimate_export
from flows.exports.lifecycle import ACTIVE_STATUSES, cancel_export
from flows.exports.requests import ExportRequest
from flows.orchestration.dispatch import dispatch_owner
from flows.orchestration.flow_runs import cancel_run
from flows.pipeline.sources import parse_source
from flows.storage.store import open_storage
from flows.vocabulary import ExportFormat, ExportPriority, ExportStatus, ExportType, Role

router = APIRouter(tags=["exports"], responses=ERROR_RESPONSES)

ReadExports = Annotated[User, require(Permission.EXPORTS_READ)]
WatchExports = Annotated[User, require(Permission.EXPORTS_READ, spends=Bucket.STATUS)]
"""Status reads and event streams: a budget of their own, sized for a page that watches its exports."""
EVENT_POLL_SECONDS = 0.5
EVENT_KEEPALIVE_SECONDS = 15.0
MAX_NAME_LENGTH = 255


class SortField(StrEnum):
    CREATED_AT = "created_at"
    COMPLETED_AT = "completed_at"
    EXPORT_NAME = "export_name"
    EXPORT_TYPE = "export_type"
    FORMAT = "format"
    STATUS = "status"
    FILE_SIZE = "file_size"
    RECORD_COUNT = "record_count"
    PROGRESS_PERCENTAGE = "progress_percentage"


class SortOrder(StrEnum):
    ASC = "asc"
    DESC = "desc"


@router.get("/exports", response_model=Page[ExportOut], summary="List exports")
def list_exports(
    session: SessionDep,
    user: ReadExports,
    page: PageDep,
    type: Annotated[ExportType | None, Query()] = None,
    format: Annotated[ExportFormat | None, Query()] = None,
    status: Annotated[ExportStatus | None, Query()] = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    created_by: Annotated[
        uuid.UUID | None, Query(description="Only this user's exports (admins only).")
    ] = None,
    sort_by: Annotated[SortField, Query()] = SortField.CREATED_AT,
    sort_order: Annotated[SortOrder, Query()] = SortOrder.DESC,
) -> Page[ExportOut]:
    """Exports the caller may see: a manager's own, everyone's for admins."""
    if created_by is not None and created_by != user.id and not sees_everyones_objects(Role(user.role)):
        raise ApiError(403, "only admins may list other users' exports", field="created_by")
    conditions = [visible_exports(user)]
    if type is not None:
        conditions.append(DataExport.export_type == type.value)
    if format is not None:
        conditions.append(DataExport.format == format.value)
    if status is not None:
        conditions.append(DataExport.status == status.value)
    if created_by is not None:
        conditions.append(DataExport.created_by == created_by)
    if date_from is not None:
        conditions.append(DataExport.created_at >= date_bound(date_from, end_of_day=False, field="date_from"))
    if date_to is not None:
        conditions.append(DataExport.created_at <= date_bound(date_to, end_of_day=True, field="date_to"))
    column = getattr(DataExport, sort_by.value)
    ordering = column.asc() if sort_order is SortOrder.ASC else column.desc()
    ordered = select(DataExport).where(*conditions).order_by(ordering, DataExport.id)
    rows, pagination = page.of(session, ordered)
    creators = _creators(session, {row.created_by for row in rows})
    data = [_export_out(row, creators.get(row.created_by)) for row in rows]
    return Page[ExportOut](data=data, pagination=pagination)


@router.post("/exports", status_code=201, response_model=Envelope[ExportOut], summary="Create an export")
def create(
    body: ExportCreate,
    user: Annotated[User, require(Permission.EXPORTS_CREATE, also_spends=Bucket.CREATIONS)],
    creation: CreationDep,
) -> Envelope[ExportOut]:
    """Store a pending export and start its flow run (it stays pending if Prefect is down)."""
    row = creation.start(user, CreateCall(route="create", body=body, priority=ExportPriority.NORMAL))
    return _created(row, creation.session, creation.response)


@router.post(
    "/exports/execute", status_code=201, response_model=Envelope[ExportOut], summary="Execute an export"
)
def execute(
    body: ExportCreate,
    user: Annotated[User, require(Permission.EXPORTS_EXECUTE, also_spends=Bucket.CREATIONS)],
    creation: CreationDep,
) -> Envelope[ExportOut]:
    """Like create, on the high-priority queue of the work pool."""
    row = creation.start(user, CreateCall(route="execute", body=body, priority=ExportPriority.HIGH))
    return _created(row, creation.session, creation.response)


@router.post(
    "/exports/estimate", response_model=Envelope[ExportEstimateOut], summary="Estimate an export's size"
)
def estimate(
    body: ExportCreate,
    user: Annotated[User, require(Permission.EXPORTS_CREATE)],
    creation: CreationDep,
) -> Envelope[ExportEstimateOut]:
    """Rows and approximate bytes of the export the body asks for (as for a create; the name may be left
    out), and whether its format's row cap lets it be created. Nothing is stored."""
    request = creation.checked(user, body, default_name="estimate")
    settings = creation.services.settings
    try:
        figures = estimate_export(parse_source(settings.source_url), request, settings)
    except SOURCE_UNREACHABLE as error:
        raise ApiError(503, f"the warehouse did not answer, try again: {type(error).__name__}") from error
    return Envelope(data=ExportEstimateOut.model_validate(figures))


@router.post(
    "/exports/execute/{export_type}",
    status_code=201,
    response_model=Envelope[ExportOut],
    summary="Execute an export of a type",
)
def execute_type(
    export_type: ExportType,
    user: Annotated[User, require(Permission.EXPORTS_EXECUTE, also_spends=Bucket.CREATIONS)],
    creation: CreationDep,
    body: ExecuteByType | None = None,
) -> Envelope[ExportOut]:
    """High priority; the name defaults to the type and the time, the columns to the type's defaults."""
    options = body or ExecuteByType()
    full = ExportCreate(
        export_name=options.export_name
        or f"{export_type.value} export {datetime.now(UTC):%Y-%m-%d %H:%M:%S}",
        export_type=export_type,
        format=options.format,
        columns=options.columns or list(get_definition(export_type).default_columns),
        filters=options.filters,
        recipients=options.recipients,
        options=options.options,
        deliver=options.deliver,
        webhook_urls=options.webhook_urls,
    )
    call = CreateCall(
        route=f"execute/{export_type.value}",
        body=full,
        priority=ExportPriority.HIGH,
        fingerprint_body=options,
    )
    return _created(creation.start(user, call), creation.session, creation.response)


@router.get(
    "/exports/status/{export_id:uuid}", response_model=Envelope[ExportStatusOut], summary="Export status"
)
def export_status(
    export_id: uuid.UUID, services: ServicesDep, user: WatchExports
) -> Envelope[ExportStatusOut]:
    """The row's status, corrected first where Prefect knows its run failed, crashed or was cancelled.

    The most polled route: its read is a short session of its own (no request-scoped session to
    open and close in worker threads), ended before any correction writes in its own.
    """
    with services.sessions() as session:
        row = visible_export(session, user, export_id)
    return Envelope(data=current_status(services.run_states, services.sessions, row))


@router.get("/exports/{export_id:uuid}", response_model=Envelope[ExportDetailOut], summary="Read an export")
def read_export(
    export_id: uuid.UUID,
    session: SessionDep,
    user: ReadExports,
    include_details: Annotated[bool, Query(description="Add the run statistics.")] = False,
) -> Envelope[ExportDetailOut]:
    row = visible_export(session, user, export_id)
    creator = _creators(session, {row.created_by}).get(row.created_by)
    detail = ExportDetailOut.model_validate({**_export_out(row, creator).model_dump(), "statistics": []})
    deliveries = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.export_id == row.id)
        .order_by(WebhookDelivery.attempted_at, WebhookDelivery.attempt)
    ).all()
    detail.webhook_deliveries = [WebhookDeliveryOut.model_validate(item) for item in deliveries]
    if include_details:
        statistics = session.scalars(
            select(ExportStatistic)
            .where(ExportStatistic.export_id == row.id)
            .order_by(ExportStatistic.created_at)
        ).all()
        detail.statistics = [StatisticOut.model_validate(item) for item in statistics]
    return Envelope(data=detail)


@router.delete("/exports/{export_id:uuid}", response_model=Envelope[ExportOut], summary="Delete an export")
def delete_export(
    export_id: uuid.UUID,
    services: ServicesDep,
    session: SessionDep,
    origin: OriginDep,
    user: Annotated[User, require(Permission.EXPORTS_DELETE)],
) -> Envelope[ExportOut]:
    """Remove the file and hide the row (kept, with its audit trail); a running export is cancelled first."""
    row = visible_export(session, user, export_id, lock=True)
    actor = origin.actor(user)
    if row.status in ACTIVE_STATUSES:
        session.commit()  # end this transaction: cancelling writes in its own
        _cancel(services, row, user, actor)
        session.refresh(row, with_for_update=True)
    if row.storage_key:
        open_storage(services.settings).delete(row.storage_key)
    row.deleted_at = datetime.now(UTC)
    audit(session, "export_deleted", row.id, {"storage_key": row.storage_key}, actor=actor)
    session.commit()
    return Envelope(data=_export_out(row, None))


@router.post(
    "/exports/{export_id:uuid}/cancel", response_model=Envelope[ExportOut], summary="Cancel an export"
)
def cancel(
    export_id: uuid.UUID,
    services: ServicesDep,
    session: SessionDep,
    origin: OriginDep,
    user: Annotated[User, require(Permission.EXPORTS_UPDATE)],
) -> Envelope[ExportOut]:
    """Mark a pending or processing export cancelled and cancel its flow run; a finished one is a 409."""
    row = visible_export(session, user, export_id)
    if row.status not in ACTIVE_STATUSES:
        raise ApiError(409, f"export is {row.status}; only pending or processing exports can be cancelled")
    session.commit()  # end this transaction: cancelling writes in its own
    if not _cancel(services, row, user, origin.actor(user)):
        session.refresh(row)
        raise ApiError(409, f"export is {row.status}; it ended before it could be cancelled")
    session.refresh(row)
    return Envelope(data=_export_out(row, None))


@router.post(
    "/exports/{export_id:uuid}/retry",
    status_code=201,
    response_model=Envelope[ExportOut],
    summary="Retry a failed or cancelled export",
)
def retry(
    export_id: uuid.UUID,
    services: ServicesDep,
    session: SessionDep,
    origin: OriginDep,
    user: Annotated[User, require(Permission.EXPORTS_EXECUTE, also_spends=Bucket.CREATIONS)],
    response: Response,
) -> Envelope[ExportOut]:
    """A new export with the same request, linked by `retry_of`, owned by the original's owner."""
    original = visible_export(session, user, export_id)
    if original.status not in (ExportStatus.FAILED, ExportStatus.CANCELLED):
        raise ApiError(409, f"export is {original.status}; only failed or cancelled exports can be retried")
    check_may_export(user, original.export_type, services.settings)
    owner = session.get_one(User, original.created_by)
    request = ExportRequest.again(original, _retry_name(original.export_name))
    provenance = Provenance(
        priority=ExportPriority(original.priority), retry_of=original.id, actor=origin.actor(user)
    )
    row = submit_export(session, services.sessions, services.settings, request, owner, provenance)
    return _created(row, session, response)


def _readable_export(export_id: uuid.UUID, session: SessionDep, user: WatchExports) -> uuid.UUID:
    """The id of an export the caller may read, checked before a stream starts (then it is too late)."""
    visible_export(session, user, export_id)
    session.commit()  # the stream reads in its own sessions; this one stays open until it ends
    return export_id


@router.get(
    "/exports/{export_id:uuid}/events",
    response_class=EventSourceResponse,
    summary="Stream status and progress (Server-Sent Events) until the export ends",
    responses={**JSON_ERROR_RESPONSES, 200: {"content": {"text/event-stream": {}}}},
)
async def events(
    export_id: Annotated[uuid.UUID, Depends(_readable_export)], services: ServicesDep
) -> AsyncIterator[ServerSentEvent]:
    """`status` events (the body of /exports/status) on every change; the stream ends at a final state."""
    last: dict[str, Any] | None = None
    quiet = 0.0
    while True:
        status = await run_in_threadpool(_status_now, services, export_id)
        payload = status.model_dump(mode="json")
        if payload != last:
            last, quiet = payload, 0.0
            yield ServerSentEvent(
                event="status", data=payload, id=f"{status.progress_percentage}:{status.status}"
            )
        elif quiet >= EVENT_KEEPALIVE_SECONDS:
            quiet = 0.0
            yield ServerSentEvent(comment="keep-alive")
        if status.status not in ACTIVE_STATUSES:
            return
        await asyncio.sleep(EVENT_POLL_SECONDS)
        quiet += EVENT_POLL_SECONDS


def _status_now(services: Services, export_id: uuid.UUID) -> ExportStatusOut:
    return current_status(services.run_states, services.sessions, load_export(services.sessions, export_id))


def _cancel(services: Services, row: DataExport, user: User, actor: Actor) -> bool:
    """Mark the row cancelled, then tell Prefect (best effort: the flow also stops on the row), and start
    the owner's next export waiting for a slot (one that waited itself freed none: nothing starts)."""
    cancelled = cancel_export(services.sessions, row.id, f"cancelled by {user.email}", actor=actor)
    if cancelled and row.flow_run_id is not None:
        cancel_run(row.flow_run_id)
    if cancelled:
        dispatch_owner(services.sessions, services.settings, row.created_by)
    return cancelled


def _created(row: DataExport, session: Session, response: Response) -> Envelope[ExportOut]:
    response.headers["Location"] = f"/api/v1/exports/{row.id}"
    return Envelope(data=_export_out(row, _creators(session, {row.created_by}).get(row.created_by)))


def _export_out(row: DataExport, creator: User | None) -> ExportOut:
    out = ExportOut.model_validate(row)
    out.creator = Creator.model_validate(creator) if creator is not None else None
    return out


def _creators(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, User]:
    if not ids:
        return {}
    return {user.id: user for user in session.scalars(select(User).where(User.id.in_(ids)))}


def _retry_name(name: str) -> str:
    suffix = f" (retry {datetime.now(UTC):%Y-%m-%d %H:%M:%S})"
    return name[: MAX_NAME_LENGTH - len(suffix)] + suffix
