"""A linearizability checker for histories of per-key read/write/delete registers.

Each key of a key-value store is an independent register (linearizability is *local*: Herlihy &
Wing 1990), so a history is split by key and every key is checked on its own — the
P-compositionality that makes Porcupine fast. For one key the check is Wing & Gong's search
(with Lowe's memoization): a depth-first search over which pending operation takes effect next,
remembering every (set of operations already linearized, register value) pair it has explored,
so that no configuration is searched twice.

An operation may come next when every operation that must precede it in real time — returned
before it was invoked, or came earlier from the same client — is already linearized. A ``put``
sets the register, a ``delete`` empties it, a ``get`` must return what the register holds
(``None`` when empty). Two reductions keep the search small without changing its answer:

* a ``get`` that may come next and agrees with the register is linearized at once, without
  branching (moving a read to the earliest point where it is allowed and true never breaks a
  valid linearization: it changes nothing);
* a write whose outcome is unknown and whose value no ``get`` returned is dropped (in any valid
  linearization it can be moved to the end, where it changes nothing);
* a write that overwrites a value some pending ``get`` still has to return, when no write left
  can bring that value back, ends the branch at once instead of deep down the search.

Outcomes: an operation that failed or never returned may or may not have taken effect, at any
time after its invocation — it is given an infinite return time and need not be linearized at
all; a failed or unanswered ``get`` tells nothing and is dropped.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

OpKind = Literal["put", "get", "delete"]
OP_KINDS: tuple[OpKind, ...] = ("put", "get", "delete")
_GET, _PUT, _DELETE = 0, 1, 2
_KIND_CODE = {"get": _GET, "put": _PUT, "delete": _DELETE}
_UNREAD = object()
"""The register holds a value that no get still to be placed reads (which one does not matter)."""

__all__ = [
    "OP_KINDS",
    "LinearizabilityResult",
    "OpKind",
    "Operation",
    "check_key",
    "check_linearizable",
]


@dataclass(frozen=True, slots=True)
class Operation:
    """One client operation on one key, as the client saw it.

    ``value`` is what a ``put`` wrote; ``result`` what a ``get`` returned (``None``: not found).
    ``returned`` is ``None`` when no answer came back; ``ok`` is False when the answer was an
    error. Either way the outcome of a write is unknown (it may take effect at any time after
    ``invoked``), and a ``get`` without a good answer is ignored.
    """

    client: int | str
    key: str
    kind: OpKind
    value: bytes | None = None
    invoked: float = 0.0
    returned: float | None = None
    ok: bool = True
    result: bytes | None = None

    def __post_init__(self) -> None:
        if self.kind not in OP_KINDS:
            raise ValueError(f"operation kind must be one of {', '.join(OP_KINDS)}, got {self.kind!r}")
        if self.kind == "put" and self.value is None:
            raise ValueError("a put needs a value")
        if self.returned is not None and self.returned < self.invoked:
            raise ValueError(f"operation returned at {self.returned} before it was invoked at {self.invoked}")

    @property
    def completed(self) -> bool:
        """Answered without error: its effect (and, for a get, its result) is known."""
        return self.ok and self.returned is not None

    def describe(self) -> str:
        """One line for people: ``client 2: put(k, b'v') [1.200 → 1.450] ok``."""
        if self.kind == "put":
            what = f"put({self.key!r}, {self.value!r})"
        elif self.kind == "delete":
            what = f"delete({self.key!r})"
        else:
            what = f"get({self.key!r})"
        end = "?" if self.returned is None else f"{self.returned:.4f}"
        if not self.ok:
            outcome = "failed (unknown outcome)" if self.kind != "get" else "failed"
        elif self.returned is None:
            outcome = "no answer (unknown outcome)"
        elif self.kind == "get":
            outcome = f"-> {self.result!r}" if self.result is not None else "-> not found"
        else:
            outcome = "ok"
        return f"client {self.client}: {what} [{self.invoked:.4f} → {end}] {outcome}"


@dataclass(frozen=True)
class LinearizabilityResult:
    """The verdict on a history. ``bool(result)`` is :attr:`ok`.

    On a violation, ``key`` is the first key (in sorted order) that has none, ``operations`` are
    that key's operations around the point where every attempt got stuck (the last ones
    linearized, then those that could not come next), and ``explanation`` says it in words.
    """

    ok: bool
    key: str | None = None
    explanation: str = ""
    operations: tuple[Operation, ...] = ()
    keys_checked: int = 0
    operations_checked: int = 0
    states_explored: int = 0
    failed_keys: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.ok:
            return (
                f"linearizable: {self.operations_checked} operations on {self.keys_checked} keys "
                f"({self.states_explored} states explored)"
            )
        return self.explanation


def check_linearizable(
    history: Iterable[Operation], initial: Mapping[str, bytes | None] | None = None
) -> LinearizabilityResult:
    """Whether ``history`` is linearizable for registers that start empty (or at ``initial``).

    Every key is checked; the result names the first key (sorted) without a linearization and
    lists every key that has none in :attr:`LinearizabilityResult.failed_keys`.
    """
    by_key: dict[str, list[Operation]] = defaultdict(list)
    for op in history:
        by_key[op.key].append(op)
    first: LinearizabilityResult | None = None
    failed: list[str] = []
    states = 0
    checked = 0
    for key in sorted(by_key):
        verdict = check_key(key, by_key[key], (initial or {}).get(key))
        states += verdict.states_explored
        checked += verdict.operations_checked
        if not verdict.ok:
            failed.append(key)
            if first is None:
                first = verdict
    if first is not None:
        return LinearizabilityResult(
            False,
            first.key,
            first.explanation,
            first.operations,
            len(by_key),
            checked,
            states,
            tuple(failed),
        )
    return LinearizabilityResult(True, keys_checked=len(by_key), operations_checked=checked, states_explored=states)


def check_key(key: str, history: Sequence[Operation], initial: bytes | None = None) -> LinearizabilityResult:
    """Check the operations of one key (every operation must be on ``key``)."""
    for op in history:
        if op.key != key:
            raise ValueError(f"operation on {op.key!r} in the history of {key!r}")
    return _KeySearch(key, history, initial).run()


class _KeySearch:
    """Wing & Gong's search with memoization over the operations of one key.

    Operations are numbered in invocation order; a set of them is a bitmask.
    """

    def __init__(self, key: str, history: Sequence[Operation], initial: bytes | None) -> None:
        self.key = key
        self.initial = initial
        inf = math.inf
        read_values = {op.result for op in history if op.kind == "get" and op.completed}
        kept: list[Operation] = []
        for op in history:
            if op.kind == "get":
                if op.completed:
                    kept.append(op)
            elif op.completed or op.kind == "delete" or op.value in read_values:
                kept.append(op)  # an unknown-outcome put nobody read changes nothing: dropped
        # Deadlines. A completed operation takes effect before it returns. So does the only put
        # of a value before the first read of that value returns — a put of unknown outcome
        # whose value was read must have taken effect too.
        first_read: dict[bytes | None, float] = {}
        puts_of: dict[bytes | None, int] = defaultdict(int)
        for op in kept:
            if op.kind == "get" and op.returned is not None:
                first_read[op.result] = min(first_read.get(op.result, inf), op.returned)
            elif op.kind == "put":
                puts_of[op.value] += 1

        def deadline(op: Operation) -> float:
            end = op.returned if op.completed and op.returned is not None else inf
            if op.kind == "put" and puts_of[op.value] == 1 and op.value != initial:
                end = min(end, first_read.get(op.value, inf))
            return end

        kept.sort(key=lambda o: (o.invoked, deadline(o)))
        self.ops = kept
        n = len(kept)
        self.n = n
        self.inv = [op.invoked for op in kept]
        self.ret = [deadline(op) for op in kept]
        self.code = [_KIND_CODE[op.kind] for op in kept]
        self.val = [op.value if op.kind == "put" else op.result if op.kind == "get" else None for op in kept]
        # Program order: an operation waits for the same client's previous completed one, even
        # when the two times are equal (the simulator's clock does not advance between them).
        self.client_prev = [-1] * n
        last_done: dict[int | str, int] = {}
        for i, op in enumerate(kept):
            prev = last_done.get(op.client)
            if prev is not None and self.ret[prev] <= op.invoked:
                self.client_prev[i] = prev
            if op.completed:
                last_done[op.client] = i
        self.required = 0
        self.unknown: list[int] = []
        for i in range(n):
            if self.ret[i] < inf:
                self.required |= 1 << i
            else:
                self.unknown.append(i)
        # For the dead-end test: the gets of each value, and the writes that can (re)establish
        # it (the puts of that value; for "empty", the deletes).
        self.readers: dict[bytes | None, int] = {}
        self.makers: dict[bytes | None, int] = {}
        for i in range(n):
            if self.code[i] == _GET:
                self.readers[self.val[i]] = self.readers.get(self.val[i], 0) | 1 << i
            else:
                made = self.val[i] if self.code[i] == _PUT else None
                self.makers[made] = self.makers.get(made, 0) | 1 << i
        # Blind puts: completed puts of a value no get returned. Nobody can see them, so they
        # only ever need to go right before another write (or at the very end).
        self.blind = 0
        for i in range(n):
            if self.code[i] == _PUT and self.ret[i] < inf and self.val[i] not in self.readers:
                self.blind |= 1 << i
        self.states = 0
        # The deepest configuration reached: (required ops linearized, mask, register, last ops).
        self._deepest: tuple[int, int, object, tuple[int, ...]] = (-1, 0, initial, ())

    # ------------------------------------------------------------------------------ search

    def _frontier(self, mask: int) -> tuple[list[int], list[int], list[int]]:
        """The operations that may be linearized next: (gets, writes, blind puts), urgent first."""
        inv, ret, code, client_prev, blind = self.inv, self.ret, self.code, self.client_prev, self.blind
        gets: list[int] = []
        writes: list[int] = []
        blinds: list[int] = []
        free = self.required & ~mask
        # The earliest deadline among the pending operations scanned so far: an operation
        # invoked after it must wait (one invoked at that very instant is concurrent with it).
        horizon = math.inf
        while free:
            low = free & -free
            free ^= low
            i = low.bit_length() - 1
            if inv[i] > horizon:
                break  # this one and every later one must wait for an earlier return
            cp = client_prev[i]
            if cp < 0 or mask >> cp & 1:
                if code[i] == _GET:
                    gets.append(i)
                else:
                    (blinds if blind >> i & 1 else writes).append(i)
            if ret[i] < horizon:
                horizon = ret[i]
        writes.sort(key=ret.__getitem__)
        for i in self.unknown:
            if inv[i] > horizon:
                break  # self.unknown is in invocation order
            if not mask >> i & 1:
                cp = client_prev[i]
                if cp < 0 or mask >> cp & 1:
                    writes.append(i)  # unknown outcomes last: they are optional
        return gets, writes, blinds

    def _absorb_reads(self, mask: int, state: object, path: list[int]) -> int:
        """Linearize every get that may come next and reads ``state`` (no branching needed)."""
        val = self.val
        while True:
            took = False
            for i in self._frontier(mask)[0]:
                if val[i] == state:
                    mask |= 1 << i
                    path.append(i)
                    took = True
            if not took:
                return mask

    def _sweep(self, mask: int) -> tuple[int, list[int]]:
        """Every blind put that may come next, and those that may follow them: placed right
        before the next write, where nobody can see them."""
        swept: list[int] = []
        while True:
            blinds = self._frontier(mask)[2]
            if not blinds:
                return mask, swept
            for i in blinds:
                mask |= 1 << i
            swept += blinds

    def _canon(self, state: object, mask: int) -> object:
        """The register as far as the future can tell: a value no pending get reads is as good
        as any other such value (configurations that differ only there are merged)."""
        readers = self.readers.get(state, 0) if state is None or isinstance(state, bytes) else 0
        return state if readers & ~mask else _UNREAD

    def _strands(self, value: object, mask: int) -> bool:
        """Whether leaving ``value`` now strands a get: one that read it is still to be
        linearized, and no write that could bring it back is left (a dead end, cut at once)."""
        if value is _UNREAD:
            return False
        unplaced = ~mask
        readers = self.readers.get(value, 0)  # type: ignore[call-overload]
        return bool(readers & unplaced) and not self.makers.get(value, 0) & unplaced  # type: ignore[call-overload]

    def run(self) -> LinearizabilityResult:
        obvious = self._obvious_violation()
        if obvious is not None:
            return obvious
        need, val, code = self.required & ~self.blind, self.val, self.code
        seen: set[tuple[int, object]] = set()
        # The linearization being built; it holds exactly the operations of the current mask, so
        # going back to a frame is cutting it to the popcount of the frame's mask.
        path: list[int] = []
        # A frame: a configuration (after its reads were absorbed), the blind puts swept before
        # any next write, the writes to try, and the next one to try.
        stack: list[tuple[int, object, int, list[int], list[int], int]] = []
        mask, state = 0, self._canon(self.initial, 0)
        while True:
            mask = self._absorb_reads(mask, state, path)
            state = self._canon(state, mask)
            if mask & need == need:
                return self._success()  # blind puts left over go last, in any order allowed
            if (mask, state) not in seen:
                seen.add((mask, state))
                self.states += 1
                self._note_depth(mask, state, path)
                swept_mask, swept = self._sweep(mask)
                stack.append((mask, state, swept_mask, swept, self._frontier(swept_mask)[1], 0))
            # Take the next untried write of the innermost frame that has one.
            while stack:
                fmask, fstate, swept_mask, swept, writes, nxt = stack[-1]
                if nxt < len(writes):
                    stack[-1] = (fmask, fstate, swept_mask, swept, writes, nxt + 1)
                    i = writes[nxt]
                    mask = swept_mask | 1 << i
                    written = val[i] if code[i] == _PUT else None
                    if written != fstate and self._strands(fstate, mask):
                        continue
                    del path[fmask.bit_count() :]
                    path += swept
                    path.append(i)
                    state = self._canon(written, mask)
                    break
                stack.pop()
            else:
                return self._failure()

    def _note_depth(self, mask: int, state: object, path: list[int]) -> None:
        done = (mask & self.required & ~self.blind).bit_count()
        if done > self._deepest[0]:
            self._deepest = (done, mask, state, tuple(path[-4:]))

    def _success(self) -> LinearizabilityResult:
        return LinearizabilityResult(
            True, keys_checked=1, operations_checked=self.required.bit_count(), states_explored=self.states
        )

    # ------------------------------------------------------------------------------ obvious cases

    def _obvious_violation(self) -> LinearizabilityResult | None:
        """Violations that need no search, found in O(n log n): a get of a value nobody wrote,
        or of a value certainly overwritten (or certainly not yet deleted) before it began.

        Sound only: what these miss, the search finds. They name the culprits exactly, and they
        keep the search from proving, state by state, that a stale read deep in a long history
        cannot be placed.
        """
        ops, inf = self.ops, math.inf
        written = {self.val[i] for i in range(self.n) if self.code[i] == _PUT}
        puts_of = {v: bin(m).count("1") for v, m in self.makers.items()}
        # Completed writes by invocation, with the running minimum of their deadlines from the
        # right: "is some write invoked after t certainly done before u?" is one bisect.
        writes = sorted(
            (self.inv[i], self.ret[i], i) for i in range(self.n) if self.code[i] != _GET and self.ret[i] < inf
        )
        puts = [w for w in writes if self.code[w[2]] == _PUT]

        def suffix_min(items: list[tuple[float, float, int]]) -> list[tuple[float, int]]:
            best: list[tuple[float, int]] = [(inf, -1)] * (len(items) + 1)
            for j in range(len(items) - 1, -1, -1):
                best[j] = min(best[j + 1], (items[j][1], items[j][2]))
            return best

        after_writes, after_puts = suffix_min(writes), suffix_min(puts)
        write_starts, put_starts = [w[0] for w in writes], [w[0] for w in puts]
        last_delete = max((self.ret[i] for i in range(self.n) if self.code[i] == _DELETE), default=-inf)
        for i, op in enumerate(ops):
            if self.code[i] != _GET or op.result == self.initial:
                continue
            if op.result is not None and op.result not in written:
                return self._report(
                    f"a get returned {op.result!r}, which no put of this key wrote:",
                    [i],
                    "the last writes invoked before it returned:",
                    [j for j in range(self.n) if self.code[j] != _GET and self.inv[j] < self.ret[i]][-4:],
                )
            if op.result is not None and puts_of.get(op.result) == 1:
                (writer,) = (j for j in range(self.n) if self.code[j] == _PUT and self.val[j] == op.result)
                if self.inv[writer] > self.ret[i]:
                    return self._report("a get returned a value before the put of it began:", [i], "", [writer])
                # the value exists from (at the latest) the writer's deadline on
                nxt = bisect.bisect_right(write_starts, self.ret[writer])
                end, later = after_writes[nxt]
                if end < self.inv[i]:
                    return self._report(
                        f"a get returned {op.result!r} after it was certainly overwritten:",
                        [i],
                        "written by the first, overwritten by the second before the get began:",
                        [writer, later],
                    )
            elif op.result is None:
                # empty only after a delete: a put that certainly follows every delete and is
                # certainly done before the get began leaves no room for one
                nxt = bisect.bisect_right(put_starts, last_delete)
                end, later = after_puts[nxt]
                if end < self.inv[i]:
                    deletes = [j for j in range(self.n) if self.code[j] == _DELETE][-2:]
                    return self._report(
                        "a get found the key empty though a put certainly took effect after every delete and "
                        "before the get began:",
                        [i],
                        "that put (and the last deletes, if any):",
                        [later, *deletes],
                    )
        return self._zone_violation()

    def _zone_violation(self) -> LinearizabilityResult | None:
        """Gibbons & Korach's zones (1997), for the values written by exactly one put.

        A put and the gets of its value form a cluster; f is the earliest deadline in it, s the
        latest invocation. If f < s the value is certainly in the register during (f, s), its
        forward zone. Two values cannot both be there at once, so forward zones must not overlap;
        and a cluster whose operations all span [s, f] (s ≤ f, a backward zone) cannot fit inside
        another value's forward zone. (With unique values and no deletes these two conditions are
        also sufficient; here deletes leave the rest to the search.)
        """
        inf = math.inf
        members: dict[bytes | None, list[int]] = defaultdict(list)
        for i in range(self.n):
            if self.val[i] is not None and self.val[i] != self.initial:
                members[self.val[i]].append(i)
        forward: list[tuple[float, float, bytes]] = []
        backward: list[tuple[float, float, bytes]] = []
        for value, cluster in members.items():
            if value is None or sum(self.code[i] == _PUT for i in cluster) != 1:
                continue
            f = min(self.ret[i] for i in cluster)
            s = max(self.inv[i] for i in cluster)
            if f == inf:
                continue  # an unread put of unknown outcome (kept only when read: not here)
            (forward if f < s else backward).append((f, s, value))
        forward.sort()
        for (_f1, s1, v1), (f2, s2, v2) in itertools.pairwise(forward):
            if f2 < s1:
                return self._report_zones(v1, v2, f"both certainly held during ({f2:.4f}, {min(s1, s2):.4f})")
        starts = [f for f, _, _ in forward]
        for s2, f2, v2 in ((s, f, v) for f, s, v in backward):
            j = bisect.bisect_left(starts, s2) - 1  # the forward zone starting last before s2
            if j >= 0 and f2 < forward[j][1]:
                f1, s1, v1 = forward[j]
                return self._report_zones(
                    v1,
                    v2,
                    f"{v2!r} had to be written and read within ({s2:.4f}, {f2:.4f}), while {v1!r} was "
                    f"certainly held during ({f1:.4f}, {s1:.4f})",
                )
        return None

    def _report_zones(self, first: bytes, second: bytes, why: str) -> LinearizabilityResult:
        ops = [i for i in range(self.n) if self.val[i] in (first, second)]
        return self._report(f"the values {first!r} and {second!r} overlap: {why}. Their puts and gets:", ops, "", [])

    # ------------------------------------------------------------------------------ explanations

    def _report(self, what: str, culprits: list[int], context: str, others: list[int]) -> LinearizabilityResult:
        ops = self.ops
        lines = [f"key {self.key!r} is not linearizable: {what}", *(f"  {ops[i].describe()}" for i in culprits)]
        if others:
            lines.append(context)
            lines += [f"  {ops[i].describe()}" for i in others]
        return LinearizabilityResult(
            False,
            self.key,
            "\n".join(lines),
            tuple(ops[i] for i in (*culprits, *others)),
            1,
            self.required.bit_count(),
        )

    def _failure(self) -> LinearizabilityResult:
        _, mask, state, last = self._deepest
        ret, ops = self.ret, self.ops
        need = self.required & ~self.blind
        pending = [i for i in range(self.n) if not mask >> i & 1 and need >> i & 1]
        stuck = min(pending, key=ret.__getitem__)
        window = [i for i in range(self.n) if not mask >> i & 1 and self.inv[i] < ret[stuck] and i != stuck]
        held = "empty" if state is None else "a value no get left reads" if state is _UNREAD else f"{state!r}"
        lines = [
            f"key {self.key!r} is not linearizable: at most {(mask & need).bit_count()} of its "
            f"{need.bit_count()} completed operations that matter can be put in a valid order.",
            "The longest valid order ends with:" if last else "No operation can be ordered first.",
            *(f"  {ops[i].describe()}" for i in last),
            f"Then the register is {held}, and this operation cannot take effect:",
            f"  {ops[stuck].describe()}",
        ]
        if window:
            lines.append("nor can any of the operations pending with it make it possible:")
            lines += [f"  {ops[i].describe()}" for i in window]
        return LinearizabilityResult(
            False,
            self.key,
            "\n".join(lines),
            tuple(ops[i] for i in (*last, stuck, *window)),
            1,
            self.required.bit_count(),
            self.states,
        )
