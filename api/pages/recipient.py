"""The recipient page: `GET /d/{token}` shows an export to the address its emailed link names (no
account), `POST /d/{token}/file` downloads its file.

The download is a POST from the page's button, not a link: mail scanners and link previews fetch
every GET link in a message, and each fetch would be a logged download (and spend the link's
budget) that no person made. A GET is only the page, which logs nothing.

Both re-check everything on every request: the token (signed, unexpired: 403 or 410), and the
export (still there, not deleted, completed, not expired, its file the one the token was made for:
410 otherwise). The download streams the file from storage (local or S3, the same streaming as
`GET /exports/{id}/file`) and is logged in export_download_logs with the recipient's address, IP
and user agent, and in the audit log; it spends the download budget of the link (export and
recipient), a 429 page once it is used up. Tokens are secrets: nothing here logs them.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy.orm import Session

from api.deps import OriginDep, Services, ServicesDep, SessionDep
from api.errors import ApiError
from api.pages.rendering import PageError, page
from api.ratelimit import Bucket
from api.routes.downloads import download_name, file_response
from flows.appdb.models import DataExport, ExportDownloadLog
from flows.exports.audit import Actor, audit
from flows.exports.recipient_links import (
    PATH_PREFIX,
    RecipientClaims,
    RecipientLinkExpired,
    RecipientLinkInvalid,
    verify_recipient_link,
)
from flows.pipeline.notify import human_size
from flows.settings import Settings
from flows.storage.failures import ObjectNotFoundError
from flows.storage.store import open_storage
from flows.vocabulary import ExportStatus

router = APIRouter()

MAX_TOKEN_CHARS = 4096
_ASK_AGAIN = "Ask the person who sent you the export for a new one."


@dataclass(frozen=True)
class Granted:
    """A genuine link's claims and the export they still give access to, with its file's key."""

    claims: RecipientClaims
    row: DataExport
    key: str


@router.get("/{token}", response_class=HTMLResponse, name="recipient_page")
def recipient_page(token: str, services: ServicesDep, session: SessionDep) -> HTMLResponse:
    """The export's name, facts and first rows, and the download button."""
    settings = services.settings
    granted = granted_export(settings, session, token)
    row = granted.row
    preview = row.preview or {}
    rows = list(preview.get("rows", []))[: settings.email_preview_rows]
    return page(
        "recipient.html",
        name=row.export_name,
        facts=[
            ("Type", row.export_type),
            ("Format", row.format),
            ("Rows", f"{row.record_count:,}"),
            ("Size", human_size(row.file_size)),
            ("File", download_name(row)),
            ("Expires", _when(row.expires_at)),
        ],
        columns=list(preview.get("columns", [])) if rows else [],
        rows=rows,
        total_rows=row.record_count,
        recipient=granted.claims.recipient,
        link_valid_until=_when(granted.claims.valid_until),
        download_action=f"{urlsplit(settings.api_public_url).path.rstrip('/')}{PATH_PREFIX}{token}/file",
    )


@router.post("/{token}/file", response_class=StreamingResponse, name="recipient_file")
def recipient_file(
    token: str, services: ServicesDep, session: SessionDep, origin: OriginDep
) -> StreamingResponse:
    """The export's file, streamed from storage; the download logged for the link's recipient."""
    settings = services.settings
    granted = granted_export(settings, session, token)
    row, recipient = granted.row, granted.claims.recipient
    session.commit()  # end this read: storage is asked next, with no lock held
    _spend_download(services, row, recipient)
    try:
        response = file_response(open_storage(settings), granted.key, row)
    except ObjectNotFoundError:
        raise _gone("The export's file is no longer stored.") from None
    session.add(
        ExportDownloadLog(
            export_id=row.id,
            downloaded_by=None,
            recipient=recipient,
            ip_address=origin.ip,
            user_agent=origin.user_agent,
        )
    )
    details = {"file_name": download_name(row), "recipient": recipient, "via": "recipient_link"}
    audit(
        session,
        "export_downloaded",
        row.id,
        details,
        actor=Actor(user_id=None, ip_address=origin.ip, user_agent=origin.user_agent),
    )
    session.commit()
    return response


def granted_export(settings: Settings, session: Session, token: str) -> Granted:
    """The export a recipient token gives access to right now, or the PageError a person reads."""
    if len(token) > MAX_TOKEN_CHARS:
        raise _invalid()
    try:
        claims = verify_recipient_link(settings, token)
    except RecipientLinkExpired:
        raise _gone(f"This link has expired. {_ASK_AGAIN}", title="This link has expired") from None
    except RecipientLinkInvalid:
        raise _invalid() from None
    row = session.get(DataExport, claims.export_id)
    now = datetime.now(UTC)
    if row is None or row.deleted_at is not None:
        raise _gone("The export this link was for has been deleted.")
    if row.status == ExportStatus.EXPIRED or (row.expires_at is not None and row.expires_at <= now):
        raise _gone("This export has expired and its file has been removed.")
    if row.status != ExportStatus.COMPLETED or not row.storage_key or not row.checksum_sha256:
        raise _gone(f"This export's file is not available (the export is {row.status}).")
    if row.checksum_sha256 != claims.checksum_sha256:
        raise _gone(f"The export was run again since this link was sent, so its file changed. {_ASK_AGAIN}")
    return Granted(claims, row, row.storage_key)


def _spend_download(services: Services, row: DataExport, recipient: str) -> None:
    """Downloads spend the download budget of this recipient's link to this export."""
    try:
        services.rate_limits.spend(Bucket.DOWNLOADS, f"recipient:{row.id}:{recipient}")
    except ApiError as limited:
        message = "This link was used for many downloads in a short time. Try again later."
        raise PageError(429, "Too many downloads", message, headers=limited.headers) from None


def _gone(message: str, *, title: str = "This file is no longer available") -> PageError:
    return PageError(410, title, message)


def _invalid() -> PageError:
    return PageError(
        403, "This link is not valid", f"Check that you opened the whole link from your email. {_ASK_AGAIN}"
    )


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"
