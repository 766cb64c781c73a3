"""Creating an export over HTTP: Idempotency-Key replay, template defaults, validation, then the run."""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.access import check_may_export, template_for
from api.deps import Client, Services
from api.errors import ApiError
from api.schemas.exports import ExportCreate
from flows.domain import ExportPriority
from flows.models import DataExport, User
from flows.runs import start_export_run
from flows.submission import ExportRequest, create_export

IDEMPOTENCY_FIELD = "Idempotency-Key"


@dataclass(frozen=True)
class CreateCall:
    """One create or execute request: the route it came by, its body and its priority.

    `fingerprint_body` is what the caller sent when the route completed it (execute by type
    fills in a timestamped name, which must not make a repeated request look different).
    """

    route: str
    body: ExportCreate
    priority: ExportPriority
    idempotency_key: str | None
    fingerprint_body: BaseModel | None = None

    @property
    def fingerprint(self) -> str:
        sent = (self.fingerprint_body or self.body).model_dump(mode="json", exclude_unset=True)
        canonical = json.dumps({"route": self.route, "body": sent}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def create_and_start(
    session: Session, services: Services, user: User, client: Client, call: CreateCall
) -> DataExport:
    """The export for this call: the first one again for a repeated Idempotency-Key, else a new pending
    row whose flow run is started (Prefect being down leaves it pending for the dispatcher)."""
    if call.idempotency_key is not None:
        replayed = _replay(session, user, call)
        if replayed is not None:
            return replayed
    request = ExportRequest.validated(_with_template_defaults(session, user, call.body))
    check_may_export(user, request.export_type, services.settings)
    row = create_export(
        session,
        request,
        user,
        priority=call.priority,
        idempotency_key=call.idempotency_key,
        idempotency_fingerprint=call.fingerprint if call.idempotency_key else None,
        actor=client.actor(user),
    )
    try:
        session.commit()
    except IntegrityError:  # the same key raced in from another request
        session.rollback()
        replayed = _replay(session, user, call)
        if replayed is None:
            raise
        return replayed
    start_export_run(services.sessions, services.settings, row.id)
    return row


def _replay(session: Session, user: User, call: CreateCall) -> DataExport | None:
    first = session.scalar(
        select(DataExport).where(
            DataExport.created_by == user.id, DataExport.idempotency_key == call.idempotency_key
        )
    )
    if first is None:
        return None
    if first.idempotency_fingerprint != call.fingerprint:
        raise ApiError(409, "this Idempotency-Key was used with a different request", field=IDEMPOTENCY_FIELD)
    return first


def _with_template_defaults(session: Session, user: User, body: ExportCreate) -> dict[str, Any]:
    """The request as a dict, with fields it leaves out taken from its template (if it names one)."""
    sent = body.model_dump(exclude_unset=True, exclude={"template_id"}, by_alias=True)
    given = {name: value for name, value in sent.items() if value is not None}
    if body.template_id is None:
        return given
    template = template_for(session, user, body.template_id, change=False, field="template_id")
    defaults = {
        "export_name": template.template_name,
        "export_type": template.export_type,
        "format": template.format,
        "columns": template.columns or None,
        "filters": template.filters,
    }
    return {**defaults, **given}
