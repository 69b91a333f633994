"""Node addresses: ``host:port`` with IPv6 hosts in brackets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chordial.transport.address import check_address, format_address, parse_address


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("127.0.0.1:0", "127.0.0.1", 0),
        ("localhost:65535", "localhost", 65535),
        ("node-1.example.org:7000", "node-1.example.org", 7000),
        ("0.0.0.0:80", "0.0.0.0", 80),
        ("[::1]:7000", "::1", 7000),
        ("[::]:1", "::", 1),
        ("[fe80::1%eth0]:9", "fe80::1%eth0", 9),
    ],
)
def test_valid_addresses(text: str, host: str, port: int) -> None:
    assert parse_address(text) == (host, port)
    assert check_address(text) == text


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("foo", "expected HOST:PORT"),
        ("", "expected HOST:PORT"),
        (":80", "empty host"),
        ("host:", "port must be"),
        ("host:-1", "port must be"),
        ("host:+1", "port must be"),
        ("host:65536", "port must be"),
        ("host:123456", "port must be"),
        ("host:http", "port must be"),
        ("host: 80", "port must be"),
        ("host :80", "invalid host"),
        ("ho/st:80", "invalid host"),
        ("::1:80", "IPv6 hosts go in brackets"),
        ("a:b:80", "IPv6 hosts go in brackets"),
        ("[::1]80", r"expected \[IPV6\]:PORT"),
        ("[::1:80", r"expected \[IPV6\]:PORT"),
        ("[]:80", "not an IPv6 address"),
        ("[127.0.0.1]:80", "not an IPv6 address"),
        ("[nonsense]:80", "not an IPv6 address"),
        ("host:80\nx", "port must be"),
    ],
)
def test_malformed_addresses(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as failure:
        parse_address(text)
    message = str(failure.value)
    assert message.startswith(f"malformed address {text!r}: ")
    assert "\n" not in message
    with pytest.raises(ValueError, match="malformed address"):
        check_address(text)


def test_message_for_a_bare_name() -> None:
    with pytest.raises(ValueError) as failure:
        parse_address("foo")
    assert str(failure.value) == "malformed address 'foo': expected HOST:PORT"


def test_leading_zeros_in_the_port_are_normalised() -> None:
    assert check_address("h:0080") == "h:80"


hosts = st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True) | st.ip_addresses().map(str)


@given(hosts, st.integers(0, 65535))
def test_format_then_parse(host: str, port: int) -> None:
    text = format_address(host, port)
    assert parse_address(text) == (host, port)
    assert check_address(text) == text
