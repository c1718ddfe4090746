"""The SSRF guard: every refused address class, IPv4 and IPv6, literal and via DNS,
at configuration and at connect time; allow-listed targets reach a real server."""

from __future__ import annotations

import ipaddress
import ssl

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartback.webhooks import (
    Delivered,
    Delivery,
    EndpointConfigError,
    GuardedTransport,
    RetryLater,
    TargetPolicy,
    TargetRefusedError,
    WebhookDeliverer,
    classify_address,
    parse_endpoint,
    refused_class,
)
from tests.conftest import FakeClock
from tests.webhooks.support import SECRET, RecordingServer, Reply, endpoint, table_resolver

REFUSED = [
    # IPv4
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("169.254.1.1", "link_local"),
    ("169.254.169.254", "metadata"),
    ("100.100.100.200", "metadata"),
    ("100.64.0.1", "cgnat"),
    ("100.127.255.254", "cgnat"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.1", "reserved"),
    ("198.18.0.1", "reserved"),
    # IPv6
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fec0::1", "private"),
    ("fe80::1", "link_local"),
    ("fd00:ec2::254", "metadata"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "reserved"),
    ("100::1", "reserved"),
    # IPv6 forms carrying an IPv4 address
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "metadata"),
    ("::ffff:100.64.0.1", "cgnat"),
    ("::127.0.0.1", "loopback"),
    ("64:ff9b::7f00:1", "loopback"),
    ("2002:a00:1::1", "private"),
]

PUBLIC = ["93.184.215.14", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111"]
PUBLIC += ["::ffff:8.8.8.8", "64:ff9b::808:808"]

TLS = ssl.create_default_context()
"""One trust store for the transports built here (loading one takes a while)."""

NON_STANDARD_LOOPBACK = ["127.1", "0x7f.0.0.1", "2130706433", "0177.0.0.1"]


def literal_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_each_refused_class_is_recognised(address: str, kind: str) -> None:
    assert classify_address(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_not_refused(address: str) -> None:
    assert classify_address(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_a_literal_refused_address_cannot_be_configured(address: str, kind: str) -> None:
    with pytest.raises(EndpointConfigError) as caught:
        parse_endpoint(
            {
                "id": "crm",
                "url": f"https://{literal_host(address)}/hook",
                "secrets": [SECRET],
                "event_types": ["cart.captured"],
            }
        )
    assert (caught.value.setting, caught.value.reason) == ("url", "refused_address")


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_a_literal_refused_address_is_refused_at_connect_time(address: str, kind: str) -> None:
    # The configuration check is bypassed: the transport refuses on its own.
    with (
        httpx.Client(transport=GuardedTransport(TargetPolicy(), ssl_context=TLS)) as client,
        pytest.raises(TargetRefusedError) as caught,
    ):
        client.post(f"https://{literal_host(address)}:8443/hook", content=b"{}")
    assert caught.value.address_class == kind


@pytest.mark.parametrize("host", NON_STANDARD_LOOPBACK)
def test_non_standard_ipv4_spellings_are_refused_when_configured(host: str) -> None:
    with pytest.raises(EndpointConfigError) as caught:
        endpoint(f"https://{host}/hook", allowed_networks=[])
    assert caught.value.reason == "ambiguous_ip_literal"


@pytest.mark.parametrize("host", ["127.1", "0x7f.0.0.1", "2130706433"])
def test_non_standard_ipv4_spellings_are_judged_as_the_address_they_name(
    host: str, server: RecordingServer
) -> None:
    calls: list[str] = []
    transport = GuardedTransport(
        TargetPolicy(), resolver=table_resolver({}, calls), ssl_context=TLS
    )
    with httpx.Client(transport=transport) as client, pytest.raises(TargetRefusedError) as caught:
        client.post(f"http://{host}:{server.port}/hook", content=b"{}")
    assert caught.value.address_class == "loopback"
    assert calls == []
    assert server.requests == []


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_a_name_resolving_to_a_refused_address_is_not_connected(
    address: str, kind: str, server: RecordingServer, real_now_clock: FakeClock
) -> None:
    resolver = table_resolver({"hooks.example.com": [address]})
    target = endpoint(f"https://hooks.example.com:{server.port}/hook", allowed_networks=[])
    with WebhookDeliverer(clock=real_now_clock, resolver=resolver) as deliverer:
        result = deliverer.deliver(target, Delivery("evt_1", b"{}"))
    assert isinstance(result, RetryLater)
    assert (result.error, result.status) == ("address_refused", None)
    assert server.requests == []


def test_every_resolved_address_is_checked_not_only_the_first(
    server: RecordingServer, real_now_clock: FakeClock
) -> None:
    resolver = table_resolver({"hooks.example.com": ["93.184.215.14", "127.0.0.1"]})
    target = endpoint(f"https://hooks.example.com:{server.port}/hook", allowed_networks=[])
    with WebhookDeliverer(clock=real_now_clock, resolver=resolver) as deliverer:
        result = deliverer.deliver(target, Delivery("evt_1", b"{}"))
    assert isinstance(result, RetryLater)
    assert result.error == "address_refused"


def test_a_name_that_does_not_resolve_is_a_dns_error(real_now_clock: FakeClock) -> None:
    target = endpoint("https://nowhere.example.com/hook", allowed_networks=[])
    with WebhookDeliverer(clock=real_now_clock, resolver=table_resolver({})) as deliverer:
        result = deliverer.deliver(target, Delivery("evt_1", b"{}"))
    assert isinstance(result, RetryLater)
    assert result.error == "dns_error"


def test_an_allow_listed_host_reaches_its_private_address_through_the_resolved_address(
    server: RecordingServer, real_now_clock: FakeClock
) -> None:
    calls: list[str] = []
    resolver = table_resolver({"crm.lan": ["127.0.0.1"]}, calls)
    target = endpoint(server.url(host="crm.lan"), allowed_networks=[], allowed_hosts=["crm.lan"])
    with WebhookDeliverer(clock=real_now_clock, resolver=resolver) as deliverer:
        result = deliverer.deliver(target, Delivery("evt_1", b"{}"))
    assert isinstance(result, Delivered)
    # The system resolver knows no crm.lan: the connection went to the checked address.
    assert calls == ["crm.lan"]
    [request] = server.to("/hook")
    assert request.headers["host"] == f"crm.lan:{server.port}"


def test_an_allow_listed_host_does_not_open_the_metadata_address(
    real_now_clock: FakeClock,
) -> None:
    resolver = table_resolver({"crm.lan": ["169.254.169.254"]})
    target = endpoint("http://crm.lan/hook", allowed_networks=[], allowed_hosts=["crm.lan"])
    with WebhookDeliverer(clock=real_now_clock, resolver=resolver) as deliverer:
        result = deliverer.deliver(target, Delivery("evt_1", b"{}"))
    assert isinstance(result, RetryLater)
    assert result.error == "address_refused"


def test_an_allow_listed_network_reaches_a_loopback_server(
    server: RecordingServer, real_now_clock: FakeClock
) -> None:
    target = endpoint(server.url(), allowed_networks=["127.0.0.0/8"])
    with WebhookDeliverer(clock=real_now_clock) as deliverer:
        result = deliverer.deliver(target, Delivery("evt_1", b"{}"))
    assert isinstance(result, Delivered)


def test_an_allow_listed_ipv6_network_reaches_an_ipv6_loopback_server(
    real_now_clock: FakeClock,
) -> None:
    with RecordingServer("::1") as ipv6_server:
        target = endpoint(ipv6_server.url(), allowed_networks=["::1/128"])
        with WebhookDeliverer(clock=real_now_clock) as deliverer:
            result = deliverer.deliver(target, Delivery("evt_1", b"{}"))
        assert isinstance(result, Delivered)
        assert len(ipv6_server.to("/hook")) == 1


def test_dns_rebinding_is_caught_on_the_next_connection(
    server: RecordingServer, real_now_clock: FakeClock
) -> None:
    # The name first resolves to the allow-listed LAN address, then to the metadata
    # address: the second connection is checked anew and refused.
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        calls.append(host)
        return [ipaddress.ip_address(address) for address in next(answers)]

    server.answer("/hook", Reply(204, {"connection": "close"}))
    target = endpoint(server.url(host="crm.lan"), allowed_networks=[], allowed_hosts=["crm.lan"])
    with WebhookDeliverer(clock=real_now_clock, resolver=rebinding) as deliverer:
        first = deliverer.deliver(target, Delivery("evt_1", b"{}"))
        second = deliverer.deliver(target, Delivery("evt_2", b"{}"))
    assert isinstance(first, Delivered)
    assert isinstance(second, RetryLater)
    assert second.error == "address_refused"
    assert calls == ["crm.lan", "crm.lan"]
    assert len(server.to("/hook")) == 1


ipv4_addresses = st.integers(min_value=0, max_value=2**32 - 1).map(ipaddress.IPv4Address)


@given(ipv4_addresses)
def test_an_ipv4_address_and_its_mapped_ipv6_form_are_judged_alike(
    address: ipaddress.IPv4Address,
) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    assert classify_address(mapped) == classify_address(address)
    assert refused_class(mapped) == refused_class(address)


@given(st.integers(min_value=0, max_value=2**24 - 1))
def test_an_allow_listed_network_opens_exactly_its_own_addresses(offset: int) -> None:
    address = ipaddress.IPv4Address(int(ipaddress.IPv4Address("10.0.0.0")) + offset)
    allowed = [ipaddress.ip_network("10.1.2.0/24")]
    expected = None if address in allowed[0] else "private"
    assert refused_class(address, allowed_networks=allowed) == expected
