"""Zave's invariants of a correct Chord ring, checked over a snapshot of the live members.

From "How to make Chord correct" (Zave 2015, §3–§5). With ``best(n)`` the first live entry of
n's successor list and ``ring`` the members that reach themselves by following ``best``:

* OneLiveSuccessor — every member has a live entry in its successor list;
* SufficientPrincipals — at least r + 1 members are *principals*: no member's extended
  successor list skips them (with OneLiveSuccessor, the inductive invariant of §5);
* AtLeastOneRing / AtMostOneRing — the ring exists and is connected;
* OrderedRing — no ring member lies between a ring member and its best successor;
* ConnectedAppendages — members outside the ring reach it;
* OrderedSuccessorLists / NoDuplicates — lists are in ring order and list nobody twice, nor
  their owner.

:func:`check_ring` returns the violations; :func:`assert_ring` raises with them. :func:`is_ideal`
tells whether the ring reached the goal state (all lists and predecessors exactly right).
A member that believes it is alone (empty list) counts as its own best successor.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chordial.core.ids import between
from chordial.core.node import ChordNode


@dataclass(frozen=True, slots=True)
class MemberView:
    """What the checker needs of one live member."""

    id: int
    successors: tuple[int, ...]
    predecessor: int | None

    @classmethod
    def of(cls, node: ChordNode) -> MemberView:
        pred = node.predecessor.id if node.predecessor is not None else None
        return cls(node.id, tuple(s.id for s in node.successors), pred)


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    nodes: tuple[int, ...]
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail} (nodes {', '.join(map(str, self.nodes))})"


class InvariantViolation(AssertionError):
    def __init__(self, violations: Sequence[Violation]) -> None:
        super().__init__("; ".join(map(str, violations)))
        self.violations = tuple(violations)


def _views(members: Iterable[ChordNode | MemberView]) -> dict[int, MemberView]:
    return {v.id: v for v in (m if isinstance(m, MemberView) else MemberView.of(m) for m in members)}


def _best(view: MemberView, live: Mapping[int, MemberView]) -> int | None:
    if not view.successors:
        return view.id
    for s in view.successors:
        if s in live:
            return s
    return None


def principals(live: Mapping[int, MemberView]) -> list[int]:
    """Members that no extended successor list skips (Zave §5).

    An adjacent pair (a, b) of ``[m] + m.succ`` skips every member strictly between a and b;
    those form a run of the sorted member ids, marked with a difference array: O(N·r).
    """
    ids = sorted(live)
    size = len(ids)
    skipped = [0] * (size + 1)

    def mark(lo: int, hi: int) -> None:  # sorted positions lo..hi-1
        if lo < hi:
            skipped[lo] += 1
            skipped[hi] -= 1

    for nid, view in live.items():
        esl = (nid, *view.successors)
        for a, b in itertools.pairwise(esl):
            start, stop = bisect.bisect_right(ids, a), bisect.bisect_left(ids, b)
            if a < b:
                mark(start, stop)
            else:  # the pair wraps past zero (or a == b: everything but a)
                mark(start, size)
                mark(0, stop)
    out: list[int] = []
    running = 0
    for i, nid in enumerate(ids):
        running += skipped[i]
        if running == 0:
            out.append(nid)
    return out


def check_ring(members: Iterable[ChordNode | MemberView], r: int | None = None) -> list[Violation]:
    """All invariant violations in a snapshot of the live members (empty when correct).

    SufficientPrincipals is checked when ``r`` (the successor-list length) is given and the
    ring has more than r members (Zave makes no promise below r + 1 members).
    """
    live = _views(members)
    out: list[Violation] = []
    if not live:
        return out
    if r is not None and len(live) > r:
        found = principals(live)
        if len(found) < r + 1:
            out.append(Violation("SufficientPrincipals", tuple(found), f"{len(found)} principals, need {r + 1}"))
    best: dict[int, int] = {}
    for nid, view in live.items():
        b = _best(view, live)
        if b is None:
            out.append(Violation("OneLiveSuccessor", (nid,), f"no live entry in {list(view.successors)}"))
        else:
            best[nid] = b
        if nid in view.successors:
            out.append(Violation("NoDuplicates", (nid,), "lists itself"))
        if len(set(view.successors)) != len(view.successors):
            out.append(Violation("NoDuplicates", (nid,), f"repeats an entry in {list(view.successors)}"))
        esl = (nid, *view.successors)
        for a, b2, c in zip(esl, esl[1:], esl[2:], strict=False):
            if not between(a, b2, c):
                out.append(Violation("OrderedSuccessorLists", (nid,), f"{b2} not between {a} and {c}"))
    # Members on a cycle of best pointers form rings; the rest are appendages.
    ring_of: dict[int, int] = {}
    rings: list[set[int]] = []
    for start in live:
        seen: list[int] = []
        seen_set: set[int] = set()  # membership tests in O(1): walks can be long at 10⁴+ nodes
        at: int | None = start
        while at is not None and at not in seen_set and at not in ring_of:
            seen.append(at)
            seen_set.add(at)
            at = best.get(at)
        if at is not None and at in seen_set:
            cycle = set(seen[seen.index(at) :])
            rings.append(cycle)
            for n in cycle:
                ring_of[n] = len(rings) - 1
    if not rings:
        out.append(Violation("AtLeastOneRing", tuple(live), "no member reaches itself"))
        return out
    if len(rings) > 1:
        out.append(Violation("AtMostOneRing", tuple(min(r) for r in rings), f"{len(rings)} separate rings"))
    ring_members = sorted(set().union(*rings))
    position = {m: i for i, m in enumerate(ring_members)}
    for a in ring_members:
        b = best[a]
        # Some ring member lies strictly between a and b iff b is not the next one after a.
        after = ring_members[(position[a] + 1) % len(ring_members)]
        if b != after and b in position and between(a, after, b):
            out.append(Violation("OrderedRing", (a, after, b), f"{after} lies between {a} and its successor {b}"))
    for nid in live:
        if nid in ring_of:
            continue
        walk: int | None = nid
        steps = 0
        while walk is not None and walk not in ring_of and steps <= len(live):
            walk = best.get(walk)
            steps += 1
        if walk is None or walk not in ring_of:
            out.append(Violation("ConnectedAppendages", (nid,), "does not reach the ring"))
    return out


def assert_ring(members: Iterable[ChordNode | MemberView], r: int | None = None) -> None:
    """Raise :class:`InvariantViolation` naming the offending nodes when an invariant fails."""
    violations = check_ring(members, r)
    if violations:
        raise InvariantViolation(violations)


def is_ideal(members: Iterable[ChordNode | MemberView], r: int) -> bool:
    """Zave's Ideal state: each list holds the true next min(r, N-1) members in order and each
    predecessor is the true one."""
    live = _views(members)
    ids = sorted(live)
    n = len(ids)
    for i, nid in enumerate(ids):
        want = tuple(ids[(i + k) % n] for k in range(1, min(r, n - 1) + 1))
        view = live[nid]
        if view.successors != want:
            return False
        want_pred = ids[i - 1] if n > 1 else None
        if n > 1 and view.predecessor != want_pred:
            return False
    return True


def correctness(members: Iterable[ChordNode]) -> dict[str, float]:
    """Fractions of right successors, predecessors and fingers against the true ring (Chord §6)."""
    nodes = list(members)
    ids = sorted(n.id for n in nodes)
    if not nodes:
        return {"successors": 1.0, "predecessors": 1.0, "fingers": 1.0}

    def successor_of(x: int) -> int:
        i = bisect.bisect_left(ids, x)
        return ids[i % len(ids)]

    size = len(ids)
    good_s = good_p = good_f = total_f = 0
    for node in nodes:
        i = bisect.bisect_left(ids, node.id)  # O(log N): correctness is sampled live at 10⁵ nodes
        good_s += node.successor.id == ids[(i + 1) % size]
        pred = node.predecessor.id if node.predecessor else None
        good_p += pred == (ids[i - 1] if size > 1 else None) or (size == 1 and pred in (None, node.id))
        bits = node.config.id_bits
        for k, finger in enumerate(node.fingers):
            want = successor_of((node.id + (1 << k)) % (1 << bits))
            total_f += 1
            good_f += (finger.id if finger else node.id) == want
    return {"successors": good_s / size, "predecessors": good_p / size, "fingers": good_f / max(total_f, 1)}
