"""Webhook URLs: checked when an export or schedule names them, and their targets checked again at send
time (a name may resolve elsewhere by then: DNS rebinding).

A URL is http or https, has a host, carries no credentials (user:password@) and no fragment, and is at
most MAX_URL_CHARS long; at most MAX_WEBHOOK_URLS distinct URLs. Unless the settings allow private
targets, a URL whose host is (or resolves to) a loopback, private, link-local, multicast, reserved or
unspecified address is refused. Query strings are allowed (receivers put tokens there) but never shown
in logs: `display_url` drops them.
"""

import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import SplitResult, urlsplit, urlunsplit

from flows.errors import InvalidInputError

MAX_WEBHOOK_URLS = 5
MAX_URL_CHARS = 2000
FIELD = "webhook_urls"

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class PrivateTarget(Exception):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


def normalized_webhook_urls(values: Sequence[str]) -> list[str]:
    """Distinct, well-formed webhook URLs; a bad one is an InvalidInputError naming `webhook_urls[i]`."""
    distinct: dict[str, None] = {}
    for index, value in enumerate(values):
        distinct[_well_formed(value, f"{FIELD}[{index}]")] = None
    if len(distinct) > MAX_WEBHOOK_URLS:
        raise InvalidInputError(FIELD, f"at most {MAX_WEBHOOK_URLS} distinct webhook URLs")
    return list(distinct)


def check_public_targets(urls: Sequence[str], *, allow_private: bool) -> None:
    """Refuse (InvalidInputError naming `webhook_urls[i]`) a URL whose host is or resolves to a private
    address. A name that does not resolve now passes: sending checks again and records the failure."""
    if allow_private:
        return
    for index, url in enumerate(urls):
        try:
            public_addresses(url, resolve_failures_ok=True)
        except PrivateTarget as refused:
            raise InvalidInputError(f"{FIELD}[{index}]", str(refused)) from None


def public_addresses(url: str, *, resolve_failures_ok: bool = False) -> list[IpAddress]:
    """The addresses the URL's host resolves to, all of them public; PrivateTarget if any is not.
    A name that does not resolve: OSError, or no addresses with `resolve_failures_ok`."""
    host = urlsplit(url).hostname or ""
    try:
        addresses = addresses_of(url)
    except OSError:
        if resolve_failures_ok:
            return []
        raise
    for address in addresses:
        if not is_public(address):
            raise PrivateTarget(
                f"{host} is a {_kind(address)} address ({address}); webhooks may not target it"
            )
    return addresses


def addresses_of(url: str) -> list[IpAddress]:
    """What the URL's host resolves to, for its port (or its scheme's), unchecked."""
    parts = urlsplit(url)
    return resolve(parts.hostname or "", parts.port or _default_port(parts))


def resolve(host: str, port: int) -> list[IpAddress]:
    """The host's addresses: the literal itself, or what the resolver answers (in its order)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    found: dict[IpAddress, None] = {}
    for _family, _type, _proto, _name, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        found[ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])] = None
    return list(found)


def is_public(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def display_url(url: str) -> str:
    """The URL without its query string, fragment or credentials: what logs and the API show."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _well_formed(value: str, field: str) -> str:
    url = value.strip()
    if len(url) > MAX_URL_CHARS:
        raise InvalidInputError(field, f"at most {MAX_URL_CHARS} characters")
    if any(ord(character) <= 32 or ord(character) == 127 for character in url):
        raise InvalidInputError(field, "must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as error:
        raise InvalidInputError(field, f"not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInputError(field, "must be an http or https URL")
    if not parts.hostname:
        raise InvalidInputError(field, "must name a host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidInputError(field, "must not carry credentials (user:password@); use a query token")
    if parts.fragment:
        raise InvalidInputError(field, "must not have a #fragment")
    return urlunsplit(SplitResult(parts.scheme, parts.netloc.lower(), parts.path or "/", parts.query, ""))


def _literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _default_port(parts: SplitResult) -> int:
    return 443 if parts.scheme == "https" else 80


def _kind(address: IpAddress) -> str:
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_private:
        return "private"
    return "non-public"
