"""Recipient links: the signed token in a notification email that lets one address open one export's
landing page (`/d/{token}`) and download its file without an account.

HMAC-signed with settings.signing_secret under a salt of its own (a download-link token is never
accepted here, nor the other way round). A token names the export, the recipient and the file's
checksum (a re-run file is a different file), and is valid until the earlier of the file's expiry and
settings.recipient_link_max_age_seconds after signing. Tokens and links are secrets: never log them.
"""

import uuid
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import BaseModel, ConfigDict, ValidationError

from flows.settings import Settings

SALT = "exportflow.recipient-link"
PATH_PREFIX = "/d/"


class RecipientClaims(BaseModel):
    """What a recipient link grants: `recipient` may fetch this export's file, while it has this
    checksum, until `valid_until`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    export_id: uuid.UUID
    recipient: str
    checksum_sha256: str
    valid_until: datetime


class RecipientLinkInvalid(Exception):
    """The token was not signed by us (or was altered)."""


class RecipientLinkExpired(Exception):
    """A genuine token whose validity has ended."""


def recipient_claims(
    settings: Settings,
    export_id: uuid.UUID,
    recipient: str,
    checksum_sha256: str,
    file_expires_at: datetime | None,
) -> RecipientClaims:
    """The claims of a new link: valid for the configured time, never beyond the file's expiry."""
    valid_until = datetime.now(UTC) + timedelta(seconds=settings.recipient_link_max_age_seconds)
    if file_expires_at is not None:
        valid_until = min(valid_until, file_expires_at)
    return RecipientClaims(
        export_id=export_id, recipient=recipient, checksum_sha256=checksum_sha256, valid_until=valid_until
    )


def sign_recipient_link(settings: Settings, claims: RecipientClaims) -> str:
    return _serializer(settings).dumps(claims.model_dump(mode="json"))


def recipient_url(settings: Settings, claims: RecipientClaims) -> str:
    """The landing page's public URL for these claims."""
    return f"{settings.api_public_url.rstrip('/')}{PATH_PREFIX}{sign_recipient_link(settings, claims)}"


def verify_recipient_link(settings: Settings, token: str, *, now: datetime | None = None) -> RecipientClaims:
    """The claims of a genuine token; RecipientLinkInvalid if it is not one, RecipientLinkExpired once
    its time is up."""
    try:
        payload = _serializer(settings).loads(token)
        claims = RecipientClaims.model_validate(payload)
    except (BadSignature, ValidationError):
        raise RecipientLinkInvalid("invalid recipient link") from None
    if (now or datetime.now(UTC)) >= claims.valid_until:
        raise RecipientLinkExpired("this link has expired")
    return claims


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.signing_secret.get_secret_value(), salt=SALT)
