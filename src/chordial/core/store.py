"""Ordered key store of one node (Chord §4.2: a node holds the keys in (predecessor, self]).

Entries are ordered by ``(key_id, key)`` in a :class:`~sortedcontainers.SortedDict`, so the
range a joining predecessor takes over, or the whole store a leaving node hands on, is split
off or merged back without scanning the rest. Distinct keys may share an id on small rings,
hence the key in the sort order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sortedcontainers import SortedDict

from chordial.core.messages import Entry

_SortKey = tuple[int, str]
_EMPTY: SortedDict = SortedDict()  # stands in for the stores of nodes that never held a key; never mutated


class KeyStore:
    """Versioned entries with delete tombstones, ordered by key id."""

    def __init__(self, id_bits: int) -> None:
        self._bits = id_bits
        # Created on the first write: an empty SortedDict costs ~1.7 KB, and in a 10⁵-node
        # simulation most nodes never store a key.
        self._entries: SortedDict = _EMPTY
        self._live = 0

    def __len__(self) -> int:
        """Number of live (not deleted) keys."""
        return self._live

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def get(self, key_id: int, key: str) -> Entry | None:
        entry: Entry | None = self._entries.get((key_id, key))
        return entry

    def put(self, key_id: int, key: str, value: bytes) -> Entry:
        """Write ``value``; the version is one more than the previous one (tombstones included)."""
        old = self.get(key_id, key)
        entry = Entry(key, key_id, value, (old.version if old else 0) + 1)
        self._set(entry, old)
        return entry

    def delete(self, key_id: int, key: str) -> tuple[Entry | None, bool]:
        """Replace a live entry by a tombstone. Returns the tombstone and whether a value existed."""
        old = self.get(key_id, key)
        if old is None:
            return None, False
        if old.deleted:
            return old, False
        tombstone = Entry(key, key_id, b"", old.version + 1, deleted=True)
        self._set(tombstone, old)
        return tombstone, True

    def apply(self, entry: Entry) -> None:
        """Set ``entry`` whatever is held (chain writes arrive in the head's order)."""
        self._set(entry, self.get(entry.key_id, entry.key))

    def entries_in(self, lo: int, hi: int) -> list[Entry]:
        """The entries (tombstones included) whose id lies in (lo, hi]; lo == hi means all."""
        if lo == hi:
            return list(self._entries.values())
        return [self._entries[k] for k in self._keys_in(lo, hi)]

    def copy_outside(self, lo: int, hi: int) -> list[Entry]:
        """The entries whose id lies outside (lo, hi], left in place (none when lo == hi)."""
        if lo == hi:
            return []
        return [self._entries[k] for k in self._keys_in(hi, lo)]

    def merge(self, entries: Iterable[Entry]) -> int:
        """Adopt entries handed over by another node, keeping the higher version of each key."""
        adopted = 0
        for entry in entries:
            old = self.get(entry.key_id, entry.key)
            if old is None or entry.version > old.version:
                self._set(entry, old)
                adopted += 1
        return adopted

    def live(self) -> list[Entry]:
        return [e for e in self._entries.values() if not e.deleted]

    def pop_range(self, lo: int, hi: int) -> list[Entry]:
        """Remove and return the entries whose id lies in the ring interval (lo, hi]."""
        return self._pop_keys(self._keys_in(lo, hi))

    def pop_outside(self, lo: int, hi: int) -> list[Entry]:
        """Remove and return the entries whose id lies outside (lo, hi] (none when lo == hi)."""
        if lo == hi:
            return []
        return self._pop_keys(self._keys_in(hi, lo))

    def has_outside(self, lo: int, hi: int) -> bool:
        """Whether any entry's id lies outside (lo, hi]."""
        if lo == hi:
            return False
        entries = self._entries
        start: int = entries.bisect_left((lo + 1,))
        stop: int = entries.bisect_left((hi + 1,))
        inside = stop - start if lo < hi else len(entries) - start + stop
        return inside < len(entries)

    def discard(self, entries: Iterable[Entry]) -> int:
        """Remove these entries (by key); returns how many were held."""
        held = [k for k in ((e.key_id, e.key) for e in entries) if k in self._entries]
        return len(self._pop_keys(held))

    def pop_all(self) -> list[Entry]:
        entries = list(self._entries.values())
        self._entries = _EMPTY
        self._live = 0
        return entries

    def _keys_in(self, lo: int, hi: int) -> list[_SortKey]:
        # (lo, hi] as one or two runs of the sorted keys; (k,) sorts before every (k, key).
        if lo < hi:
            return list(self._entries.irange((lo + 1,), (hi + 1,), inclusive=(True, False)))
        top = 1 << self._bits
        keys = list(self._entries.irange((lo + 1,), (top,), inclusive=(True, False)))
        keys += self._entries.irange((0,), (hi + 1,), inclusive=(True, False))
        return keys

    def _pop_keys(self, keys: list[_SortKey]) -> list[Entry]:
        popped: list[Entry] = []
        for sort_key in keys:
            entry: Entry = self._entries.pop(sort_key)
            if not entry.deleted:
                self._live -= 1
            popped.append(entry)
        return popped

    def _set(self, entry: Entry, old: Entry | None) -> None:
        if self._entries is _EMPTY:
            self._entries = SortedDict()
        self._live += (0 if entry.deleted else 1) - (0 if old is None or old.deleted else 1)
        self._entries[(entry.key_id, entry.key)] = entry
