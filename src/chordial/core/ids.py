"""Identifier space of the ring: hashing and interval arithmetic (Chord §4.2, Zave §2).

All ids live in ``[0, 2**bits)``. Intervals are taken clockwise and wrap at ``2**bits``.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

DEFAULT_ID_BITS = 160


def ring_size(bits: int) -> int:
    """Number of distinct ids on a ring of ``bits``-bit identifiers."""
    return 1 << bits


def hash_id(data: bytes, bits: int = DEFAULT_ID_BITS) -> int:
    """SHA-1 of ``data`` reduced to ``bits`` bits (Chord §4.2: consistent hashing with SHA-1).

    For ``bits`` ≤ 160 the top ``bits`` bits of the digest are kept, so ids on a small ring are
    a prefix of the ids on the full ring; for larger rings the digest is extended with SHA-256.
    """
    digest = hashlib.sha1(data).digest()
    if bits > 160:
        digest += hashlib.sha256(data).digest()
    value = int.from_bytes(digest, "big")
    return value >> (len(digest) * 8 - bits)


@lru_cache(maxsize=1 << 14)
def key_id(key: str, bits: int = DEFAULT_ID_BITS) -> int:
    """Identifier of a key: the hash of its UTF-8 bytes.

    Remembered for the last 16,384 keys: a key is hashed by its client, its owner and often
    again by the same process (a client beside its ring), and a hit costs a fifth of SHA-1."""
    return hash_id(key.encode("utf-8"), bits)


def node_id_for(address: str, bits: int = DEFAULT_ID_BITS) -> int:
    """Default identifier of a node: the hash of ``host:port``."""
    return hash_id(address.encode("utf-8"), bits)


def between(a: int, b: int, c: int) -> bool:
    """True when ``b`` lies strictly inside the clockwise interval (a, c).

    When ``a == c`` the interval is the whole ring but ``a`` (Zave's convention), so it holds for
    every ``b != a``.
    """
    if a < c:
        return a < b < c
    if a > c:
        return b > a or b < c
    return b != a


def between_right_incl(a: int, b: int, c: int) -> bool:
    """True when ``b`` lies in the clockwise interval (a, c]; with ``a == c`` it is the whole ring."""
    return b == c or between(a, b, c)


def distance(a: int, b: int, bits: int) -> int:
    """Clockwise distance from ``a`` to ``b``."""
    return (b - a) % (1 << bits)


def finger_start(node_id: int, index: int, bits: int) -> int:
    """Start of finger ``index`` (0-based): ``(n + 2**index) mod 2**bits`` (Chord §4.3, Table 1)."""
    return (node_id + (1 << index)) % (1 << bits)


def format_id(value: int, bits: int) -> str:
    """Short human form of an id: decimal on small rings, the leading hex digits on large ones."""
    if bits <= 32:
        return str(value)
    width = (bits + 3) // 4
    return f"{value:0{width}x}"[:12]
