"""What routes depend on: the process's services, a session, the caller, their permission, their IP."""

import ipaddress
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from api.auth import authenticate
from api.errors import ApiError, unauthorized
from api.permissions import Permission, has_permission
from api.ratelimit import Bucket, RateLimits
from api.run_states import RunStateCache
from flows.appdb.models import User
from flows.exports.audit import Actor
from flows.settings import Settings
from flows.vocabulary import Role

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Services:
    """Everything one API process shares between requests; built in the app's lifespan."""

    settings: Settings
    sessions: sessionmaker[Session]
    rate_limits: RateLimits
    trusted_proxies: tuple[IpNetwork, ...]
    run_states: RunStateCache


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    with services.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

bearer = HTTPBearer(
    auto_error=False, description="A JWT from your identity provider, or an exportflow API token (ef_...)."
)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def require(
    permission: Permission, *, spends: Bucket = Bucket.REQUESTS, also_spends: Bucket | None = None
) -> Any:
    """A dependency giving the caller once they are authenticated, within their rate limit (the
    `spends` budget, and `also_spends`) and hold `permission`: one step (one worker-thread hop), in a
    session of its own that is closed before the route runs, so no request holds a pooled connection
    while it waits for a thread."""

    def check(services: ServicesDep, credentials: Credentials, response: Response) -> User:
        if credentials is None:
            raise unauthorized("missing bearer token (Authorization: Bearer <token>)")
        with services.sessions() as session:
            user = authenticate(services.sessions, session, services.settings, credentials.credentials)
        allowance = services.rate_limits.spend(spends, str(user.id))
        if also_spends is not None:
            allowance = services.rate_limits.spend(also_spends, str(user.id))
        response.headers.update(allowance.headers)
        if not has_permission(Role(user.role), permission):
            raise ApiError(403, f"role {user.role} lacks the permission {permission.value}")
        return user

    return Depends(check)


@dataclass(frozen=True)
class RequestOrigin:
    """The caller's address (through trusted proxies only) and user agent, for logs and audit rows."""

    ip: str
    user_agent: str

    def actor(self, user: User) -> Actor:
        """The audit log's actor: this user, from this address and agent."""
        return Actor(user.id, self.ip, self.user_agent)


async def request_origin(request: Request, services: ServicesDep) -> RequestOrigin:
    peer = request.client.host if request.client else ""
    forwarded = request.headers.get("x-forwarded-for", "")
    ip = client_address(peer, forwarded, services.trusted_proxies)
    return RequestOrigin(ip=ip[:45], user_agent=request.headers.get("user-agent", "")[:1000])


OriginDep = Annotated[RequestOrigin, Depends(request_origin)]


def client_address(peer: str, forwarded_for: str, trusted: tuple[IpNetwork, ...]) -> str:
    """Walk X-Forwarded-For from the right while hops are trusted proxies; the first other is the client."""
    hops = [peer, *reversed([part.strip() for part in forwarded_for.split(",") if part.strip()])]
    for current, following in itertools.pairwise(hops):
        if not _is_trusted(current, trusted):
            return current
        if not _parses(following):
            return current
    return hops[-1]


def _is_trusted(address: str, trusted: tuple[IpNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def _parses(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def parse_networks(values: list[str]) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)
