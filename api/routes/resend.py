"""`POST /exports/{id}/resend`: a completed export's email and webhooks again, without running its query."""

import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter

from api.access import check_may_export, visible_export
from api.deps import OriginDep, ServicesDep, SessionDep, require
from api.errors import ApiError
from api.permissions import Permission
from api.ratelimit import Bucket
from api.schemas.common import ERROR_RESPONSES, Envelope
from api.schemas.exports import ResendOut, ResendWebhookOut
from flows.appdb.models import User
from flows.pipeline.resend import resend_export
from flows.storage.store import open_storage
from flows.vocabulary import ExportStatus

router = APIRouter(tags=["exports"], responses=ERROR_RESPONSES)


@router.post(
    "/exports/{export_id:uuid}/resend",
    response_model=Envelope[ResendOut],
    summary="Mail and webhook a completed export again",
)
def resend(
    export_id: uuid.UUID,
    services: ServicesDep,
    session: SessionDep,
    origin: OriginDep,
    user: Annotated[User, require(Permission.EXPORTS_EXECUTE, also_spends=Bucket.CREATIONS)],
) -> Envelope[ResendOut]:
    """Email the recipients and POST `export.completed` to the webhooks again, from the stored file
    (the query is not run again; the delivery rule does not apply). 409 unless completed, 410 once
    expired. A failed email or webhook is in the answer and on the export, not an error."""
    row = visible_export(session, user, export_id)
    if row.status == ExportStatus.EXPIRED or (
        row.status == ExportStatus.COMPLETED
        and row.expires_at is not None
        and row.expires_at <= datetime.now(UTC)
    ):
        raise ApiError(410, "the export's file has expired; run it again instead", field="id")
    if row.status != ExportStatus.COMPLETED:
        raise ApiError(409, f"export is {row.status}; only completed exports can be resent")
    check_may_export(user, row.export_type, services.settings)
    session.commit()  # end this transaction: resending writes in its own
    storage = open_storage(services.settings)
    resent = resend_export(services.sessions, services.settings, storage, row.id, origin.actor(user))
    webhooks = [ResendWebhookOut.model_validate(asdict(outcome)) for outcome in resent.webhooks]
    out = ResendOut(
        export_id=row.id, emailed=resent.emailed, email_error=resent.email_error, webhooks=webhooks
    )
    return Envelope(data=out)
