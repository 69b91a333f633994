"""Ring arithmetic (Chord §4.2; Zave's ``between``), checked exhaustively on a small ring."""

from __future__ import annotations

import hashlib

import pytest

from chordial.core.ids import between, between_right_incl, distance, finger_start, format_id, hash_id, key_id

BITS = 4
SIZE = 1 << BITS


def walk_open(a: int, c: int) -> set[int]:
    """The ids strictly after a and before c, found by stepping clockwise (the definition)."""
    out: set[int] = set()
    x = (a + 1) % SIZE
    while x != c:
        out.add(x)
        x = (x + 1) % SIZE
    return out


def test_between_matches_a_clockwise_walk_for_every_triple() -> None:
    for a in range(SIZE):
        for c in range(SIZE):
            inside = walk_open(a, c) if a != c else set(range(SIZE)) - {a}
            for b in range(SIZE):
                assert between(a, b, c) == (b in inside), (a, b, c)
                assert between_right_incl(a, b, c) == (b in inside or b == c), (a, b, c)


def test_between_wraps_at_zero() -> None:
    assert between(14, 0, 2)
    assert between(14, 15, 2)
    assert not between(14, 2, 2)
    assert not between(14, 14, 2)


def test_hash_is_sha1_truncated_to_the_id_size() -> None:
    digest = int.from_bytes(hashlib.sha1(b"apple").digest(), "big")
    assert hash_id(b"apple", 160) == digest
    assert hash_id(b"apple", 16) == digest >> 144
    assert key_id("apple", 8) == digest >> 152


@pytest.mark.parametrize("bits", [1, 8, 160, 200, 256])
def test_hash_fits_the_ring(bits: int) -> None:
    for word in ("a", "b", "chord", "x" * 100):
        assert 0 <= hash_id(word.encode(), bits) < 1 << bits


def test_finger_starts_follow_table_1_of_the_paper() -> None:
    # Chord §4.3, Fig. 3(a): node 1 on a 3-bit ring has finger starts 2, 3, 5.
    assert [finger_start(1, k, 3) for k in range(3)] == [2, 3, 5]
    assert finger_start(7, 2, 3) == 3


def test_distance_and_format() -> None:
    assert distance(14, 2, 4) == 4
    assert distance(2, 14, 4) == 12
    assert format_id(42, 8) == "42"
    assert format_id(0xABCDEF << 136, 160).startswith("abcdef")
