"""Creating an export over HTTP: Idempotency-Key replay, template defaults, validation, then the run."""

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.access import check_may_export, template_for
from api.deps import OriginDep, RequestOrigin, Services, ServicesDep, SessionDep
from api.errors import ApiError
from api.schemas.exports import ExportCreate
from flows.appdb.models import DataExport, User
from flows.exports.creation import IdempotencyKeyTaken, Provenance, submit_export
from flows.exports.estimate import SOURCE_UNREACHABLE, check_row_cap
from flows.exports.requests import ExportRequest
from flows.exports.webhook_urls import check_public_targets
from flows.pipeline.sources import parse_source
from flows.settings import Settings
from flows.vocabulary import ExportPriority

logger = logging.getLogger("exportflow.api")

IDEMPOTENCY_FIELD = "Idempotency-Key"


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_FIELD,
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description=(
            "Repeat a request safely: the same key and body return the first export; another body is a 409."
        ),
    ),
]


@dataclass(frozen=True)
class CreateCall:
    """One create or execute request: the route it came by, its body and its priority.

    `fingerprint_body` is what the caller sent when the route completed it (execute by type
    fills in a timestamped name, which must not make a repeated request look different).
    """

    route: str
    body: ExportCreate
    priority: ExportPriority
    fingerprint_body: BaseModel | None = None

    @property
    def fingerprint(self) -> str:
        sent = (self.fingerprint_body or self.body).model_dump(mode="json", exclude_unset=True)
        canonical = json.dumps({"route": self.route, "body": sent}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Creation:
    """What a creating route works with besides its body and caller: one request's services."""

    services: Services
    session: Session
    origin: RequestOrigin
    response: Response
    idempotency_key: str | None

    def start(self, user: User, call: CreateCall) -> DataExport:
        """The export for this call: the first one again for a repeated Idempotency-Key, else a new
        pending row whose flow run is started (Prefect being down leaves it pending for the dispatcher)."""
        session, key = self.session, self.idempotency_key
        if key is not None:
            replayed = _replay(session, user, key, call)
            if replayed is not None:
                return replayed
        request = self.checked(user, call.body)
        check_row_cap_if_reachable(self.services.settings, request)
        provenance = Provenance(
            priority=call.priority,
            idempotency_key=key,
            idempotency_fingerprint=call.fingerprint if key else None,
            actor=self.origin.actor(user),
        )
        services = self.services
        try:
            return submit_export(session, services.sessions, services.settings, request, user, provenance)
        except IdempotencyKeyTaken:  # the same key raced in from another request
            replayed = _replay(session, user, key, call) if key else None
            if replayed is None:
                raise
            return replayed

    def checked(self, user: User, body: ExportCreate, default_name: str | None = None) -> ExportRequest:
        """The request `body` makes, with its template's defaults, checked in full for `user`."""
        given = _with_template_defaults(self.session, user, body)
        if default_name is not None:
            given = {"export_name": default_name, **given}
        request = ExportRequest.validated(given)
        check_may_export(user, request.export_type, self.services.settings)
        allow_private = self.services.settings.webhook_allow_private_targets
        check_public_targets(request.webhook_urls, allow_private=allow_private)
        return request


def check_row_cap_if_reachable(settings: Settings, request: ExportRequest) -> None:
    """Refuse an export over its format's row cap; a source that cannot be counted now leaves the
    check to the run (which applies the cap too), so no export is refused for an outage."""
    try:
        check_row_cap(parse_source(settings.source_url), request, settings)
    except SOURCE_UNREACHABLE as error:
        logger.warning("row cap of %s not checked, the source did not answer: %s", request.format, error)


def creation(
    services: ServicesDep,
    session: SessionDep,
    origin: OriginDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Creation:
    return Creation(services, session, origin, response, idempotency_key)


CreationDep = Annotated[Creation, Depends(creation)]


def _replay(session: Session, user: User, key: str, call: CreateCall) -> DataExport | None:
    first = session.scalar(
        select(DataExport).where(DataExport.created_by == user.id, DataExport.idempotency_key == key)
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
