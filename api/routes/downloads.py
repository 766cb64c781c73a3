"""Routes: a short-lived download link for a completed export, and the file behind a local link.

`GET /exports/{id}/download` re-checks access, the type, the status and the expiry, logs the
download (export_download_logs and the audit log) and answers a link valid for
settings.download_url_ttl_seconds: with S3 storage a presigned GET, with local storage a signed
link to `GET /exports/{id}/file`, which checks everything again and streams the file. Links and
tokens are secrets: nothing here logs them.
"""

import math
import posixpath
import re
import unicodedata
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import IO, Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api.access import check_may_export, visible_export
from api.deps import OriginDep, ServicesDep, SessionDep, require
from api.errors import ApiError
from api.permissions import Permission
from api.ratelimit import Bucket
from api.schemas.common import ERROR_RESPONSES, Envelope
from api.schemas.exports import DownloadOut
from api.signing import LINK_PARAMETER, DownloadClaims, sign_download, verify_download
from flows.appdb.models import DataExport, ExportDownloadLog, User
from flows.exports.audit import audit
from flows.render import NDJSON_MEDIA_TYPE, ExportOptions, media_type, renderer_for
from flows.storage.failures import ObjectNotFoundError
from flows.storage.store import READ_CHUNK, Storage, open_storage
from flows.vocabulary import ExportFormat, ExportStatus

router = APIRouter(tags=["downloads"], responses=ERROR_RESPONSES)

MAX_NAME_STEM = 150
"""Characters of the export's name kept in the download's file name."""
FILE_ROUTE = "export_file"
_NOT_PORTABLE = re.compile(r'[\\/"*:<>?|]+')
_NOT_FALLBACK_SAFE = re.compile(r"[^A-Za-z0-9._() -]+")
_SPACES = re.compile(r"\s+")
_FILE_MEDIA_TYPES: dict[str, dict[str, Any]] = {
    media: {"schema": {"type": "string", "format": "binary"}}
    for media in (
        *(renderer_for(export_format).MEDIA_TYPE for export_format in ExportFormat),
        NDJSON_MEDIA_TYPE,
    )
}


@router.get(
    "/exports/{export_id:uuid}/download",
    response_model=Envelope[DownloadOut],
    summary="A short-lived download link for a completed export",
)
def download(
    export_id: uuid.UUID,
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    origin: OriginDep,
    user: Annotated[User, require(Permission.EXPORTS_DOWNLOAD, spends=Bucket.DOWNLOADS)],
) -> Envelope[DownloadOut]:
    """A link valid a few minutes (never past the export's expiry); fetch it without the bearer token."""
    settings = services.settings
    row = visible_export(session, user, export_id)
    check_may_export(user, row.export_type, settings)
    key, checksum = _downloadable(row)
    session.commit()  # end this read: storage is asked next, with no lock held
    storage = open_storage(settings)
    if not storage.exists(key):
        raise _file_gone()
    now = datetime.now(UTC)
    expires_at = min(now + timedelta(seconds=settings.download_url_ttl_seconds), _expiry(row))
    file_name = download_name(row)
    if storage.is_local:
        token = sign_download(
            settings, DownloadClaims(export_id=row.id, user_id=user.id, checksum_sha256=checksum)
        )
        path = request.app.url_path_for(FILE_ROUTE, export_id=str(row.id))
        url = f"{settings.api_public_url.rstrip('/')}{path}?{LINK_PARAMETER}={token}"
    else:
        url = _presigned(storage, key, expires_at - now, row, file_name)
    session.add(
        ExportDownloadLog(
            export_id=row.id, downloaded_by=user.id, ip_address=origin.ip, user_agent=origin.user_agent
        )
    )
    details = {"file_name": file_name, "link_expires_at": expires_at.isoformat(), "local": storage.is_local}
    audit(session, "export_downloaded", row.id, details, actor=origin.actor(user))
    session.commit()
    return Envelope(
        data=DownloadOut(
            download_url=url,
            expires_at=expires_at,
            file_name=file_name,
            file_size=row.file_size,
            checksum_sha256=checksum,
        )
    )


@router.get(
    "/exports/{export_id:uuid}/file",
    name=FILE_ROUTE,
    response_class=StreamingResponse,
    summary="The file behind a local download link (the link's token is the credential)",
    responses={200: {"description": "The export's file.", "content": _FILE_MEDIA_TYPES}},
)
def export_file(
    export_id: uuid.UUID,
    services: ServicesDep,
    session: SessionDep,
    token: Annotated[
        str, Query(min_length=1, max_length=4096, description="The token of a link from /download.")
    ],
) -> StreamingResponse:
    """Check the link, then the export and its owner again, and stream the file in chunks.

    Writes no log or audit row: the download was logged and audited when /download issued this
    link, for the user it names. S3 links are fetched from S3 itself, where we could not log the
    fetch; logging fetches of local links only would make the trail depend on the storage, and a
    retried or resumed fetch would count one download twice.
    """
    settings = services.settings
    claims = verify_download(settings, token, export_id)
    user = session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise ApiError(403, "the account this link was made for is deactivated", field=LINK_PARAMETER)
    row = visible_export(session, user, export_id)
    check_may_export(user, row.export_type, settings)
    key, checksum = _downloadable(row)
    if checksum != claims.checksum_sha256:
        raise ApiError(
            410, "the export's file changed after this link was made; ask for a new one", field=LINK_PARAMETER
        )
    session.commit()  # end this read before streaming: no lock is held while the file goes out
    try:
        return file_response(open_storage(settings), key, row)
    except ObjectNotFoundError:
        raise _file_gone() from None


def file_response(storage: Storage, key: str, row: DataExport) -> StreamingResponse:
    """The stored file under `key` streamed in chunks, named and typed for `row` (also the recipient
    page's download); ObjectNotFoundError when it is no longer stored."""
    size = storage.size(key)
    stream = storage.open_read(key)
    headers = {
        "Content-Length": str(size),
        "Content-Disposition": content_disposition(download_name(row)),
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(_chunks(stream), media_type=file_media_type(row), headers=headers)


def _downloadable(row: DataExport) -> tuple[str, str]:
    """The stored key and checksum of a completed, unexpired export; 410 once expired, 409 if not done."""
    if row.status == ExportStatus.EXPIRED or (
        row.expires_at is not None and row.expires_at <= datetime.now(UTC)
    ):
        raise ApiError(410, "this export has expired and its file has been removed", field="id")
    if row.status != ExportStatus.COMPLETED or not row.storage_key or not row.checksum_sha256:
        raise ApiError(409, f"export is {row.status}; only completed exports can be downloaded", field="id")
    return row.storage_key, row.checksum_sha256


def _expiry(row: DataExport) -> datetime:
    return row.expires_at or datetime.max.replace(tzinfo=UTC)


def _file_gone() -> ApiError:
    return ApiError(410, "the export's file is no longer stored", field="id")


def _presigned(storage: Storage, key: str, valid: timedelta, row: DataExport, file_name: str) -> str:
    return storage.presigned_url(
        key,
        max(1, math.ceil(valid.total_seconds())),
        content_type=file_media_type(row),
        content_disposition=content_disposition(file_name),
    )


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(READ_CHUNK):
            yield chunk


def file_media_type(row: DataExport) -> str:
    return media_type(ExportFormat(row.format), ExportOptions.model_validate(row.options))


def download_name(row: DataExport) -> str:
    """The file's name for people: the export's name with the stored file's time stamp and extension.

    Stored files are named `<slug>_<YYYYMMDD-HHMMSS>.<ext>` (flows.pipeline.file_names, a slug has no `_`), so
    "Q1 Sales" stored as `q1-sales_20260105-093000.csv` downloads as `Q1 Sales_20260105-093000.csv`.
    """
    stored = posixpath.basename(row.storage_key or "")
    stamped = stored.rpartition("_")[2]
    stem = safe_name(row.export_name)[:MAX_NAME_STEM].rstrip(" .")
    return f"{stem}_{stamped}" if stem else stored


def safe_name(name: str) -> str:
    """`name` without control or format characters, quotes, slashes or other characters that file
    systems refuse, with collapsed spaces and no leading dots (no hidden files, no `..`)."""
    kept: list[str] = []
    for character in unicodedata.normalize("NFC", name):
        category = unicodedata.category(character)
        if category in ("Cc", "Zl", "Zp"):  # tabs, CR, LF and other breaks become spaces
            kept.append(" ")
        elif not category.startswith("C"):  # format (bidi overrides), private, unassigned: dropped
            kept.append(character)
    return _SPACES.sub(" ", _NOT_PORTABLE.sub("_", "".join(kept))).strip().lstrip(".").strip()


def content_disposition(file_name: str) -> str:
    """`attachment` with an ASCII `filename` fallback and the full name as RFC 5987 `filename*`."""
    name = safe_name(file_name) or "export"
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    fallback = _NOT_FALLBACK_SAFE.sub("_", ascii_name).strip(" ._") or "export"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
