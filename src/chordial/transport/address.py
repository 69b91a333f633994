"""Node addresses: ``host:port``, with IPv6 hosts in brackets (``[::1]:7000``)."""

from __future__ import annotations

import ipaddress
import re

_HOST = re.compile(r"[A-Za-z0-9_.-]+")
_PORT = re.compile(r"[0-9]{1,5}")


def _malformed(text: str, why: str) -> ValueError:
    return ValueError(f"malformed address {text!r}: {why}")


def parse_address(text: str) -> tuple[str, int]:
    """Split ``host:port`` into its host (brackets removed) and port.

    Raises ``ValueError`` with a one-line message when ``text`` is not a valid address.
    """
    if not isinstance(text, str):
        raise ValueError(f"malformed address {text!r}: expected HOST:PORT")
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or text[close + 1 : close + 2] != ":":
            raise _malformed(text, "expected [IPV6]:PORT")
        host, port_text = text[1:close], text[close + 2 :]
        try:
            if ipaddress.ip_address(host).version != 6:
                raise ValueError(host)
        except ValueError:
            raise _malformed(text, f"{host!r} in brackets is not an IPv6 address") from None
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon:
            raise _malformed(text, "expected HOST:PORT")
        if ":" in host:
            raise _malformed(text, "IPv6 hosts go in brackets, as in [::1]:PORT")
        if not host:
            raise _malformed(text, "empty host; expected HOST:PORT")
        if not _HOST.fullmatch(host):
            raise _malformed(text, f"invalid host {host!r}")
    if not _PORT.fullmatch(port_text):
        raise _malformed(text, "port must be a number 0-65535")
    port = int(port_text)
    if port > 65535:
        raise _malformed(text, "port must be a number 0-65535")
    return host, port


def format_address(host: str, port: int) -> str:
    """``host:port``, bracketing IPv6 hosts."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_address(text: str) -> str:
    """Validate ``text`` and return it in canonical form (``ValueError`` when malformed)."""
    return format_address(*parse_address(text))


__all__ = ["check_address", "format_address", "parse_address"]
