"""Who is calling: a bearer JWT (algorithm fixed by settings) or a long-lived API token."""

import uuid
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from api.errors import unauthorized
from flows.appdb.engine import transaction
from flows.appdb.identity import API_TOKEN_PREFIX, hash_token
from flows.appdb.models import ApiToken, User
from flows.settings import Settings

REQUIRED_CLAIMS = ["exp", "sub", "aud", "iss"]
LAST_USED_RESOLUTION = timedelta(minutes=1)


def authenticate(sessions: sessionmaker[Session], session: Session, settings: Settings, token: str) -> User:
    """The active user behind a bearer value, or a 401 ApiError saying what is wrong with it."""
    if token.startswith(API_TOKEN_PREFIX):
        user = _api_token_user(sessions, session, token)
    else:
        user = session.get(User, _jwt_subject(settings, token))
    if user is None or not user.is_active:
        raise unauthorized("unknown or deactivated user")
    return user


def _jwt_subject(settings: Settings, token: str) -> uuid.UUID:
    key = (
        settings.jwt_secret.get_secret_value()
        if settings.jwt_algorithm == "HS256"
        else settings.jwt_public_key
    )
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[settings.jwt_algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": REQUIRED_CLAIMS},
        )
        return uuid.UUID(str(claims["sub"]))
    except jwt.PyJWTError as error:
        raise unauthorized(f"invalid bearer token: {error}") from None
    except ValueError:
        raise unauthorized("invalid bearer token: sub is not a user id") from None


def _api_token_user(sessions: sessionmaker[Session], session: Session, token: str) -> User | None:
    """The token's user; its last use is recorded at most once a minute, in a transaction of its own
    (after this session's read has ended: SQLite allows one transaction at a time)."""
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(token))
    ).one_or_none()
    now = datetime.now(UTC)
    if row is None or row.ApiToken.revoked_at is not None:
        raise unauthorized("unknown or revoked API token")
    found: ApiToken = row.ApiToken
    user: User = row.User
    if found.expires_at is not None and found.expires_at <= now:
        raise unauthorized("expired API token")
    if found.last_used_at is None or now - found.last_used_at > LAST_USED_RESOLUTION:
        session.commit()
        with transaction(sessions) as writer:
            writer.execute(update(ApiToken).where(ApiToken.id == found.id).values(last_used_at=now))
    return user
