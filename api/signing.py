"""Download links to local files: an itsdangerous token binding an export, a user and the file's checksum.

The token is the credential of `GET /exports/{id}/file` (no bearer token there): HMAC-signed with
settings.signing_secret, valid settings.download_url_ttl_seconds. Tokens and links are secrets:
never log them.
"""

import uuid

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pydantic import BaseModel, ConfigDict, ValidationError

from api.errors import ApiError
from flows.settings import Settings

SALT = "exportflow.download-link"
LINK_PARAMETER = "token"


class DownloadClaims(BaseModel):
    """What a link grants: this user may fetch this export's file while it has this checksum."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    export_id: uuid.UUID
    user_id: uuid.UUID
    checksum_sha256: str


def sign_download(settings: Settings, claims: DownloadClaims) -> str:
    return _serializer(settings).dumps(claims.model_dump(mode="json"))


def verify_download(settings: Settings, token: str, export_id: uuid.UUID) -> DownloadClaims:
    """The claims of a genuine, unexpired token for `export_id`; 403 if it is not one, 410 once expired."""
    try:
        payload = _serializer(settings).loads(token, max_age=settings.download_url_ttl_seconds)
    except SignatureExpired:
        raise ApiError(
            410, "this download link has expired; ask for a new one", field=LINK_PARAMETER
        ) from None
    except BadSignature:
        raise _invalid() from None
    try:
        claims = DownloadClaims.model_validate(payload)
    except ValidationError:
        raise _invalid() from None
    if claims.export_id != export_id:
        raise _invalid()
    return claims


def _invalid() -> ApiError:
    return ApiError(403, "invalid download link", field=LINK_PARAMETER)


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.signing_secret.get_secret_value(), salt=SALT)
