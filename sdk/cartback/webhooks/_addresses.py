"""Which IP addresses a webhook may connect to: the SSRF rules, as pure functions.

An address is *public* (``classify_address`` returns ``None``) or belongs to a refused
class. IPv6 forms that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``,
IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged
by the IPv4 address inside, so ``::ffff:127.0.0.1`` is loopback. IPv6 outside global
unicast (``2000::/3``) is refused as ``reserved``. The tables are written out here
rather than read from ``ipaddress``'s ``is_private`` and friends, whose ranges change
between Python versions.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Final, Literal

__all__ = [
    "AddressClass",
    "IPAddress",
    "IPNetwork",
    "classify_address",
    "parse_ip_literal",
    "refused_class",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
"""An IPv4 or IPv6 address."""

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
"""An IPv4 or IPv6 network."""

AddressClass = Literal[
    "loopback",
    "private",
    "link_local",
    "metadata",
    "cgnat",
    "multicast",
    "unspecified",
    "broadcast",
    "reserved",
]
"""Why an address is refused: ``loopback`` (127.0.0.0/8, ::1); ``private`` (RFC 1918,
IPv6 unique-local fc00::/7 and site-local fec0::/10, local-use NAT64); ``link_local``
(169.254.0.0/16, fe80::/10); ``metadata`` (cloud instance metadata: 169.254.169.254,
fd00:ec2::254, 100.100.100.200, 168.63.129.16); ``cgnat`` (100.64.0.0/10);
``multicast``; ``unspecified`` (0.0.0.0/8, ::); ``broadcast`` (255.255.255.255);
``reserved`` (documentation, benchmarking, protocol assignments, 240.0.0.0/4, Teredo,
and IPv6 outside 2000::/3)."""

_NEVER: Final[frozenset[AddressClass]] = frozenset({"unspecified", "multicast", "broadcast"})
"""Classes no allow-list opens: nothing listens there for a webhook."""

_NOT_BY_HOST: Final[frozenset[AddressClass]] = _NEVER | {"metadata"}
"""Classes an allow-listed host name does not open; only an allow-listed network does."""


def _table(
    rows: Iterable[tuple[str, AddressClass]],
) -> tuple[tuple[IPNetwork, AddressClass], ...]:
    return tuple((ipaddress.ip_network(network), kind) for network, kind in rows)


# First match wins: the single metadata addresses come before the ranges holding them.
_IPV4: Final = _table(
    [
        ("169.254.169.254/32", "metadata"),
        ("100.100.100.200/32", "metadata"),
        ("168.63.129.16/32", "metadata"),
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link_local"),
        ("100.64.0.0/10", "cgnat"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "reserved"),
        ("192.88.99.0/24", "reserved"),
        ("198.18.0.0/15", "reserved"),
        ("198.51.100.0/24", "reserved"),
        ("203.0.113.0/24", "reserved"),
    ]
)

_IPV6: Final = _table(
    [
        ("fd00:ec2::254/128", "metadata"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "private"),
        ("fc00::/7", "private"),
        ("fec0::/10", "private"),
        ("fe80::/10", "link_local"),
        ("ff00::/8", "multicast"),
        ("2001::/32", "reserved"),
        ("2001:2::/48", "reserved"),
        ("2001:10::/28", "reserved"),
        ("2001:20::/28", "reserved"),
        ("2001:db8::/32", "reserved"),
        ("3fff::/20", "reserved"),
    ]
)

_GLOBAL_UNICAST: Final = ipaddress.ip_network("2000::/3")
_IPV4_COMPATIBLE: Final = ipaddress.ip_network("::/96")
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries, if it is one of the forms that do."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def classify_address(address: IPAddress) -> AddressClass | None:
    """The refused class of ``address``, or ``None`` when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return classify_address(inner)
        plain = ipaddress.IPv6Address(int(address))  # drop any %scope
        for network, kind in _IPV6:
            if plain in network:
                return kind
        return None if plain in _GLOBAL_UNICAST else "reserved"
    for network, kind in _IPV4:
        if address in network:
            return kind
    return None


def _forms(address: IPAddress) -> tuple[IPAddress, ...]:
    """The address, and the IPv4 address inside it when it carries one."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        plain = ipaddress.IPv6Address(int(address))
        return (plain,) if inner is None else (plain, inner)
    return (address,)


def refused_class(
    address: IPAddress,
    *,
    host: str | None = None,
    allowed_networks: Iterable[IPNetwork] = (),
    allowed_hosts: Iterable[str] = (),
) -> AddressClass | None:
    """Why a connection to ``address`` (resolved from ``host``) must not be made, or
    ``None`` when it may.

    A public address may always be reached. An address of a refused class may be
    reached when it lies in one of ``allowed_networks``, or when ``host`` is one of
    ``allowed_hosts`` and the class is not ``metadata`` (a host name allow-listed for a
    LAN service does not open the cloud metadata address, should its DNS be changed).
    ``unspecified``, ``multicast`` and ``broadcast`` are never reachable.
    """
    kind = classify_address(address)
    if kind is None or kind in _NEVER:
        return kind
    forms = _forms(address)
    if any(form in network for network in allowed_networks for form in forms):
        return None
    if host is not None and kind not in _NOT_BY_HOST and host.lower() in allowed_hosts:
        return None
    return kind


_NUMERIC_HOST: Final = frozenset("0123456789abcdefABCDEFxX.")


def parse_ip_literal(host: str) -> tuple[IPAddress, bool] | None:
    """The address a URL host names literally, or ``None`` for a host name.

    Returns ``(address, canonical)``: ``canonical`` is False for the IPv4 spellings
    that resolvers accept but ``ipaddress`` does not (``127.1``, ``0x7f.0.0.1``,
    ``0177.0.0.1``, ``2130706433``); they name an address all the same, and are
    judged as that address. Brackets around an IPv6 literal are optional.
    """
    text = host.removeprefix("[").removesuffix("]") if host.startswith("[") else host
    try:
        return ipaddress.ip_address(text), True
    except ValueError:
        pass
    if text and set(text) <= _NUMERIC_HOST and any(char.isdigit() for char in text):
        try:
            packed = socket.inet_aton(text)
        except OSError:
            return None
        return ipaddress.IPv4Address(packed), False
    return None
