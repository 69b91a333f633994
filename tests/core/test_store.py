"""The ordered, versioned store (Chord §4.2 key placement; tombstones for deletes)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chordial.core.ids import between_right_incl, key_id
from chordial.core.messages import Entry
from chordial.core.store import KeyStore

BITS = 8


def filled(keys: list[str]) -> KeyStore:
    store = KeyStore(BITS)
    for k in keys:
        store.put(key_id(k, BITS), k, k.encode())
    return store


def test_versions_grow_and_deletes_leave_tombstones() -> None:
    store = KeyStore(BITS)
    kid = key_id("a", BITS)
    assert store.put(kid, "a", b"1").version == 1
    assert store.put(kid, "a", b"2").version == 2
    tomb, existed = store.delete(kid, "a")
    assert existed and tomb is not None and tomb.deleted and tomb.version == 3
    assert len(store) == 0
    assert store.delete(kid, "a") == (tomb, False)
    assert store.put(kid, "a", b"3").version == 4
    assert len(store) == 1


def test_merge_keeps_the_higher_version() -> None:
    store = KeyStore(BITS)
    kid = key_id("a", BITS)
    store.put(kid, "a", b"new")
    store.put(kid, "a", b"newer")
    assert store.merge([Entry("a", kid, b"old", 1)]) == 0
    assert store.merge([Entry("a", kid, b"gone", 5, deleted=True)]) == 1
    entry = store.get(kid, "a")
    assert entry is not None and entry.deleted and len(store) == 0


def test_keys_sharing_an_id_are_kept_apart() -> None:
    store = KeyStore(1)
    for k in ("a", "b", "c", "d", "e"):
        store.put(key_id(k, 1), k, k.encode())
    assert len(store) == 5


@given(st.lists(st.text(min_size=1, max_size=6), unique=True, max_size=40), st.integers(0, 255), st.integers(0, 255))
def test_pop_range_takes_exactly_the_interval(keys: list[str], lo: int, hi: int) -> None:
    store = filled(keys)
    popped = store.pop_range(lo, hi)
    assert all(between_right_incl(lo, e.key_id, hi) for e in popped)
    assert not any(between_right_incl(lo, e.key_id, hi) for e in store)
    assert len(popped) + len(store) == len(keys)


@given(st.lists(st.text(min_size=1, max_size=6), unique=True, max_size=40), st.integers(0, 255), st.integers(0, 255))
def test_pop_outside_keeps_exactly_the_interval(keys: list[str], lo: int, hi: int) -> None:
    store = filled(keys)
    popped = store.pop_outside(lo, hi)
    assert all(between_right_incl(lo, e.key_id, hi) for e in store)
    assert len(popped) + len(store) == len(keys)
    store.merge(popped)
    assert len(store) == len(keys)


@given(st.lists(st.text(min_size=1, max_size=6), unique=True, max_size=40), st.integers(0, 255), st.integers(0, 255))
def test_has_outside_agrees_with_pop_outside(keys: list[str], lo: int, hi: int) -> None:
    store = filled(keys)
    assert store.has_outside(lo, hi) == bool(store.pop_outside(lo, hi))
