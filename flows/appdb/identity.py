"""Users and their credentials: accounts, long-lived API tokens (hash only) and bearer JWTs."""

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from flows.appdb.models import ApiToken, User
from flows.email_addresses import normalized_address
from flows.errors import ConfigurationError, InvalidInputError
from flows.exports.audit import Actor, audit
from flows.settings import Settings
from flows.vocabulary import Role

API_TOKEN_PREFIX = "ef_"  # noqa: S105  (a marker, not a secret)
SHOWN_PREFIX_LENGTH = 11


def hash_token(token: str) -> str:
    """The stored form of an API token: its SHA-256 (tokens are long random strings, no salt needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalized_email(email: str) -> str:
    return normalized_address(email, "email")


def find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalized_email(email)))


def create_user(
    session: Session, email: str, role: Role, *, first_name: str = "", last_name: str = ""
) -> User:
    """Add an active user (caller commits); an address already taken is an error naming `email`."""
    address = normalized_email(email)
    if find_user(session, address) is not None:
        raise InvalidInputError("email", f"a user with {address} already exists")
    user = User(email=address, role=role.value, first_name=first_name, last_name=last_name)
    session.add(user)
    session.flush()
    audit(session, "user_created", user.id, {"email": address, "role": role.value}, resource="users")
    return user


def issue_api_token(session: Session, user: User, name: str = "") -> tuple[ApiToken, str]:
    """Create an API token for `user`; returns the row and the secret, which is never stored."""
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id, name=name, token_prefix=secret[:SHOWN_PREFIX_LENGTH], token_hash=hash_token(secret)
    )
    session.add(token)
    session.flush()
    audit(session, "api_token_created", token.id, {"name": name}, actor=Actor(user.id), resource="api_tokens")
    return token, secret


def revoke_api_token(session: Session, token_prefix: str) -> int:
    """Revoke every live token starting with the shown prefix; returns how many."""
    tokens = session.scalars(
        select(ApiToken).where(ApiToken.token_prefix == token_prefix, ApiToken.revoked_at.is_(None))
    ).all()
    for token in tokens:
        token.revoked_at = datetime.now(UTC)
        audit(session, "api_token_revoked", token.id, {}, actor=Actor(token.user_id), resource="api_tokens")
    return len(tokens)


def issue_access_token(settings: Settings, user_id: uuid.UUID, *, ttl: timedelta | None = None) -> str:
    """A bearer JWT for a user, signed with the HS256 secret (RS256 tokens come from an identity provider)."""
    if settings.jwt_algorithm != "HS256":
        raise ConfigurationError("exportflow signs tokens only with HS256; RS256 tokens come from your IdP")
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer,
        "iat": now,
        "nbf": now,
        "exp": now + (ttl or timedelta(minutes=settings.access_token_ttl_minutes)),
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")
