"""A whole Chord network on virtual time: the second driver of the unchanged core.

:class:`Simulation` does for thousands of :class:`~chordial.core.node.ChordNode` objects what
the asyncio runtime does for one: it feeds each node the (virtual) time, delivers the calls its
procedures yield through a simulated :class:`~chordial.sim.network.Network`, throws
``PeerFailed`` into a procedure when a call times out, and fires each node's timers. Crashed
nodes drop everything; messages to them time out at the caller's deadline.
"""

from __future__ import annotations

import bisect
import gc
import hashlib
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import GeneratorType
from typing import Any, cast

from sortedcontainers import SortedList

from chordial.core.config import ChordConfig
from chordial.core.effects import Call, ChordError, PeerFailed, Procedure, Spawn
from chordial.core.events import Event, InvariantViolated
from chordial.core.ids import distance, finger_start, node_id_for
from chordial.core.invariants import Violation, check_ring, correctness
from chordial.core.messages import ErrorReply, NodeRef, Request, Response
from chordial.core.node import ChordNode, LookupResult, error_reply
from chordial.sim.network import LatencyModel, Network
from chordial.sim.scheduler import Scheduler

Done = Callable[[Any, BaseException | None], None]


def _ignore_done(_: Any, __: BaseException | None) -> None:
    return None


class _Task:
    """A procedure running on one node; ``done`` gets its result or the exception that ended it."""

    __slots__ = ("done", "gen", "node")

    def __init__(self, node: ChordNode, gen: Procedure[Any], done: Done) -> None:
        self.node = node
        self.gen = gen
        self.done = done


@dataclass
class LookupStats:
    """Lookups issued by the workload (not the ones fix_fingers and join make)."""

    ok: int = 0
    failed: int = 0
    wrong_owner: int = 0
    timeouts: int = 0
    hops: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.ok + self.failed

    def mean_hops(self) -> float:
        count = sum(self.hops.values())
        return sum(h * c for h, c in self.hops.items()) / count if count else 0.0

    def hop_percentile(self, fraction: float) -> int:
        count = sum(self.hops.values())
        if not count:
            return 0
        rank = fraction * (count - 1)
        seen = 0
        for hops in sorted(self.hops):
            seen += self.hops[hops]
            if seen > rank:
                return hops
        return max(self.hops)


class Simulation:
    """Nodes, network, scheduler and the truth about membership, all seeded by one ``seed``."""

    def __init__(
        self,
        config: ChordConfig | None = None,
        *,
        seed: int = 0,
        latency: LatencyModel | None = None,
        loss: float = 0.0,
        record_events: bool = True,
    ) -> None:
        self.config = config or ChordConfig(
            stabilize_period=30.0,
            fix_fingers_period=30.0,
            check_predecessor_period=30.0,
            repair_period=30.0,
            rpc_timeout=0.5,
        )
        self.seed = seed
        self.rng = random.Random(seed)
        self.scheduler = Scheduler()
        self.network = Network(random.Random(self.rng.getrandbits(64)), latency, loss)
        # One stream for every node's own choices: a Random per node would cost ~5 KB each
        # (10⁵ nodes: half a gigabyte), and one thread of events keeps a shared stream seeded.
        self.node_rng = random.Random(self.rng.getrandbits(64))
        self.nodes: dict[str, ChordNode] = {}
        self.members: SortedList = SortedList()  # ids of active nodes: the true ring
        self._by_id: dict[int, ChordNode] = {}
        self.record_events = record_events
        self.events: list[Event] = []
        self._digest = hashlib.sha256()
        self.listeners: list[Callable[[Event], None]] = []
        self.lookups = LookupStats()
        self.violations: list[tuple[float, list[Violation]]] = []
        self.invariant_checks = 0
        self._next_port = 1
        self._ring_size = 1 << self.config.id_bits

    # ------------------------------------------------------------------------------ time

    @property
    def now(self) -> float:
        return self.scheduler.now

    def run(self, until: float, stop: Callable[[], bool] | None = None) -> None:
        """Run to virtual time ``until``, or until ``stop()`` holds after an event."""
        self.scheduler.run_until(until, stop)

    def run_for(self, duration: float, stop: Callable[[], bool] | None = None) -> None:
        self.scheduler.run_until(self.now + duration, stop)

    # ------------------------------------------------------------------------------ membership

    def _new_node(self, node_id: int | None, address: str | None) -> ChordNode:
        if address is None:
            address = f"sim-{self._next_port}"
            self._next_port += 1
        nid = node_id_for(address, self.config.id_bits) if node_id is None else node_id
        while nid in self._by_id and self._by_id[nid].status != "stopped":
            nid = (nid + 1) % self._ring_size  # hash collision on a small ring: take the next free id
        node = ChordNode(address, self.config, rng=self.node_rng, node_id=nid, sink=self._on_event)
        node.now = self.now
        self.nodes[address] = node
        self._by_id[nid] = node
        return node

    def _became_member(self, node: ChordNode) -> None:
        self.members.add(node.id)
        self._arm(node)

    def create(self, node_id: int | None = None, address: str | None = None) -> ChordNode:
        """Start a ring with one node."""
        node = self._new_node(node_id, address)
        node.create()
        self._became_member(node)
        return node

    def join(
        self,
        via: ChordNode | None = None,
        node_id: int | None = None,
        address: str | None = None,
        done: Done = _ignore_done,
    ) -> ChordNode:
        """Start a node that joins through ``via`` (a random member when not given); ``done``
        hears how the join ended."""
        if via is None:
            via = self.random_member()
        node = self._new_node(node_id, address)

        def joined(result: object, failure: BaseException | None) -> None:
            if failure is None and node.status == "active":
                self._became_member(node)
            done(result, failure)

        self.spawn(node, node.join(via.ref.address), joined)
        return node

    def build_ideal(self, count: int, ids: Iterable[int] | None = None, *, freeze_gc: bool = True) -> list[ChordNode]:
        """Create ``count`` nodes already in the Ideal state (right successors, predecessors and
        fingers), as if they had joined and converged. Starts the ring at scale in one step.

        ``freeze_gc`` moves every object alive now out of the cyclic collector's reach
        (``gc.freeze``) — process-wide, so a long-lived host (the conductor) may prefer not to."""
        wanted = sorted(set(ids)) if ids is not None else None
        nodes = [self._new_node(wanted[i] if wanted else None, None) for i in range(count)]
        nodes.sort(key=lambda n: n.id)
        ordered = [n.id for n in nodes]
        size, bits, r = len(nodes), self.config.id_bits, self.config.successors
        refs = [n.ref for n in nodes]
        for i, node in enumerate(nodes):
            successors = [refs[(i + k) % size] for k in range(1, min(r, size - 1) + 1)]
            fingers: list[NodeRef | None] = []
            while len(fingers) < bits:
                # Finger k's owner also owns every later finger whose start is within reach.
                j = bisect.bisect_left(ordered, finger_start(node.id, len(fingers), bits)) % size
                if j == i:
                    fingers += [None] * (bits - len(fingers))
                    break
                reach = min(bits, distance(node.id, ordered[j], bits).bit_length())
                fingers += [refs[j]] * (reach - len(fingers))
            node.bootstrap(refs[i - 1] if size > 1 else None, successors, fingers)
            self._became_member(node)
        # The ring's objects live as long as the run: keep the cyclic collector from walking
        # them again and again (at 10⁵ nodes that walk cost more than the protocol itself).
        if freeze_gc:
            gc.freeze()
        return nodes

    def crash(self, node: ChordNode) -> None:
        """Fail-stop: the node stops at once; its state is lost and calls to it time out."""
        if node.status != "stopped":
            node.stop()
            self.members.discard(node.id)

    def leave(self, node: ChordNode, done: Done = _ignore_done) -> None:
        """Graceful leave through the protocol (keys to the successor, neighbours told)."""
        if node.status != "active":
            return
        self.members.discard(node.id)
        self.spawn(node, node.leave(), done)

    def restart(self, node: ChordNode, done: Done = _ignore_done) -> ChordNode:
        """Bring a crashed node's address back with fresh state; it joins again."""
        self.crash(node)
        return self.join(address=node.ref.address, node_id=node.id, done=done)

    def live(self) -> list[ChordNode]:
        """Members in ring order."""
        return [self._by_id[i] for i in self.members]

    def random_member(self, rng: random.Random | None = None) -> ChordNode:
        """A member chosen by ``rng`` (the simulation's own stream when not given)."""
        return self._by_id[self.members[(rng or self.rng).randrange(len(self.members))]]

    def node(self, node_id: int) -> ChordNode | None:
        """The node that has (or last had) ``node_id``."""
        return self._by_id.get(node_id)

    def owner_of(self, kid: int) -> int:
        """The true successor of ``kid`` among the members."""
        members = self.members
        return int(members[members.bisect_left(kid) % len(members)])

    # ------------------------------------------------------------------------------ procedures

    def spawn(self, node: ChordNode, proc: Procedure[Any], done: Done = _ignore_done) -> None:
        self._advance(_Task(node, proc, done), None, None)

    def _advance(self, task: _Task, value: Any, failure: BaseException | None) -> None:
        node = task.node
        if node.status == "stopped":
            return  # the node crashed or left: its procedures died with it (their callers time out)
        node.now = self.scheduler.now
        try:
            effect = task.gen.throw(failure) if failure is not None else task.gen.send(value)
        except StopIteration as stop:
            task.done(stop.value, None)
            return
        except ChordError as exc:
            task.done(None, exc)
            return
        if isinstance(effect, Call):
            self._send(task, effect)
        elif isinstance(effect, Spawn):
            self.spawn(node, effect.procedure)
            self._advance(task, None, None)
        else:
            self.scheduler.after(effect.seconds, self._advance, task, None, None)

    def _send(self, task: _Task, call: Call) -> None:
        net = self.network
        net.sent[type(call.request)] += 1
        target = self.nodes.get(call.target.address)
        sched = self.scheduler
        if (
            target is None
            or target.status == "stopped"
            or (net.loss and net.lost())
            or (net.partitioned and net.cut_off(task.node.ref.address, call.target.address))
        ):
            net.dropped += 1
            sched.after(call.timeout, self._advance, task, None, PeerFailed(call.target, "timed out"))
            return
        sched.after(net.delay(), self._deliver, task, call, target, sched.now)

    def _deliver(self, task: _Task, call: Call, target: ChordNode, sent_at: float) -> None:
        if target.status == "stopped":
            self.scheduler.at(sent_at + call.timeout, self._advance, task, None, PeerFailed(call.target, "timed out"))
            return
        target.now = self.scheduler.now
        result = target.handle(call.request)
        if type(result) is GeneratorType:  # a procedure (cheaper than an ABC isinstance)
            # The serving procedure may never end (its node crashes midway): the caller's
            # deadline then decides, exactly once, whichever comes first.
            settled = [False]

            def replied(reply: Any, failure: BaseException | None) -> None:
                if not settled[0]:
                    settled[0] = True
                    self._reply(task, call, target, reply if failure is None else error_reply(failure), sent_at)

            def expired() -> None:
                if not settled[0]:
                    settled[0] = True
                    self._advance(task, None, PeerFailed(call.target, "timed out"))

            self.scheduler.at(sent_at + call.timeout, expired)
            self.spawn(target, cast("Procedure[Response]", result), replied)
        else:
            self._reply(task, call, target, cast("Response", result), sent_at)

    def _reply(self, task: _Task, call: Call, target: ChordNode, reply: Response, sent_at: float) -> None:
        net = self.network
        sched = self.scheduler
        deadline = sent_at + call.timeout
        arrival = sched.now + net.delay()
        if (
            arrival > deadline
            or (net.loss and net.lost())
            or (net.partitioned and net.cut_off(target.ref.address, task.node.ref.address))
        ):
            sched.at(deadline, self._advance, task, None, PeerFailed(call.target, "timed out"))
            return
        if type(reply) is ErrorReply and reply.code == "unavailable":
            sched.at(arrival, self._advance, task, None, PeerFailed(call.target, reply.message))
            return
        sched.at(arrival, self._advance, task, reply, None)

    def request(self, node: ChordNode, request: Request, done: Done = _ignore_done) -> None:
        """Serve ``request`` at ``node`` as if a client had sent it (no client-side latency)."""
        node.now = self.now
        result = node.handle(request)
        if isinstance(result, GeneratorType):
            self.spawn(
                node, result, lambda reply, failure: done(reply if failure is None else error_reply(failure), None)
            )
        else:
            done(result, None)

    def lookup(self, node: ChordNode, kid: int, done: Done = _ignore_done) -> None:
        """A workload lookup from ``node``: counted in :attr:`lookups` and checked against the truth."""
        started = self.now
        stats = self.lookups

        def finished(result: LookupResult | None, failure: BaseException | None) -> None:
            if failure is not None or result is None:
                stats.failed += 1
            else:
                stats.ok += 1
                stats.hops[result.hops] += 1
                stats.timeouts += result.timeouts
                stats.latencies.append(self.now - started)
                if result.owner.id != self.owner_of(kid):
                    stats.wrong_owner += 1
            done(result, failure)

        self.spawn(node, node.lookup(kid, purpose="workload"), finished)

    # ------------------------------------------------------------------------------ timers

    def _arm(self, node: ChordNode) -> None:
        deadline = node.next_deadline()
        if deadline is not None:
            self.scheduler.at(deadline, self._fire, node)

    def _fire(self, node: ChordNode) -> None:
        if node.status == "stopped":
            return
        node.now = self.scheduler.now
        for proc in node.on_timer():
            self.spawn(node, proc)
        self._arm(node)

    # ------------------------------------------------------------------------------ events

    def _on_event(self, event: Event) -> None:
        if self.record_events:
            self.events.append(event)
            self._digest.update(repr(event).encode())
        for listener in self.listeners:
            listener(event)

    def digest(self) -> str:
        """SHA-256 over every recorded event: equal digests mean identical runs."""
        return self._digest.hexdigest()

    # ------------------------------------------------------------------------------ checks

    def check_invariants(self) -> list[Violation]:
        """Zave's invariants over the current members (see :mod:`chordial.core.invariants`)."""
        self.invariant_checks += 1
        violations = check_ring(self.live(), self.config.successors)
        if violations:
            self.violations.append((self.now, violations))
            for violation in violations:
                first = self._by_id.get(violation.nodes[0]) if violation.nodes else None
                where = first.ref if first is not None else NodeRef(-1, "")
                self._on_event(
                    InvariantViolated(self.now, where, violation.invariant, violation.nodes, violation.detail)
                )
        return violations

    def check_every(self, interval: float) -> None:
        """Check the invariants every ``interval`` virtual seconds for the rest of the run,
        once at least r + 1 members exist (Zave's precondition)."""

        def tick() -> None:
            if len(self.members) > self.config.successors:
                self.check_invariants()
            self.scheduler.after(interval, tick)

        self.scheduler.after(interval, tick)

    def correctness(self) -> dict[str, float]:
        return correctness(self.live())

    def keys_per_node(self) -> list[int]:
        """Live keys each member owns (its share of the ring; replicas not counted)."""
        return [n.state().key_count for n in self.live()]
