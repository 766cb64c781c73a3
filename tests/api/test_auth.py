"""Authentication: bad bearer values (JWTs and API tokens), each a 401 envelope; and the good ones."""

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import transaction
from flows.appdb.identity import hash_token, issue_access_token, revoke_api_token
from flows.appdb.models import ApiToken, User
from flows.settings import Settings
from flows.vocabulary import Role
from tests.api.conftest import Caller, MakeCaller

EXPORTS = "/api/v1/exports"
DROP = object()  # a claim value meaning "leave this claim out"


@dataclass(frozen=True)
class RsaKeys:
    private_pem: bytes
    public_pem: bytes


@dataclass(frozen=True)
class World:
    """What the corpus builds tokens from: both apps' settings, an RSA key pair and some users."""

    hs: Settings
    rs: Settings
    keys: RsaKeys
    active: Caller
    other: Caller
    deactivated: Caller
    revoked: Caller
    expired: Caller


@pytest.fixture(scope="module")
def rsa_keys() -> RsaKeys:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return RsaKeys(private_pem=private_pem, public_pem=public_pem)


@pytest.fixture
def rs_settings(api_settings: Settings, rsa_keys: RsaKeys) -> Settings:
    """The test app's settings, verifying RS256 tokens with the test key pair's public key."""
    return api_settings.model_copy(
        update={"jwt_algorithm": "RS256", "jwt_public_key": rsa_keys.public_pem.decode()}
    )


@pytest.fixture
def world(
    api_settings: Settings,
    rs_settings: Settings,
    rsa_keys: RsaKeys,
    make_caller: MakeCaller,
    sessions: sessionmaker[Session],
) -> World:
    active, other, deactivated, revoked, expired = (make_caller(Role.MANAGER) for _ in range(5))
    with transaction(sessions) as session:
        session.execute(update(User).where(User.id == deactivated.id).values(is_active=False))
        assert revoke_api_token(session, revoked.token[:11]) == 1
        session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == hash_token(expired.token))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    return World(api_settings, rs_settings, rsa_keys, active, other, deactivated, revoked, expired)


def claims(settings: Settings, subject: object, **changes: object) -> dict[str, Any]:
    """Valid claims for `subject` (exp in 5 minutes), with some changed or (value DROP) left out."""
    now = datetime.now(UTC)
    base: dict[str, object] = {
        "sub": str(subject),
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=5),
        **changes,
    }
    return {name: value for name, value in base.items() if value is not DROP}


def hs256(settings: Settings, payload: dict[str, Any]) -> str:
    return jwt.encode(payload, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def rs256(keys: RsaKeys, payload: dict[str, Any]) -> str:
    return jwt.encode(payload, keys.private_pem, algorithm="RS256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json_b64(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, default=lambda moment: int(moment.timestamp())).encode())


def by_hand(algorithm: str, payload: dict[str, Any], hmac_key: bytes | None) -> str:
    """A JWT built without PyJWT (which refuses to make these): `alg` as given, HMAC-signed or unsigned."""
    signing_input = f"{_json_b64({'alg': algorithm, 'typ': 'JWT'})}.{_json_b64(payload)}"
    signature = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest() if hmac_key else b""
    return f"{signing_input}.{_b64(signature)}"


def tampered_signature(token: str) -> str:
    head, body, signature = token.split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    return f"{head}.{body}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"


def tampered_payload(token: str, subject: uuid.UUID) -> str:
    """The token with its `sub` swapped for another user's, the original signature kept."""
    head, body, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return f"{head}.{_json_b64({**payload, 'sub': str(subject)})}.{signature}"


@dataclass(frozen=True)
class BadCase:
    """A bad Authorization header for the HS256 app (or, with `rs_app`, the RS256 one), and the reason
    the 401 has to give (so that each token fails for what it tests, not for something else)."""

    reason: str
    header: Callable[[World], str | None]
    rs_app: bool = False


def _bearer(make: Callable[[World], str]) -> Callable[[World], str]:
    return lambda w: f"Bearer {make(w)}"


def _hs_claims(**changes: object) -> Callable[[World], str]:
    """Bearer of an HS256 token for the active user, signed right, with changed claims (a callable
    value is called when the token is made, so that times are relative to the test, not the import)."""
    return _bearer(
        lambda w: hs256(
            w.hs,
            claims(w.hs, w.active.id, **{name: v() if callable(v) else v for name, v in changes.items()}),
        )
    )


def _past() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=1)


def _future() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=5)


BAD_CASES: dict[str, BadCase] = {
    "alg none": BadCase(
        "alg value is not allowed", _bearer(lambda w: by_hand("none", claims(w.hs, w.active.id), None))
    ),
    "alg none on RS256": BadCase(
        "alg value is not allowed",
        _bearer(lambda w: by_hand("none", claims(w.rs, w.active.id), None)),
        rs_app=True,
    ),
    "HS256 signed with the RSA public key": BadCase(
        "alg value is not allowed",
        _bearer(lambda w: by_hand("HS256", claims(w.rs, w.active.id), w.keys.public_pem)),
        rs_app=True,
    ),
    "HS256 token when RS256 is configured": BadCase(
        "alg value is not allowed", _bearer(lambda w: hs256(w.hs, claims(w.hs, w.active.id))), rs_app=True
    ),
    "RS256 token when HS256 is configured": BadCase(
        "alg value is not allowed", _bearer(lambda w: rs256(w.keys, claims(w.hs, w.active.id)))
    ),
    "expired": BadCase("expired", _hs_claims(exp=_past, nbf=DROP)),
    "expired RS256": BadCase(
        "expired",
        _bearer(lambda w: rs256(w.keys, claims(w.rs, w.active.id, exp=_past(), nbf=DROP))),
        rs_app=True,
    ),
    "not yet valid": BadCase("not yet valid", _hs_claims(nbf=_future)),
    "wrong aud": BadCase("Audience", _hs_claims(aud="someone-else")),
    "aud list without ours": BadCase("Audience", _hs_claims(aud=["a", "b"])),
    "wrong iss": BadCase("issuer", _hs_claims(iss="https://evil.example.com")),
    "missing sub": BadCase('"sub"', _hs_claims(sub=DROP)),
    "missing exp": BadCase('"exp"', _hs_claims(exp=DROP)),
    "missing aud": BadCase('"aud"', _hs_claims(aud=DROP)),
    "missing iss": BadCase('"iss"', _hs_claims(iss=DROP)),
    "sub not a uuid": BadCase("sub is not a user id", _hs_claims(sub="admin")),
    "sub empty": BadCase("sub is not a user id", _hs_claims(sub="")),
    "sub of an unknown user": BadCase(
        "unknown or deactivated user", _bearer(lambda w: hs256(w.hs, claims(w.hs, uuid.uuid4())))
    ),
    "sub of a deactivated user": BadCase(
        "unknown or deactivated user", _bearer(lambda w: hs256(w.hs, claims(w.hs, w.deactivated.id)))
    ),
    "tampered signature": BadCase(
        "Signature verification failed",
        _bearer(lambda w: tampered_signature(hs256(w.hs, claims(w.hs, w.active.id)))),
    ),
    "tampered RS256 signature": BadCase(
        "Signature verification failed",
        _bearer(lambda w: tampered_signature(rs256(w.keys, claims(w.rs, w.active.id)))),
        rs_app=True,
    ),
    "tampered payload": BadCase(
        "Signature verification failed",
        _bearer(lambda w: tampered_payload(hs256(w.hs, claims(w.hs, w.active.id)), w.other.id)),
    ),
    "signature stripped": BadCase(
        "Signature verification failed",
        _bearer(lambda w: hs256(w.hs, claims(w.hs, w.active.id)).rsplit(".", 1)[0] + "."),
    ),
    "garbage word": BadCase("invalid bearer token", lambda w: "Bearer not-a-token"),
    "garbage three dots": BadCase("invalid bearer token", lambda w: "Bearer a.b.c"),
    "garbage empty json parts": BadCase("invalid bearer token", lambda w: "Bearer e30.e30.e30"),
    "garbage long": BadCase("invalid bearer token", lambda w: "Bearer " + "x" * 8000),
    "garbage sql": BadCase("invalid bearer token", lambda w: "Bearer ' OR '1'='1"),
    "empty bearer": BadCase("missing bearer token", lambda w: "Bearer "),
    "bearer word only": BadCase("missing bearer token", lambda w: "Bearer"),
    "no header": BadCase("missing bearer token", lambda w: None),
    "Basic scheme": BadCase(
        "missing bearer token", lambda w: "Basic " + base64.b64encode(b"admin:admin").decode()
    ),
    "Basic scheme with a valid token": BadCase("missing bearer token", lambda w: f"Basic {w.active.token}"),
    "revoked API token": BadCase("unknown or revoked API token", lambda w: f"Bearer {w.revoked.token}"),
    "expired API token": BadCase("expired API token", lambda w: f"Bearer {w.expired.token}"),
    "API token of a deactivated user": BadCase(
        "unknown or deactivated user", lambda w: f"Bearer {w.deactivated.token}"
    ),
    "unknown ef_ token": BadCase(
        "unknown or revoked API token", lambda w: f"Bearer ef_{uuid.uuid4().hex}{uuid.uuid4().hex}"
    ),
    "ef_ prefix only": BadCase("unknown or revoked API token", lambda w: "Bearer ef_"),
    "truncated API token": BadCase("unknown or revoked API token", lambda w: f"Bearer {w.active.token[:-1]}"),
}


@pytest.mark.parametrize("name", list(BAD_CASES))
def test_bad_credentials_are_401_envelopes(
    name: str,
    world: World,
    make_client: Callable[[Settings], TestClient],
) -> None:
    case = BAD_CASES[name]
    client = make_client(world.rs if case.rs_app else world.hs)
    header = case.header(world)
    headers = {} if header is None else {"Authorization": header}

    response = client.get(EXPORTS, headers=headers)

    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    body = response.json()
    assert body["success"] is False
    assert [(item["field"], item["code"]) for item in body["errors"]] == [("authorization", "unauthorized")]
    assert case.reason in body["errors"][0]["message"]


def test_a_valid_hs256_token_is_accepted(world: World, make_client: Callable[[Settings], TestClient]) -> None:
    client = make_client(world.hs)
    token = issue_access_token(world.hs, world.active.id)

    response = client.get(EXPORTS, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200, response.text
    assert response.json()["success"] is True


def test_a_valid_rs256_token_is_accepted(world: World, make_client: Callable[[Settings], TestClient]) -> None:
    client = make_client(world.rs)
    token = rs256(world.keys, claims(world.rs, world.active.id))

    response = client.get(EXPORTS, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200, response.text
    assert response.json()["success"] is True


def test_a_valid_api_token_is_accepted_and_its_use_recorded(
    world: World, make_client: Callable[[Settings], TestClient], sessions: sessionmaker[Session]
) -> None:
    client = make_client(world.hs)

    response = client.get(EXPORTS, headers=world.active.headers)

    assert response.status_code == 200, response.text
    with sessions() as session:
        token = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(world.active.token)))
        assert token.one().last_used_at is not None


def test_the_tampered_payload_names_a_real_user(
    world: World, make_client: Callable[[Settings], TestClient]
) -> None:
    """The tampered-payload case fails for its signature alone: the same claims signed right are accepted."""
    client = make_client(world.hs)
    honest = hs256(world.hs, claims(world.hs, world.other.id))

    response = client.get(EXPORTS, headers={"Authorization": f"Bearer {honest}"})

    assert response.status_code == 200, response.text
