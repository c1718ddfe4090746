"""The SSRF guard at connect time: an httpx transport that resolves, checks, then
connects to the very address it checked.

Checking a URL when an endpoint is configured is not enough: its name may resolve to a
public address then, and to ``127.0.0.1`` or ``169.254.169.254`` a minute later (DNS
rebinding). ``GuardedTransport`` runs httpcore's connection pool on a network backend
that, for every new connection, resolves the host itself (through an injectable
resolver), refuses the connection if *any* resolved address is of a refused class and
not allow-listed, and then opens the TCP connection to the checked address literally,
so nothing resolves the name a second time. TLS still verifies the certificate and
sends SNI for the host name of the URL, not for the address. The transport never uses
a proxy (a proxy would make the connection, and the guard would only see the proxy).

The guard raises ``TargetRefusedError`` or ``TargetUnresolvedError``; both pass through
httpx unchanged. Name resolution is the system's ``getaddrinfo`` (its own timeouts
apply, not ``connect_timeout``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final

import httpcore
import httpx

from cartback.webhooks._addresses import IPAddress, IPNetwork, parse_ip_literal, refused_class
from cartback.webhooks._endpoint import WebhookEndpoint
from cartback.webhooks._errors import TargetRefusedError, TargetUnresolvedError

__all__ = [
    "GuardedBackend",
    "GuardedTransport",
    "Resolver",
    "TargetPolicy",
    "system_resolver",
]

Resolver = Callable[[str, int], Sequence[IPAddress]]
"""Resolves a host name and port to addresses, in the order to try them; raises
``TargetUnresolvedError`` (or ``OSError``) when the name does not resolve. Tests pass
a table instead of the real DNS."""

_MAX_ADDRESSES: Final = 4
"""Addresses tried in turn when a connection to the first one fails."""


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The system resolver (``getaddrinfo``), each address once, in its order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise TargetUnresolvedError("the webhook target's host name did not resolve") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]))
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """What the guard lets through beyond public addresses."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    """Networks that may be reached whatever their class (not unspecified, multicast
    or broadcast)."""
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)
    """Lower-case host names whose private addresses may be reached (not metadata)."""

    @classmethod
    def for_endpoint(cls, endpoint: WebhookEndpoint) -> TargetPolicy:
        """The allow-list of one endpoint."""
        return cls(endpoint.allowed_networks, frozenset(endpoint.allowed_hosts))

    def check(self, host: str, port: int, resolver: Resolver) -> list[IPAddress]:
        """The addresses a connection to ``host`` may use, in order; raises
        ``TargetRefusedError`` if any address ``host`` stands for is refused, and
        ``TargetUnresolvedError`` if it stands for none."""
        literal = parse_ip_literal(host)
        if literal is not None:
            addresses: list[IPAddress] = [literal[0]]
            name = None
        else:
            name = host.rstrip(".").lower()
            try:
                addresses = list(resolver(host, port))
            except TargetUnresolvedError:
                raise
            except (OSError, UnicodeError):
                raise TargetUnresolvedError(
                    "the webhook target's host name did not resolve"
                ) from None
        if not addresses:
            raise TargetUnresolvedError("the webhook target's host name resolved to nothing")
        for address in addresses:
            refused = refused_class(
                address,
                host=name,
                allowed_networks=self.allowed_networks,
                allowed_hosts=self.allowed_hosts,
            )
            if refused is not None:
                raise TargetRefusedError(
                    f"the webhook target resolves to a refused address ({refused})",
                    address_class=refused,
                )
        return addresses


class GuardedBackend(httpcore.NetworkBackend):
    """An httpcore network backend that checks every address before connecting."""

    def __init__(
        self,
        policy: TargetPolicy,
        *,
        resolver: Resolver = system_resolver,
        inner: httpcore.NetworkBackend | None = None,
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = inner if inner is not None else httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Resolve, check every address, then connect to the first that answers."""
        addresses = self._policy.check(host, port, self._resolver)
        failure: Exception | None = None
        for address in addresses[:_MAX_ADDRESSES]:
            try:
                return self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Never: a webhook target is a network address."""
        raise TargetRefusedError("a unix socket is not a webhook target", address_class="reserved")

    def sleep(self, seconds: float) -> None:
        """The inner backend's sleep (used between httpcore's connection retries)."""
        self._inner.sleep(seconds)


_MAPPED: Final[tuple[tuple[type[Exception], type[httpx.TransportError]], ...]] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.ProxyError, httpx.ProxyError),
)


_CORE_ERRORS: Final = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ProxyError,
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    """httpcore's exceptions as the httpx ones callers of an httpx client expect."""
    try:
        yield
    except _CORE_ERRORS as exc:
        raise _translate(exc) from exc


def _translate(exc: Exception) -> httpx.TransportError:
    for source, target in _MAPPED:
        if isinstance(exc, source):
            return target(str(exc))
    return httpx.TransportError(str(exc))  # pragma: no cover - every httpcore error maps


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport whose every new connection passes the SSRF guard."""

    def __init__(
        self,
        policy: TargetPolicy,
        *,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 10,
        keepalive_expiry: float = 30.0,
        network_backend: httpcore.NetworkBackend | None = None,
    ) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context if ssl_context is not None else httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
            network_backend=GuardedBackend(policy, resolver=resolver, inner=network_backend),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request over a checked connection."""
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = self._pool.handle_request(core_request)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.close()
