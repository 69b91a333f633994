"""Client histories recorded in the simulator, for the linearizability checker and staleness counts.

:class:`HistoryRecorder` plays several logical clients. Each does one operation at a time, as a
real client does: it picks a key, sends a put (with a value unique in the run, so that a read
names the write it saw), a get or a delete to a random live node through
:meth:`Simulation.request`, waits for the answer, pauses, and goes on. Every operation becomes
an :class:`~chordial.sim.linearizability.Operation` with its virtual invoke and return times.

A client that gets no answer within its deadline, or whose node stopped before answering (a
crashed node sends nothing), records the operation without a return: its outcome is unknown.

Stale reads are counted exactly from versions: a get is stale when the version it returned is
older than the newest version some write of that key had been acknowledged with before the get
was invoked. Each one is passed to ``sim.listeners`` as a :class:`~chordial.core.events.StaleRead`.
(Versions only go back when a node that lacks acknowledged writes becomes a key's head; the reads
that follow count as stale until the versions catch up — loudly, as such a takeover deserves.)

:class:`ReplicaSafeChurn` is churn that a k-way replicated ring is meant to survive: Zave's
assumptions hold, and no k ring-consecutive nodes fail within a recovery window.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chordial.core.events import StaleRead
from chordial.core.messages import ClientDelete, ClientGet, ClientPut, DataReply, ErrorReply
from chordial.core.node import ChordNode
from chordial.sim.linearizability import OP_KINDS, Operation, OpKind
from chordial.sim.models import PoissonChurn, model_rng
from chordial.sim.world import Simulation

__all__ = ["HistoryRecorder", "HistoryStats", "Record", "ReplicaSafeChurn"]

DEFAULT_MIX: Mapping[str, float] = {"put": 0.4, "get": 0.5, "delete": 0.1}


@dataclass
class Record:
    """One operation as issued, with what the checkers need beyond :class:`Operation`."""

    client: int
    key: str
    kind: OpKind
    value: bytes | None
    invoked: float
    node: str
    returned: float | None = None
    ok: bool = False
    result: bytes | None = None
    version: int | None = None  # the entry version of the reply (0: the key never existed)
    latest_acked: int = 0  # gets: newest version acknowledged for the key before the invocation
    latest_acked_at: float | None = None  # gets: when that acknowledgement came (None: never)
    owner: str = ""  # the node that served it (DataReply.owner)
    path: tuple[str, ...] = ()  # the nodes the request visited (DataReply.path)
    error: str = ""
    done: bool = False

    def operation(self) -> Operation:
        return Operation(
            self.client,
            self.key,
            self.kind,
            self.value,
            self.invoked,
            self.returned,
            self.ok,
            self.result,
        )

    @property
    def stale(self) -> bool:
        return self.kind == "get" and self.ok and self.version is not None and self.version < self.latest_acked


@dataclass
class _Client:
    number: int
    keys: Sequence[str]
    seq: int = 0
    current: Record | None = None
    busy: bool = False


@dataclass
class HistoryStats:
    issued: Counter[str] = field(default_factory=Counter)
    ok: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    unanswered: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


class HistoryRecorder:
    """Logical clients issuing put/get/delete on ``keys`` and recording the history.

    ``mix`` weighs put, get and delete; ``think`` is the mean pause (exponential) between a
    client's answer and its next operation; ``deadline`` the client's patience. With
    ``own_keys`` every key is written by one client only (clients share the keys round-robin),
    so each key's writes are sequential and its last acknowledged value is well defined.
    ``reachable`` restricts the nodes clients may contact (a client on one side of a partition).
    ``consistency`` is sent with every get (empty: the ring's mode). Clients start at ``start``
    (default: now) and stop issuing at ``stop`` or when :meth:`stop` is called.
    """

    def __init__(
        self,
        sim: Simulation,
        keys: Sequence[str] | int = 10,
        clients: int = 4,
        *,
        mix: Mapping[str, float] | None = None,
        think: float = 0.2,
        deadline: float = 15.0,
        own_keys: bool = False,
        reachable: Callable[[ChordNode], bool] | None = None,
        consistency: str = "",
        start: float | None = None,
        stop: float | None = None,
    ) -> None:
        self.sim = sim
        self.rng = model_rng(sim)
        self.keys: tuple[str, ...] = (
            tuple(f"key-{i:02d}" for i in range(keys)) if isinstance(keys, int) else tuple(keys)
        )
        if not self.keys:
            raise ValueError("a history needs at least one key")
        if clients < 1:
            raise ValueError(f"a history needs at least one client, got {clients}")
        weights = dict(mix if mix is not None else DEFAULT_MIX)
        unknown = sorted(set(weights) - set(OP_KINDS))
        if unknown:
            raise ValueError(f"unknown operation kinds in the mix: {', '.join(unknown)}")
        self._kinds: list[OpKind] = [k for k in OP_KINDS if weights.get(k, 0.0) > 0]
        if not self._kinds:
            raise ValueError("the mix needs one operation with a positive weight")
        self._weights = [weights[k] for k in self._kinds]
        self.think = think
        self.deadline = deadline
        self.reachable = reachable
        self.consistency = consistency
        self.stop_time = math.inf if stop is None else stop
        self.records: list[Record] = []
        self.stale_reads: list[StaleRead] = []
        self.stats = HistoryStats()
        self._acked: dict[str, tuple[int, float]] = {}  # newest version acknowledged per key, and when
        self._stopped = False
        self.clients = [
            _Client(c, self.keys[c::clients] if own_keys and clients <= len(self.keys) else self.keys)
            for c in range(clients)
        ]
        begin = sim.now if start is None else max(start, sim.now)
        for client in self.clients:
            sim.scheduler.at(begin + self.rng.uniform(0.0, think), self._next, client)

    # ------------------------------------------------------------------------------ control

    def stop(self) -> None:
        """Issue nothing more (operations in flight finish and are recorded)."""
        self._stopped = True

    @property
    def idle(self) -> bool:
        """No operation in flight."""
        return not any(c.busy for c in self.clients)

    def quiesce(self, limit: float = 120.0) -> None:
        """Stop issuing and run until every operation in flight has been recorded."""
        self.stop()
        self.sim.run_for(limit, stop=lambda: self.idle)

    # ------------------------------------------------------------------------------ results

    def history(self) -> list[Operation]:
        """Every operation issued so far, in invocation order (in flight ones without a return)."""
        return [r.operation() for r in self.records]

    @property
    def stale_count(self) -> int:
        return len(self.stale_reads)

    def completed_gets(self) -> list[Record]:
        return [r for r in self.records if r.kind == "get" and r.ok]

    def fresh_fraction(self) -> float:
        """Share of answered gets that returned the newest acknowledged version (or newer)."""
        gets = self.completed_gets()
        return 1.0 - sum(r.stale for r in gets) / len(gets) if gets else math.nan

    def last_values(self) -> dict[str, set[bytes | None]]:
        """For keys written by one client at a time (``own_keys``): the values each key may hold
        now — that of its last acknowledged write (``None`` after a delete), and those of any
        later writes whose outcome is unknown. Keys never acknowledged may also be empty."""
        allowed: dict[str, set[bytes | None]] = {key: {None} for key in self.keys}
        for r in self.records:  # invocation order = each key's write order when one client writes it
            if r.kind == "get":
                continue
            value = r.value if r.kind == "put" else None
            if r.ok:
                allowed[r.key] = {value}
            else:
                allowed[r.key].add(value)
        return allowed

    # ------------------------------------------------------------------------------ clients

    def _pick_node(self) -> ChordNode | None:
        sim = self.sim
        candidates = sim.live()
        if self.reachable is not None:
            candidates = [n for n in candidates if self.reachable(n)]
        if not candidates:
            return None
        return candidates[self.rng.randrange(len(candidates))]

    def _next(self, client: _Client) -> None:
        if self._stopped or self.sim.now > self.stop_time:
            return
        kind = self.rng.choices(self._kinds, self._weights)[0]
        key = client.keys[self.rng.randrange(len(client.keys))]
        self._issue(client, kind, key)

    def _issue(self, client: _Client, kind: OpKind, key: str) -> Record | None:
        """Send one operation for ``client`` now (it must be idle)."""
        if client.busy:
            raise RuntimeError(f"client {client.number} already has an operation in flight")
        sim = self.sim
        node = self._pick_node()
        if node is None:
            self.stats.errors["no reachable node"] += 1
            sim.scheduler.after(max(self.think, 0.1), self._next, client)
            return None
        value: bytes | None = None
        request: ClientGet | ClientPut | ClientDelete
        if kind == "put":
            client.seq += 1
            value = f"c{client.number}-{client.seq}".encode()
            request = ClientPut(key, value)
        elif kind == "get":
            request = ClientGet(key, self.consistency)
        else:
            request = ClientDelete(key)
        record = Record(client.number, key, kind, value, sim.now, node.ref.address)
        if kind == "get" and key in self._acked:
            record.latest_acked, record.latest_acked_at = self._acked[key]
        self.records.append(record)
        self.stats.issued[kind] += 1
        client.busy = True
        client.current = record
        sim.scheduler.after(self.deadline, self._expire, client, record)
        sim.request(node, request, lambda reply, _: self._answered(client, record, node, reply))
        return record

    def _expire(self, client: _Client, record: Record) -> None:
        if record.done:
            return
        self._finish(client, record, "no answer before the deadline")

    def _answered(self, client: _Client, record: Record, node: ChordNode, reply: Any) -> None:
        if record.done:
            return  # the client gave up on it already
        if node.status == "stopped":
            # A crashed (or departed) node sends nothing: the client sees its connection drop.
            self._finish(client, record, "the node stopped")
            return
        sim = self.sim
        record.returned = sim.now
        if isinstance(reply, DataReply):
            record.ok = True
            record.owner = reply.owner.address
            record.path = tuple(n.address for n in reply.path)
            entry = reply.entry
            record.version = entry.version if entry is not None else 0
            if record.kind == "get":
                record.result = entry.value if reply.found and entry is not None else None
                if record.version < record.latest_acked:
                    event = StaleRead(sim.now, node.ref, record.key, record.version, record.latest_acked)
                    self.stale_reads.append(event)
                    for listener in sim.listeners:
                        listener(event)
            elif record.key not in self._acked or record.version > self._acked[record.key][0]:
                self._acked[record.key] = (record.version, sim.now)
            self.stats.ok[record.kind] += 1
        else:
            record.ok = False
            record.error = reply.code if isinstance(reply, ErrorReply) else type(reply).__name__
            self.stats.failed[record.kind] += 1
            self.stats.errors[record.error] += 1
        self._done(client, record)

    def _finish(self, client: _Client, record: Record, why: str) -> None:
        record.returned = None
        record.ok = False
        record.error = why
        self.stats.unanswered[record.kind] += 1
        self.stats.errors[why] += 1
        self._done(client, record)

    def _done(self, client: _Client, record: Record) -> None:
        record.done = True
        client.busy = False
        client.current = None
        pause = self.rng.expovariate(1.0 / self.think) if self.think > 0 else 0.0
        self.sim.scheduler.after(pause, self._next, client)


# ------------------------------------------------------------------------------------------ churn


class ReplicaSafeChurn(PoissonChurn):
    """Joins, graceful leaves and crashes at Poisson rates that a ring with k replicas must
    survive without losing or corrupting data.

    A leave or crash happens only if Zave's assumptions stay true (:func:`may_fail`), at least
    ``min_nodes`` members remain, and the victim would not complete a run of ``replicas`` (k)
    ring-consecutive nodes that failed within the last ``recovery`` seconds (a node that left or
    crashed counts as failed for that long: the time the ring takes to re-replicate what it held).
    Skipped actions are counted under ``"<action>_skipped"`` in :attr:`counts`.
    """

    def __init__(
        self,
        sim: Simulation,
        *,
        join_rate: float = 0.0,
        leave_rate: float = 0.0,
        crash_rate: float = 0.0,
        min_nodes: int = 0,
        recovery: float = 10.0,
        replicas: int | None = None,
        start: float | None = None,
        stop: float | None = None,
    ) -> None:
        self.recovery = recovery
        self.replicas = replicas if replicas is not None else sim.config.replicas
        self.failed_at: dict[int, float] = {}  # node id -> when it left or crashed
        super().__init__(sim, join_rate, leave_rate, crash_rate, min_nodes, respect_zave=True, start=start, stop=stop)

    def _may_take(self, victim: ChordNode) -> bool:
        return super()._may_take(victim) and self.spares_replicas(victim)

    def _taking(self, victim: ChordNode) -> None:
        self.failed_at[victim.id] = self.sim.now

    def spares_replicas(self, victim: ChordNode) -> bool:
        """Whether ``victim`` failing now leaves fewer than k consecutive recent failures."""
        now = self.sim.now
        recent = {nid for nid, when in self.failed_at.items() if now - when < self.recovery}
        recent.discard(victim.id)
        ring = sorted(set(self.sim.members) | recent)
        failed = [*recent, victim.id]
        if len(failed) >= len(ring):
            return False
        down = set(failed)
        at = bisect.bisect_left(ring, victim.id)
        run = 1
        for step in (1, -1):
            i = (at + step) % len(ring)
            while ring[i] in down and ring[i] != victim.id:
                run += 1
                i = (i + step) % len(ring)
        return run < self.replicas
