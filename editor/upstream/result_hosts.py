"""Where result images may be downloaded from.

A result URL comes from the service's answer, a task record or an unauthenticated callback,
so downloading it blindly would let whoever writes that URL make Retouch fetch from inside
its own network (cloud metadata at 169.254.169.254, admin pages on localhost). A result is
therefore downloaded only from

* the API's own host and port (from ``base_url``; any address, loopback included, since it is
  the service we already send our key to), or
* a host on the allow-list, whose every resolved address is public: none private, loopback,
  link-local, reserved, multicast or unspecified, IPv4 or IPv6 (IPv4 inside IPv6 included).

Allow-list entries are host names: ``cdn.example.com`` is that host only, ``.example.com``
is ``example.com`` and any subdomain of it (as in Django's ``ALLOWED_HOSTS``). There are no
ports, wildcards or addresses; an allowed name that resolves to a private address is still
refused.

DNS rebinding (a name that resolves to a public address when checked and a private one when
connected): downloads go through ``GuardedAdapter``, whose connections resolve the name
themselves, check every address and connect only to the checked ones, so no second lookup
happens between check and connect. Through an HTTP(S) proxy from the environment the proxy
resolves and connects; only the check before each request applies there, and the rebinding
gap stays open: point such a proxy's own rules at internal ranges.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

# The gateway's CDN (any subdomain of acedata.cloud) and where OpenAI leaves image URLs.
DEFAULT_RESULT_HOSTS: tuple[str, ...] = (
    ".acedata.cloud",
    "oaidalleapiprodscus.blob.core.windows.net",
)

_DEFAULT_PORTS = {"http": 80, "https": 443}

# A host name and port to the addresses it resolves to.
Resolver = Callable[[str, int], list[str]]


class RefusedResultHost(Exception):
    """A result URL Retouch does not download from. Not an ``OSError``, so that urllib3 and
    requests neither wrap nor retry it when a connection raises it."""

    def __init__(self, host: str, reason: str) -> None:
        self.host = host
        self.reason = reason
        super().__init__(f"{host}: {reason}")


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, as the connection would look it up."""
    infos = socket.getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refused_address(address: str) -> str | None:
    """Why a download must not connect to ``address`` (``"a loopback address"``), or None
    for a public one. IPv4 carried inside IPv6 (mapped, 6to4, Teredo) is checked as IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        candidates += [v4 for v4 in (ip.ipv4_mapped, ip.sixtofour) if v4 is not None]
        if ip.teredo is not None:
            candidates.append(ip.teredo[1])
    for candidate in candidates:
        for kind in ("loopback", "link_local", "unspecified", "multicast", "reserved", "private"):
            if getattr(candidate, f"is_{kind}"):
                return f"a {kind.replace('_', '-')} address"
        if not candidate.is_global:
            return "not a public address"
    return None


def normalize_host(host: str) -> str:
    return host.strip().lower().rstrip(".")


def host_matches(host: str, allowed: Iterable[str]) -> bool:
    """Whether ``host`` is on the allow-list: an exact name, or ``.domain`` for the domain
    and every subdomain of it."""
    host = normalize_host(host)
    for entry in allowed:
        entry = entry.strip().lower()
        if entry.startswith("."):
            domain = entry[1:].rstrip(".")
            if domain and (host == domain or host.endswith("." + domain)):
                return True
        elif entry and host == entry.rstrip("."):
            return True
    return False


class ResultHosts:
    """The download rule for one client: the API's own host and port, plus ``allowed``
    (``DEFAULT_RESULT_HOSTS`` when None)."""

    def __init__(
        self,
        api_url: str | None,
        allowed: Iterable[str] | None = None,
        *,
        resolver: Resolver = resolve,
    ) -> None:
        self.api = _host_and_port(api_url) if api_url else None
        entries = DEFAULT_RESULT_HOSTS if allowed is None else allowed
        self.allowed = tuple(e.strip().lower() for e in entries if e and e.strip())
        self._resolve = resolver

    def __repr__(self) -> str:
        return f"ResultHosts(api={self.api!r}, allowed={self.allowed!r})"

    def is_api(self, host: str, port: int) -> bool:
        return self.api == (normalize_host(host), port)

    def check(self, url: str) -> None:
        """Raise ``RefusedResultHost`` unless ``url`` may be downloaded (``OSError`` when
        its host cannot be resolved now). Connects to nothing."""
        host, port = _host_and_port(url)
        if not self.is_api(host, port):
            self.addresses(host, port)

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses a download from a host other than the API's may connect to: all of
        them, once each is checked; any bad one refuses the host."""
        if not host_matches(host, self.allowed):
            raise RefusedResultHost(host, "not the API's host nor an allowed result host")
        addresses = self._resolve(host, port)
        if not addresses:
            raise RefusedResultHost(host, "it resolves to no address")
        for address in addresses:
            reason = refused_address(address)
            if reason is not None:
                # The address itself stays out: it is internal knowledge, not the user's.
                verb = "is" if address == host else "resolves to"
                raise RefusedResultHost(host, f"it {verb} {reason}")
        return addresses


def _host_and_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS:
        raise RefusedResultHost(url[:80], "only http and https URLs are downloaded")
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise RefusedResultHost(parts.netloc[:80], "the URL's port is not valid") from None
    if not parts.hostname:
        raise RefusedResultHost("?", "the URL names no host")
    return normalize_host(parts.hostname), port


class _GuardedConnection:
    """Mixed into urllib3's connections: resolve, check, then connect to a checked address,
    never to whatever a second lookup would return."""

    result_hosts: ResultHosts

    def _new_conn(self) -> socket.socket:
        name = self._dns_host
        if self.result_hosts.is_api(name, self.port):
            return super()._new_conn()
        last: Exception | None = None
        for address in self.result_hosts.addresses(name, self.port):
            # urllib3 connects to ``_dns_host``; TLS still verifies the certificate for the
            # name, since ``host`` is back to it before the handshake.
            self._dns_host = address
            try:
                return super()._new_conn()
            except (NewConnectionError, ConnectTimeoutError) as exc:
                last = exc
            finally:
                self._dns_host = name
        assert last is not None  # addresses() returns at least one
        raise last


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose every connection follows ``result_hosts``. Redirects are
    the caller's to follow (one checked hop at a time)."""

    def __init__(self, result_hosts: ResultHosts) -> None:
        extra = {"result_hosts": result_hosts}
        http = type("GuardedHTTPConnection", (_GuardedConnection, HTTPConnection), extra)
        https = type("GuardedHTTPSConnection", (_GuardedConnection, HTTPSConnection), extra)
        self._pool_classes = {
            "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
        }
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes
