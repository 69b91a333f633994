"""One Chord node as a pure state machine (Stoica et al. 2001, with Zave's 2015 corrections).

The node never performs I/O and never reads a clock. A driver (the asyncio runtime or the
simulator) does four things with it:

* sets :attr:`ChordNode.now` before every entry into the core;
* asks :meth:`ChordNode.handle` to serve an incoming request — the answer is a reply, or a
  procedure (generator) whose return value is the reply;
* calls :meth:`ChordNode.on_timer` at :meth:`ChordNode.next_deadline` and runs the procedures it
  returns (stabilize, fix_fingers, check_predecessor);
* runs the procedures returned by :meth:`ChordNode.join` and :meth:`ChordNode.leave`.

Procedures yield :class:`~chordial.core.effects.Call` / :class:`~chordial.core.effects.Sleep`
effects; see :mod:`chordial.core.effects`.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, replace
from random import Random
from typing import Literal

from chordial.core.config import ChordConfig
from chordial.core.effects import (
    Call,
    ChordError,
    LookupError_,
    PeerFailed,
    Procedure,
    RemoteError,
    Sleep,
    expect,
)
from chordial.core.events import (
    Event,
    FingerUpdated,
    KeysTransferred,
    KeyWritten,
    LookupCompleted,
    LookupFailed,
    NodeJoined,
    NodeLeft,
    PeerFailedEvent,
    PredecessorChanged,
    SuccessorChanged,
)
from chordial.core.ids import between, between_right_incl, distance, finger_start, key_id, node_id_for
from chordial.core.messages import (
    Ack,
    ClientDelete,
    ClientGet,
    ClientLookup,
    ClientPut,
    DataReply,
    Entry,
    ErrorReply,
    Fetch,
    FetchReply,
    FindStep,
    GetNeighbours,
    GetState,
    KeyList,
    Leave,
    LeaveNotice,
    ListKeys,
    Neighbours,
    NodeRef,
    NodeState,
    Notify,
    Ping,
    Pong,
    Replicate,
    Request,
    Response,
    StepReply,
    Store,
    StoreReply,
    SyncRange,
    TransferKeys,
)
from chordial.core.replication import Replication, chunks
from chordial.core.store import KeyStore

Status = Literal["new", "joining", "active", "leaving", "stopped"]
EventSink = Callable[[Event], None]
Handled = Response | Procedure[Response]

STABILIZE = "stabilize"
FIX_FINGERS = "fix_fingers"
CHECK_PREDECESSOR = "check_predecessor"
REPAIR = "repair"

STABILIZE_WALK = 8
"""Closer successors one stabilize round may adopt in a row (Zave's stabilize adopts one)."""

NOTIFY_TIMEOUTS = 4
"""A notify's deadline in RPC timeouts: the reply waits for rectify's pings and any takeover."""

REJOIN_ROUNDS = 20
"""Stabilize rounds a node that lost every successor tries to rejoin before it takes itself for
the whole ring (see :meth:`ChordNode._rejoin`)."""


@dataclass(frozen=True, slots=True)
class LookupResult:
    """Outcome of an iterative lookup: the owner, who named it, and the path walked.

    ``path`` starts at the node that ran the lookup and ends at the owner; every element after
    the first is one hop (an RPC to another node, the final hop to the owner included).
    """

    key_id: int
    owner: NodeRef
    predecessor: NodeRef
    successors: tuple[NodeRef, ...]
    path: tuple[NodeRef, ...]
    timeouts: int

    @property
    def hops(self) -> int:
        return len(self.path) - 1


def _ignore(_: Event) -> None:
    return None


class ChordNode:
    """The state and procedures of one Chord node.

    State follows Zave's corrected protocol: a successor list of length ≤ r that never lists
    the node itself (empty means the node is alone), a predecessor that only rectify changes
    (and check_predecessor clears when it is dead), fingers that are hints and never feed the
    successor list.
    """

    def __init__(
        self,
        address: str,
        config: ChordConfig | None = None,
        *,
        rng: Random,
        node_id: int | None = None,
        sink: EventSink | None = None,
    ) -> None:
        self.config = config or ChordConfig()
        bits = self.config.id_bits
        nid = node_id_for(address, bits) if node_id is None else node_id
        if not 0 <= nid < (1 << bits):
            raise ValueError(f"node id {nid} does not fit in {bits} bits")
        self.ref = NodeRef(nid, address)
        self.id = nid
        self.rng = rng
        self.now = 0.0
        self.sink: EventSink = sink or _ignore
        self.status: Status = "new"
        self.successors: list[NodeRef] = []
        self.predecessor: NodeRef | None = None
        # The low end of this node's range while it has no predecessor: the id of the last one.
        # A cleared predecessor does not make a node the owner of the whole ring — only the next
        # notifier's arrival tells how far its range now reaches (Zave: ownership follows the
        # predecessor pointer).
        self._floor = nid
        # Former successors and fingers of a node that lost every successor (a partition, or
        # more than r failures): it tries to rejoin through them, and meanwhile does not take
        # itself for a ring of one that owns every key.
        self._rejoin_via: list[NodeRef] = []
        self._rejoin_rounds = 0
        self._incoming: dict[int, list[Entry]] = {}  # chunks of a transfer still in progress, by sender
        self.fingers: list[NodeRef | None] = [None] * bits
        self.store = KeyStore(bits)
        # A joined node serves data only once its successor handed it its share of the keys.
        self.awaiting_handoff = False
        self._finger_nodes: tuple[NodeRef, ...] = ()
        self._route_distances: list[int] = []
        self._route_refs: list[NodeRef] = []
        self._next_finger = 0
        self._running: set[str] = set()
        self._due: dict[str, float] = {}
        cfg = self.config
        self._periodic: dict[str, tuple[float, Callable[[], Procedure[None]]]] = {
            STABILIZE: (cfg.stabilize_period, self.stabilize),
            FIX_FINGERS: (cfg.fix_fingers_period, self.fix_fingers),
            CHECK_PREDECESSOR: (cfg.check_predecessor_period, self.check_predecessor),
        }
        self.replication = Replication(self)
        if self.replication.enabled:
            self._periodic[REPAIR] = (cfg.repair_period, self.replication.repair)

    # ------------------------------------------------------------------------------------ views

    @property
    def successor(self) -> NodeRef:
        """First entry of the successor list, or the node itself when it is alone."""
        return self.successors[0] if self.successors else self.ref

    @property
    def range_floor(self) -> int:
        """The exclusive low end of the range this node answers for: its predecessor's id, or
        while it has none, the last predecessor's (its own id when it is alone: the whole ring)."""
        if self.predecessor is not None:
            return self.predecessor.id
        return self._floor if self.successors or self._rejoin_via else self.id

    def owns(self, kid: int) -> bool:
        """Whether this node answers for ``kid``: it lies in (predecessor, self] (Chord §4.2).

        A node whose predecessor was cleared keeps answering for its old range only, until a
        notifier (rectify) extends it; a node that has joined but not yet received its keys
        answers for nothing.
        """
        if self.status != "active" or self.awaiting_handoff:
            return False
        return between_right_incl(self.range_floor, kid, self.id)

    def _clear_predecessor(self) -> None:
        old = self.predecessor
        if old is None:
            return
        self.replication.note_range(old.id, self.id)
        self._floor = old.id
        self.predecessor = None
        self.emit(PredecessorChanged(self.now, self.ref, old, None))

    def state(self) -> NodeState:
        """Routing state and key counts: keys this node owns, and copies it holds for others."""
        floor = self.range_floor
        owned = sum(1 for e in self.store.entries_in(floor, self.id) if not e.deleted)
        pred = self.predecessor
        return NodeState(
            node=self.ref,
            predecessor=pred,
            successors=tuple(self.successors),
            fingers=tuple(self.fingers),
            key_count=owned,
            id_bits=self.config.id_bits,
            status=self.status,
            replica_count=len(self.store) - owned,
        )

    # ------------------------------------------------------------------------------------ life cycle

    def create(self) -> None:
        """Start a new ring with this node as its only member."""
        self._require_status("new")
        self.status = "active"
        self._arm_timers()
        self.emit(NodeJoined(self.now, self.ref, None))

    def bootstrap(
        self, predecessor: NodeRef | None, successors: Iterable[NodeRef], fingers: Iterable[NodeRef | None]
    ) -> None:
        """Start as a member of an existing ring in the given state, without running join.

        Used to begin simulations from a correct (Ideal) ring of many nodes at once; the state
        given must be what join and stabilize would have produced.
        """
        self._require_status("new")
        self.status = "active"
        self.predecessor = predecessor
        self.successors = []
        self._set_successors(successors)
        for index, finger in enumerate(fingers):
            self.fingers[index] = finger
        self._finger_nodes = tuple(dict.fromkeys(f for f in self.fingers if f is not None))
        self._rebuild_routes()
        self._arm_timers()

    def lookup(self, kid: int, purpose: str = "lookup") -> Procedure[LookupResult]:
        """Find the owner of ``kid`` from this node (see :meth:`_lookup`)."""
        return self._lookup(kid, purpose=purpose)

    def join(self, bootstrap: str) -> Procedure[None]:
        """Join the ring through any live member at ``bootstrap`` (Zave §4, Join).

        Finds the member m with ``between(m, self, m.succ)``, re-reads m's successor list and
        re-checks that test on the fresh reply (retrying if a concurrent join got in first), then
        takes m's list as its own and m as predecessor. The node is then an appendage: the ring
        reaches it once m stabilizes, and its successor hands over its keys when it rectifies.
        """
        self._require_status("new")
        self.status = "joining"
        return self._join_or_reset(bootstrap)

    def _join_or_reset(self, bootstrap: str) -> Procedure[None]:
        try:
            yield from self._join(bootstrap)
        finally:
            if self.status == "joining":
                self.status = "new"  # a failed join leaves the node free to try again

    def _join(self, bootstrap: str) -> Procedure[None]:
        timeout = self.config.rpc_timeout
        pong = expect((yield Call(NodeRef(-1, bootstrap), Ping(), timeout)), Pong)
        if pong.id_bits != self.config.id_bits:
            raise ChordError(
                f"wrong ring: {bootstrap} uses {pong.id_bits}-bit ids, this node {self.config.id_bits}",
                "failed_precondition",
            )
        cfg = self.config
        if pong.replicas and (pong.replicas, pong.consistency) != (cfg.replicas, cfg.consistency):
            raise ChordError(
                f"wrong ring: {bootstrap} keeps {pong.replicas} copies ({pong.consistency}), "
                f"this node {cfg.replicas} ({cfg.consistency})",
                "failed_precondition",
            )
        if pong.node.id == self.id:
            raise ChordError(f"node id {self.id} is already taken by {pong.node.address}", "failed_precondition")
        for attempt in range(self.config.data_op_attempts * 2):
            if attempt:
                yield Sleep(self.config.retry_backoff * attempt)
            result = yield from self._lookup(self.id, start=pong.node, purpose="join")
            m = result.predecessor
            try:
                fresh = expect((yield Call(m, GetNeighbours(), timeout)), Neighbours)
            except PeerFailed:
                continue
            if m.id == self.id or any(s.id == self.id for s in fresh.successors):
                raise ChordError(f"node id {self.id} is already in the ring", "failed_precondition")
            head = fresh.successors[0] if fresh.successors else m
            if not between(m.id, self.id, head.id):
                continue  # another node joined between m and its successor meanwhile
            successors = yield from self._first_live_list(fresh.successors or (m,))
            if successors is None:
                continue  # m lists only dead nodes: wait for its stabilize (Zave: join needs a live successor)
            self.predecessor = m
            self._set_successors(successors)
            self.status = "active"
            self.awaiting_handoff = True
            self._arm_timers()
            self.emit(NodeJoined(self.now, self.ref, self.successor))
            self.emit(PredecessorChanged(self.now, self.ref, None, m))
            return
        raise ChordError(f"could not find a stable place to join through {bootstrap}", "unavailable")

    def _first_live_list(self, candidates: Iterable[NodeRef]) -> Procedure[list[NodeRef] | None]:
        """The successor list that starts at the first candidate that answers, from its reply."""
        for cand in candidates:
            try:
                reply = expect((yield Call(cand, GetNeighbours(), self.config.rpc_timeout)), Neighbours)
            except PeerFailed:
                continue
            return [cand, *reply.successors]
        return None

    def leave(self) -> Procedure[None]:
        """Leave gracefully: hand every key to the successor, splice out, stop.

        Not part of Zave's model; done as she suggests: the successor receives the keys and this
        node's predecessor in one message (so it owns the range from then on), then the
        predecessor is told to replace this node by its successor list.
        """
        if self.status != "active":
            raise ChordError(f"node is {self.status}, not active", "failed_precondition")
        self.status = "leaving"
        return self._leave()

    def _leave(self) -> Procedure[None]:
        timeout = self.config.rpc_timeout
        # Writes in flight here finish before the store is handed on.
        yield from self.replication.wait_for(self.replication.idle)
        entries = self.store.pop_all()
        handed_to: NodeRef | None = None
        for succ in list(self.successors):
            try:
                yield from self._transfer(succ, entries, leaving=True, predecessor=self.predecessor)
            except PeerFailed:
                continue
            handed_to = succ
            break
        if handed_to is None and entries and self.successors:
            self.store.merge(entries)  # nobody took them: keep them rather than lose them
            self.status = "active"
            raise ChordError("no live successor took the keys; still in the ring", "unavailable")
        if handed_to is not None:
            self.emit(KeysTransferred(self.now, self.ref, handed_to, len(entries), True, "leave"))
        pred = self.predecessor
        if pred is not None and pred.id != self.id:
            with contextlib.suppress(PeerFailed):  # if it is gone too, its successor's stabilize copes
                yield Call(pred, LeaveNotice(self.ref, tuple(self.successors)), timeout)
        self.stop()
        self.emit(NodeLeft(self.now, self.ref))

    def stop(self) -> None:
        """Stop taking part (after a leave, or to model a crash: state is simply abandoned)."""
        self.status = "stopped"
        self._due.clear()

    # ------------------------------------------------------------------------------------ timers

    def _arm_timers(self) -> None:
        # Random phases so that nodes started together do not stabilize in lock-step.
        for name, (period, _) in self._periodic.items():
            self._due[name] = self.now + self.rng.uniform(0.1, 1.0) * period

    def next_deadline(self) -> float | None:
        """When :meth:`on_timer` next has work, in the driver's clock; ``None`` when stopped."""
        return min(self._due.values()) if self._due else None

    def on_timer(self) -> list[Procedure[None]]:
        """Start the periodic procedures that are due at :attr:`now`.

        A procedure still running from its previous period is not started twice (Zave: a node
        runs one maintenance operation of each kind at a time).
        """
        if self.status not in ("active", "leaving"):
            return []
        started: list[Procedure[None]] = []
        now = self.now
        for name, due in self._due.items():
            if due > now:
                continue
            period, body = self._periodic[name]
            self._due[name] = now + period
            if name not in self._running and self.status == "active":
                started.append(self._exclusive(name, body()))
        return started

    def _exclusive(self, name: str, proc: Procedure[None]) -> Procedure[None]:
        self._running.add(name)
        try:
            yield from proc
        finally:
            self._running.discard(name)

    # ------------------------------------------------------------------------------------ stabilize

    def stabilize(self) -> Procedure[None]:
        """Zave's stabilize: learn the successor's list, adopt a closer successor if one
        appeared, then notify the head of the list.

        Step 1 queries ``succ[0]``; a dead head is dropped and the next entry tried (never is an
        unqueried node adopted). Step 2 queries the successor's predecessor p when
        ``between(self, p, succ)`` and adopts p's list only if p answers. Every path ends by
        notifying the current head.
        """
        timeout = self.config.rpc_timeout
        before = self.successors  # _set_successors replaces the list, so this one stays as it was
        while self.successors:
            head = self.successors[0]
            reply = yield from self._query_neighbours(head)
            if reply is None:
                self.peer_failed(head, STABILIZE)
                # By id, not position: a leave notice may have spliced the list meanwhile.
                self._set_successors(s for s in self.successors if s.id != head.id)
                if not self.successors:
                    known = [*before, *self._finger_nodes]
                    self._rejoin_via = list(dict.fromkeys(n for n in known if n.id != self.id))
                    self._rejoin_rounds = 0
                continue
            self._set_successors([head, *reply.successors])
            # Adopt a closer successor, and keep walking back while the new one names a closer
            # predecessor still: a node that joined a ring in flux may start far round the ring,
            # and one hop per round would take it as many rounds as nodes it skipped.
            candidate = reply.predecessor
            for _ in range(STABILIZE_WALK):
                if candidate is None or not between(self.id, candidate.id, self.successor.id):
                    break
                adopted = yield from self._try_adopt_head(candidate)
                if adopted is None:
                    break
                candidate = adopted.predecessor
            break
        else:
            if self._rejoin_via:
                yield from self._rejoin()
                if self.successors:
                    return
            # Alone: the ring grows when a joiner has rectified us; adopt it once it answers.
            candidate = self.predecessor
            if candidate is None or candidate.id == self.id:
                return
            yield from self._try_adopt_head(candidate)
        if self.successors:
            head = self.successors[0]
            # Rectify may ping the receiver's old predecessor twice and take its range over
            # before replying: allow for that rather than take a busy successor for dead.
            notify = Notify(self.ref, self.awaiting_handoff)
            try:
                reply = expect((yield Call(head, notify, timeout * NOTIFY_TIMEOUTS)), Neighbours)
            except PeerFailed:
                self.peer_failed(head, STABILIZE)
                return
            if reply.predecessor is not None and reply.predecessor.id == self.id:
                self.awaiting_handoff = False  # the successor handed our keys over before replying

    def refresh_successors(self) -> Procedure[None]:
        """One full stabilize round now (after the one under way, if any): a node about to
        take over a range reconciles it with the successors that really replicate it."""
        if STABILIZE in self._running and not (
            yield from self.replication.wait_for(lambda: STABILIZE not in self._running)
        ):
            return
        yield from self._exclusive(STABILIZE, self.stabilize())

    def _rejoin(self) -> Procedure[None]:
        """A node that lost every successor looks for the rest of its ring through the nodes it
        knew, and joins it again as a joiner would (Chord §4.4) — keeping its store, serving
        nothing until its new successor has handed it its range (the ring went on without it)."""
        timeout = self.config.rpc_timeout
        self._rejoin_rounds += 1
        if self._rejoin_rounds > REJOIN_ROUNDS:
            # Nobody it knew came back: it is what is left of the ring, and owns all of it.
            self._rejoin_via = []
            return
        tried, self._rejoin_via = self._rejoin_via[:3], [*self._rejoin_via[3:], *self._rejoin_via[:3]]
        for peer in tried:
            try:
                found = yield from self._lookup(self.id, start=peer, purpose="join")
                m = found.predecessor
                if m.id == self.id:
                    continue
                fresh = expect((yield Call(m, GetNeighbours(), timeout)), Neighbours)
            except (PeerFailed, LookupError_):
                continue
            others = [s for s in fresh.successors if s.id != self.id] or [m]
            if not between(m.id, self.id, others[0].id):
                continue
            successors = yield from self._first_live_list(others)
            if successors is None:
                continue
            self._rejoin_via = []
            old = self.predecessor
            self.predecessor = m
            self.awaiting_handoff = True
            self._set_successors(successors)
            if old != m:
                self.emit(PredecessorChanged(self.now, self.ref, old, m))
            return

    def _query_neighbours(self, head: NodeRef, attempts: int = 2) -> Procedure[Neighbours | None]:
        """Step 1 of stabilize, asked twice before the head is taken for dead: dropping a live
        successor on one slow reply (a latency tail, a busy peer) can cost the ring a principal."""
        for _ in range(attempts):
            try:
                return expect((yield Call(head, GetNeighbours(), self.config.rpc_timeout)), Neighbours)
            except PeerFailed:
                continue
        return None

    def _try_adopt_head(self, candidate: NodeRef) -> Procedure[Neighbours | None]:
        """Zave's step 2: adopt ``candidate``'s list only if it answers; returns its answer."""
        try:
            reply = expect((yield Call(candidate, GetNeighbours(), self.config.rpc_timeout)), Neighbours)
        except PeerFailed:
            self.peer_failed(candidate, STABILIZE)
            return None
        self._set_successors([candidate, *reply.successors])
        return reply

    def _set_successors(self, nodes: Iterable[NodeRef]) -> None:
        """Replace the successor list: ring order from this node, cut where the list comes back
        around to this node, no duplicates, at most r entries (Zave: NoDuplicates, r bound)."""
        fresh: list[NodeRef] = []
        seen: set[int] = set()
        for node in nodes:
            if node.id == self.id:
                break
            if node.id in seen:
                continue
            seen.add(node.id)
            fresh.append(node)
            if len(fresh) == self.config.successors:
                break
        old = self.successor
        changed = fresh != self.successors
        self.successors = fresh
        if fresh:
            self._rejoin_via = []
        if changed:
            self._rebuild_routes()
            self.emit(SuccessorChanged(self.now, self.ref, old, self.successor, tuple(fresh)))

    # ------------------------------------------------------------------------------------ rectify

    def _on_notify(self, request: Notify) -> Handled:
        """Rectify (Zave) plus the key handoff of Chord §4.4.

        The reply is this node's neighbours *after* rectify and after any keys that now belong
        to the notifier were handed over, so a notifier that reads itself as predecessor knows
        it holds its share of the keys.
        """
        notifier = request.node
        if not self._valid_ref(notifier):
            return ErrorReply("invalid", f"node id {notifier.id} outside the {self.config.id_bits}-bit ring")
        if notifier.id == self.id or self.status != "active":
            return self._neighbours()
        pred = self.predecessor
        if pred is not None and pred.id == notifier.id:
            # Without replication, keys outside the range are leftovers to move; with it they are
            # copies this node replicates, handed over once, when the predecessor was adopted.
            if request.awaiting_keys or (not self.replication.enabled and self.store.has_outside(pred.id, self.id)):
                return self._hand_over(notifier, pred)
            return self._neighbours()
        if pred is None:
            floor = self.range_floor
            if floor != self.id and not between(floor, notifier.id, self.id):
                # The range grows from (floor, self] to (notifier, self]: that is a dead
                # predecessor's range, held here as a replica until now.
                return self._take_over_then_adopt(notifier, floor)
            return self._adopt_predecessor(notifier)
        if between(pred.id, notifier.id, self.id):
            return self._adopt_predecessor(notifier)
        return self._rectify_after_ping(pred, notifier)

    def _neighbours(self) -> Neighbours:
        return Neighbours(self.ref, self.predecessor, tuple(self.successors))

    def _rectify_after_ping(self, pred: NodeRef, notifier: NodeRef) -> Procedure[Response]:
        """Zave's rectify: a notifier outside (prdc, self) replaces prdc only if prdc is dead."""
        if (yield from self._is_dead(pred)):
            self.peer_failed(pred, "rectify")
            if self.predecessor == pred:
                # The range grows to (notifier, self]: what was the dead node's is ours now.
                return (yield from self._take_over_then_adopt(notifier, pred.id))
        return self._neighbours()

    def _take_over_then_adopt(self, notifier: NodeRef, old_floor: int) -> Procedure[Response]:
        yield from self.replication.take_over(notifier.id, old_floor)
        if self.predecessor is not None and self.predecessor.id != old_floor:
            return self._neighbours()  # another notifier was adopted meanwhile
        if self.predecessor is None and self.range_floor != old_floor:
            return self._neighbours()
        return (yield from self._adopt_predecessor(notifier))

    def _adopt_predecessor(self, new: NodeRef) -> Procedure[Response]:
        """Take ``new`` as predecessor and hand it the keys that are now its (Chord §4.4)."""
        old = self.predecessor
        self.replication.note_range(self.range_floor, self.id)
        self.predecessor = new
        self.emit(PredecessorChanged(self.now, self.ref, old, new))
        return (yield from self._hand_over(new, old))

    def _hand_over(self, new: NodeRef, old: NodeRef | None) -> Procedure[Response]:
        """Send the predecessor ``new`` every key outside (new, self]; if it dies before taking
        them they stay here and ``old`` is predecessor again.

        With replication the keys are copied, not moved: this node stays in the new owner's
        chain, and the copies cover the ranges the newcomer replicates too. Writes still in
        flight here finish first, so the newcomer gets their final versions.
        """
        replicated = self.replication.enabled
        if replicated:
            yield from self.replication.wait_for(self.replication.idle)
        moving = self.store.copy_outside(new.id, self.id) if replicated else self.store.pop_outside(new.id, self.id)
        try:
            # ``old`` bounds the range handed over: a newcomer that joined behind another
            # concurrent joiner learns here that its predecessor is not the node it joined through.
            yield from self._transfer(new, moving, leaving=False, predecessor=old)
        except PeerFailed:
            self.peer_failed(new, "transfer")
            if not replicated:
                self.store.merge(moving)
            if self.predecessor == new:
                # Back to ``old``; when that is None the floor is still the one from before ``new``.
                self.predecessor = old
                self.emit(PredecessorChanged(self.now, self.ref, new, old))
            return self._neighbours()
        if moving:
            self.emit(KeysTransferred(self.now, self.ref, new, len(moving), True, "join"))
        return self._neighbours()

    def _transfer(
        self, peer: NodeRef, entries: list[Entry], *, leaving: bool, predecessor: NodeRef | None
    ) -> Procedure[None]:
        """Hand ``entries`` to ``peer`` in chunks (one message when they are few); the last
        chunk carries the transfer's meaning. Raises PeerFailed if any chunk is not taken."""
        parts = chunks(entries) or [()]
        for index, part in enumerate(parts):
            more = index < len(parts) - 1
            request = TransferKeys(self.ref, part, leaving=leaving, predecessor=predecessor, more=more)
            reply = yield Call(peer, request, self.config.rpc_timeout)
            if isinstance(reply, ErrorReply):
                raise PeerFailed(peer, reply.message)

    def _on_transfer(self, request: TransferKeys) -> Handled:
        if self.status != "active":
            # A leaving node already handed its store on: taking keys now would lose them. The
            # sender sees this like a dead peer and tries its next successor.
            return ErrorReply("unavailable", f"node {self.ref.address} is {self.status}")
        self.store.merge(request.entries)
        self.replication.remember(request.entries)
        arrived = self._incoming.pop(request.sender.id, [])
        arrived.extend(request.entries)
        if request.more:
            self._incoming[request.sender.id] = arrived  # act on the transfer at its last chunk
            return Ack()
        if arrived:
            reason = "leave" if request.leaving else "join"
            self.emit(KeysTransferred(self.now, self.ref, request.sender, len(arrived), False, reason))
        if not request.leaving:
            self.awaiting_handoff = False
            bound, pred = request.predecessor, self.predecessor
            if bound is not None and bound.id != self.id and (pred is None or between(pred.id, bound.id, self.id)):
                self.predecessor = bound  # a closer predecessor than the one this node joined with
                self.emit(PredecessorChanged(self.now, self.ref, pred, bound))
            return Ack()
        pred = self.predecessor
        if pred is None or pred.id == request.sender.id:
            new = request.predecessor if request.predecessor and request.predecessor.id != self.id else None
            if new is not None:
                self.predecessor = new
                self.emit(PredecessorChanged(self.now, self.ref, pred, new))
            elif pred is not None:
                # The leaver knew no predecessor: its range is ours only once a notifier says
                # where it starts.
                self._clear_predecessor()
                self._floor = request.sender.id
        self._set_successors(s for s in self.successors if s.id != request.sender.id)
        if self.replication.enabled and arrived:
            return self._pass_on_then_ack(arrived)
        return Ack()

    def _pass_on_then_ack(self, entries: list[Entry]) -> Procedure[Response]:
        yield from self.replication.pass_on(entries)
        return Ack()

    def _on_leave_notice(self, request: LeaveNotice) -> Response:
        if self.successors and self.successors[0].id == request.leaving.id:
            self._set_successors(request.successors)
        elif any(s.id == request.leaving.id for s in self.successors):
            self._set_successors(s for s in self.successors if s.id != request.leaving.id)
        self._forget_finger(request.leaving.id)
        return Ack()

    # ------------------------------------------------------------------------------------ check_predecessor

    def check_predecessor(self) -> Procedure[None]:
        """Chord §4.4 check_predecessor: clear a predecessor that no longer answers, so that this
        node takes over its range and the next notifier can be adopted."""
        pred = self.predecessor
        if pred is None or pred.id == self.id:
            return
        if not (yield from self._is_dead(pred)):
            return
        self.peer_failed(pred, CHECK_PREDECESSOR)
        if self.predecessor == pred:
            # The dead node's range becomes this node's only when the next notifier says where
            # it starts (then it is reconciled with the chain and taken over: see _on_notify).
            self._clear_predecessor()

    def _is_dead(self, peer: NodeRef, attempts: int = 2) -> Procedure[bool]:
        """Failure detection by timeout, asked twice: taking over a live node's range would
        make two heads for it, so one lost message must not be enough."""
        for _ in range(attempts):
            try:
                yield Call(peer, Ping(), self.config.rpc_timeout)
            except PeerFailed:
                continue
            return False
        return True

    # ------------------------------------------------------------------------------------ fingers

    def fix_fingers(self) -> Procedure[None]:
        """Chord §4.4 fix_fingers: refresh one finger per round by a lookup of its start.

        The owner found for finger i is also the right entry for every following finger whose
        start lies in [start_i, owner] — finger k starts 2^k after this node, so those are the
        k with 2^k ≤ distance(self, owner) — and they are filled from the same lookup; the next
        round moves to the first finger past them.
        """
        bits = self.config.id_bits
        index = self._next_finger
        try:
            result = yield from self._lookup(finger_start(self.id, index, bits), purpose="finger")
        except (LookupError_, PeerFailed):
            self._next_finger = (index + 1) % bits
            return
        owner = result.owner
        if owner.id == self.id:
            finger, last = None, index
        else:
            finger, last = owner, min(bits - 1, max(index, distance(self.id, owner.id, bits).bit_length() - 1))
        self._set_fingers(index, last, finger)
        self._next_finger = (last + 1) % bits

    def _set_fingers(self, first: int, last: int, node: NodeRef | None) -> None:
        """Point fingers first..last at ``node``; one event per run of changed entries."""
        fingers = self.fingers
        changed_from = -1
        for k in range(first, last + 1):
            old = fingers[k]
            if old is node or old == node:
                continue
            fingers[k] = node
            if changed_from < 0:
                changed_from = k
        if changed_from >= 0:
            self._finger_nodes = tuple(dict.fromkeys(f for f in fingers if f is not None))
            self._rebuild_routes()
            self.emit(FingerUpdated(self.now, self.ref, changed_from, node))

    def _set_finger(self, index: int, node: NodeRef | None) -> None:
        self._set_fingers(index, index, node)

    def _forget_finger(self, dead_id: int) -> None:
        for i, f in enumerate(self.fingers):
            if f is not None and f.id == dead_id:
                self._set_finger(i, None)

    # ------------------------------------------------------------------------------------ lookup

    def closest_preceding(self, kid: int, avoid: frozenset[int] | set[int] = frozenset()) -> NodeRef | None:
        """The known node closest before ``kid``, from the fingers and the successor list
        (Chord §4.3 closest_preceding_finger, extended to successors as in §5.3).

        Candidates are kept sorted by clockwise distance from this node, so the answer is the
        last candidate nearer than ``kid`` that is not in ``avoid``: a bisect, not a scan.
        """
        mask = (1 << self.config.id_bits) - 1
        target = (kid - self.id) & mask or mask + 1  # kid == self: the whole ring precedes it
        refs = self._route_refs
        i = bisect.bisect_left(self._route_distances, target) - 1
        while i >= 0:
            ref = refs[i]
            if ref.id not in avoid:
                return ref
            i -= 1
        return None

    def _rebuild_routes(self) -> None:
        mask = (1 << self.config.id_bits) - 1
        me = self.id
        known = {n.id: n for n in (*self._finger_nodes, *self.successors) if n.id != me}
        ordered = sorted(known.items(), key=lambda item: (item[0] - me) & mask)
        self._route_distances = [(nid - me) & mask for nid, _ in ordered]
        self._route_refs = [ref for _, ref in ordered]

    def find_step(self, kid: int, avoid: frozenset[int] | set[int] = frozenset()) -> StepReply:
        """One step of find_predecessor (Chord §4.3, Fig. 4), routing around ``avoid``."""
        if not self.successors:
            return StepReply(True, (self.ref,))
        live = [s for s in self.successors if s.id not in avoid] if avoid else self.successors
        if not live:
            return StepReply(True, tuple(self.successors))
        if between_right_incl(self.id, kid, live[0].id):
            return StepReply(True, tuple(live))
        nxt = self.closest_preceding(kid, avoid)
        if nxt is None:
            return StepReply(True, tuple(live))
        return StepReply(False, (nxt,))

    def _lookup(self, kid: int, *, start: NodeRef | None = None, purpose: str = "lookup") -> Procedure[LookupResult]:
        """Iterative lookup of the owner of ``kid`` (Chord §4.3, driven by the asking node).

        Each step asks the current node for the next; a node that does not answer is added to
        ``avoid`` and the previous node is asked again for another route (Chord §5.3).
        """
        avoid: set[int] = set()
        timeouts = 0
        path: list[NodeRef] = [self.ref]
        if start is None:
            # Answer locally only when the range is known: a node whose predecessor was just
            # cleared serves what reaches it, but must not claim every key it is asked about.
            if self.owns(kid) and (self.predecessor is not None or not self.successors):
                self.emit(LookupCompleted(self.now, self.ref, kid, (self.ref,), 0, purpose))
                group = (self.ref, *self.successors)  # owner first, as a remote answer lists them
                return LookupResult(kid, self.ref, self.predecessor or self.ref, group, (self.ref,), 0)
            asker, step = self.ref, self.find_step(kid)
        else:
            asker, step = self.ref, StepReply(False, (start,))
        for _ in range(self.config.max_lookup_hops):
            if step.done:
                candidates = [n for n in step.nodes if n.id not in avoid]
                if not candidates:
                    break
                owner = candidates[0]
                if owner.id != path[-1].id:
                    path.append(owner)
                result = LookupResult(kid, owner, asker, tuple(candidates), tuple(path), timeouts)
                self.emit(LookupCompleted(self.now, self.ref, kid, result.path, timeouts, purpose))
                return result
            nxt = step.nodes[0]
            if nxt.id == self.id and asker.id != self.id:
                asker, step = self.ref, self.find_step(kid, avoid)
                path.append(self.ref)
                continue
            try:
                step = yield from self._ask_step(nxt, kid, avoid)
            except PeerFailed:
                timeouts += 1
                avoid.add(nxt.id)
                self.peer_failed(nxt, purpose)
                if asker.id == self.id:
                    step = self.find_step(kid, avoid)
                    continue
                try:
                    step = yield from self._ask_step(asker, kid, avoid)
                except PeerFailed:
                    timeouts += 1
                    avoid.add(asker.id)
                    asker, step = self.ref, self.find_step(kid, avoid)
                    path.append(self.ref)
                continue
            path.append(nxt)
            asker = nxt
        reason = f"no route to the owner of id {kid} after {len(path) - 1} hops and {timeouts} timeouts"
        self.emit(LookupFailed(self.now, self.ref, kid, reason, purpose))
        raise LookupError_(reason)

    def _ask_step(self, node: NodeRef, kid: int, avoid: set[int]) -> Procedure[StepReply]:
        reply = yield Call(node, FindStep(kid, tuple(sorted(avoid)) if avoid else ()), self.config.rpc_timeout)
        return reply if type(reply) is StepReply else expect(reply, StepReply)

    def _on_find_step(self, request: FindStep) -> Response:
        if not 0 <= request.key_id < (1 << self.config.id_bits):
            return ErrorReply("invalid", f"id {request.key_id} outside the {self.config.id_bits}-bit ring")
        return self.find_step(request.key_id, frozenset(request.avoid) if request.avoid else frozenset())

    # ------------------------------------------------------------------------------------ data

    def _check_key(self, key: str) -> ErrorReply | None:
        if key and len(key) * 4 <= self.config.max_key_bytes:
            return None  # short enough whatever its characters (UTF-8 takes at most 4 bytes each)
        size = len(key.encode("utf-8"))
        if size == 0:
            return ErrorReply("invalid", "key must not be empty")
        if size > self.config.max_key_bytes:
            return ErrorReply("invalid", f"key is {size} bytes, the limit is {self.config.max_key_bytes}")
        return None

    def _redirect(self, kid: int) -> NodeRef:
        """Best guess of the owner for a request that reached the wrong node."""
        if (
            self.status == "active"
            and self.successors
            and (self.awaiting_handoff or between_right_incl(self.id, kid, self.successors[0].id))
        ):
            return self.successors[0]
        if self.status != "active":
            return self.successors[0] if self.successors else (self.predecessor or self.ref)
        return self.closest_preceding(kid) or self.predecessor or self.successor

    def _serve_owner_op(self, request: Store | Fetch) -> Handled:
        """Apply a write or read that a lookup routed here as the key's owner.

        A request for a key this node does not own may mean that its predecessor died and the
        asker found the dead owner first (Chord §5.3): then the predecessor is checked at once
        (one ping, only while the ring is in flux) instead of waiting for check_predecessor.
        """
        error = self._check_key(request.key)
        if error:
            return error
        kid = key_id(request.key, self.config.id_bits)
        if isinstance(request, Fetch) and request.replica:
            return FetchReply(self.store.get(kid, request.key))  # eventual: whatever this replica holds
        if self.owns(kid):
            return self._apply_owner_op(request, kid)
        if (
            self.status == "active"
            and not self.awaiting_handoff
            and self.predecessor is not None
            and CHECK_PREDECESSOR not in self._running
            and not (self.successors and between_right_incl(self.id, kid, self.successors[0].id))
        ):
            return self._check_predecessor_then_serve(request, kid)
        return self.not_mine(request, kid)

    def _check_predecessor_then_serve(self, request: Store | Fetch, kid: int) -> Procedure[Response]:
        yield from self._exclusive(CHECK_PREDECESSOR, self.check_predecessor())
        if not self.owns(kid):
            return self.not_mine(request, kid)
        served = self._apply_owner_op(request, kid)
        return (yield from served) if isinstance(served, Generator) else served

    def _fetch_after_sync(self, request: Fetch, kid: int) -> Procedure[Response]:
        """A read at a head that is still pushing a taken-over range down its chain waits."""
        if not (yield from self.replication.wait_for(lambda: not self.replication.syncing)):
            return ErrorReply("unavailable", f"{self.ref.address} is still repairing its replicas")
        if not self.owns(kid):
            return self.not_mine(request, kid)
        return FetchReply(self.store.get(kid, request.key))

    def not_mine(self, request: Store | Fetch, kid: int) -> Response:
        if isinstance(request, Store):
            return StoreReply(False, redirect=self._redirect(kid))
        return FetchReply(redirect=self._redirect(kid))

    def _apply_owner_op(self, request: Store | Fetch, kid: int) -> Handled:
        replication = self.replication
        if isinstance(request, Fetch):
            if replication.syncing:
                return self._fetch_after_sync(request, kid)
            return FetchReply(self.store.get(kid, request.key))
        if len(request.value) > self.config.max_value_bytes:
            return ErrorReply(
                "invalid", f"value is {len(request.value)} bytes, the limit is {self.config.max_value_bytes}"
            )
        if replication.enabled:
            return replication.write(request, kid)
        done = replication.applied(request.request_id)
        if done is not None:
            return StoreReply(True, done)  # a retry of a write applied here whose reply was lost
        if request.delete:
            entry, existed = self.store.delete(kid, request.key)
            if entry is not None and existed:
                replication.remember((replace(entry, request_id=request.request_id),))
                self.emit(KeyWritten(self.now, self.ref, request.key, entry.version, True))
            return StoreReply(existed, entry)
        entry = self.store.put(kid, request.key, request.value)
        replication.remember((replace(entry, request_id=request.request_id),))
        self.emit(KeyWritten(self.now, self.ref, request.key, entry.version, False))
        return StoreReply(True, entry)

    def _data_op(self, key: str, owner_request: Store | Fetch, purpose: str) -> Procedure[Response]:
        """Run a client's data operation from this node: look up the owner, send it the
        operation, and follow "not mine, try X" redirects while the ring is in flux (Zave:
        lookups are exact only in the ideal state)."""
        kid = key_id(key, self.config.id_bits)
        cfg = self.config
        # A write waits for its chain at the owner, which may time out on each replica in turn.
        op_timeout = cfg.rpc_timeout * (cfg.replicas + 1 if isinstance(owner_request, Store) else 1)
        last_error = "no attempt"
        for attempt in range(cfg.data_op_attempts):
            if attempt:
                yield Sleep(cfg.retry_backoff * (2 ** (attempt - 1)))
            try:
                found = yield from self._lookup(kid, purpose=purpose)
            except LookupError_ as exc:
                last_error = str(exc)
                continue
            path = list(found.path)
            timeouts = found.timeouts
            target = found.owner
            # If the named owner is dead (its predecessor has not stabilized yet), the next live
            # node of the returned successor list has taken over its range (Chord §5.3).
            fallbacks = list(found.successors[1:])
            if isinstance(owner_request, Fetch) and owner_request.replica:
                # Eventual read: any node of the replica group may answer; spread the load.
                group = list(found.successors[: cfg.replicas])
                target = group.pop(self.rng.randrange(len(group)))
                fallbacks = group + fallbacks[cfg.replicas - 1 :]
            for _ in range(len(fallbacks) + 4):
                reply: Response
                if target.id == self.id:
                    local = self._serve_owner_op(owner_request)
                    reply = (yield from local) if isinstance(local, Generator) else local
                else:
                    try:
                        reply = yield Call(target, owner_request, op_timeout)
                    except PeerFailed:
                        timeouts += 1
                        self.peer_failed(target, purpose)
                        last_error = f"owner {target.address} did not answer"
                        if path[-1].id == target.id and len(path) > 1:
                            path.pop()  # the path lists the nodes that answered
                        if not fallbacks:
                            break
                        dead, target = target, fallbacks.pop(0)
                        yield from self._report_dead_owner(found.predecessor, dead, target)
                        continue
                if isinstance(reply, ErrorReply):
                    return reply
                redirect = reply.redirect if isinstance(reply, StoreReply | FetchReply) else None
                if path[-1].id != target.id:
                    path.append(target)
                if redirect is None:
                    if isinstance(reply, StoreReply):
                        return DataReply(kid, target, tuple(path), reply.ok, reply.entry, timeouts)
                    fetched = expect(reply, FetchReply).entry
                    found_live = fetched is not None and not fetched.deleted
                    return DataReply(kid, target, tuple(path), found_live, fetched, timeouts)
                last_error = f"{target.address} redirected to {redirect.address}"
                target = redirect
        return ErrorReply("unavailable", f"could not reach the owner of {key!r}: {last_error}")

    def _report_dead_owner(self, before: NodeRef, dead: NodeRef, heir: NodeRef) -> Procedure[None]:
        """The owner a lookup named did not answer: tell the next live node (``heir``) which
        live node precedes the dead one, as that node's next stabilize would (Chord §5.3).

        The heir answers for the dead node's range only once it knows where the range starts
        (see :meth:`owns`); this rectify — which pings the dead node before acting — lets it
        take the range over now rather than a stabilize period later.
        """
        if before.id in (dead.id, heir.id) or not between(before.id, dead.id, heir.id):
            return
        with contextlib.suppress(PeerFailed):
            yield Call(heir, Notify(before), self.config.rpc_timeout * 3)

    def _on_lookup(self, request: ClientLookup) -> Handled:
        error = self._check_key(request.key)
        if error:
            return error
        return self._client_lookup(request.key)

    def _client_lookup(self, key: str) -> Procedure[Response]:
        kid = key_id(key, self.config.id_bits)
        try:
            found = yield from self._lookup(kid, purpose="lookup")
        except LookupError_ as exc:
            return ErrorReply("unavailable", str(exc))
        return DataReply(kid, found.owner, found.path, timeouts=found.timeouts)

    def _on_client_put(self, request: ClientPut) -> Handled:
        error = self._check_key(request.key)
        if error:
            return error
        if len(request.value) > self.config.max_value_bytes:
            return ErrorReply(
                "invalid", f"value is {len(request.value)} bytes, the limit is {self.config.max_value_bytes}"
            )
        return self._data_op(request.key, Store(request.key, request.value, request_id=self._request_id()), "put")

    def _on_client_get(self, request: ClientGet) -> Handled:
        error = self._check_key(request.key)
        if error:
            return error
        mode = request.consistency or self.config.consistency
        if mode not in ("linearizable", "eventual"):
            return ErrorReply("invalid", f"consistency must be linearizable or eventual, got {mode!r}")
        if mode == "linearizable" and self.config.consistency == "eventual":
            return ErrorReply("invalid", "this ring replicates eventually: linearizable reads are not available")
        replica_read = mode == "eventual" and self.replication.enabled
        return self._data_op(request.key, Fetch(request.key, replica=replica_read), "get")

    def _on_client_delete(self, request: ClientDelete) -> Handled:
        return self._check_key(request.key) or self._data_op(
            request.key, Store(request.key, delete=True, request_id=self._request_id()), "delete"
        )

    def _request_id(self) -> int:
        """A fresh id for one client write, kept across its retries (never 0: "unknown")."""
        return self.rng.getrandbits(63) | 1

    def _on_leave(self, _: Leave) -> Handled:
        if self.status != "active":
            return ErrorReply("failed_precondition", f"node is {self.status}, not active")
        return self._leave_reply()

    def _leave_reply(self) -> Procedure[Response]:
        yield from self.leave()
        return Ack()

    # ------------------------------------------------------------------------------------ dispatch

    def handle(self, request: Request) -> Handled:
        """Serve one request: a reply, or a procedure whose return value is the reply.

        Drivers tell them apart by type: a procedure is a generator (``types.GeneratorType``).

        Requests that need remote calls (rectify's ping, client operations) are procedures;
        the rest are answered at once.
        """
        if self.status in ("new", "stopped") and not isinstance(request, Ping | GetState):
            return ErrorReply("unavailable", f"node {self.ref.address} is {self.status}")
        match request:  # the most frequent requests first (data, then maintenance)
            case FindStep():
                return self._on_find_step(request)
            case Store() | Fetch():
                return self._serve_owner_op(request)
            case Replicate():
                return self.replication.on_replicate(request)
            case GetNeighbours():
                return Neighbours(self.ref, self.predecessor, tuple(self.successors))
            case Notify():
                return self._on_notify(request)
            case Ping():
                return Pong(self.ref, self.config.id_bits, self.config.replicas, self.config.consistency)
            case TransferKeys():
                return self._on_transfer(request)
            case LeaveNotice():
                return self._on_leave_notice(request)
            case SyncRange():
                return self.replication.on_sync(request)
            case ClientPut():
                return self._on_client_put(request)
            case ClientGet():
                return self._on_client_get(request)
            case ClientDelete():
                return self._on_client_delete(request)
            case ClientLookup():
                return self._on_lookup(request)
            case GetState():
                return self.state()
            case ListKeys():
                held = self.store if request.include_replicas else self.store.entries_in(self.range_floor, self.id)
                return KeyList(self.ref, tuple(e for e in held if request.include_deleted or not e.deleted))
            case Leave():
                return self._on_leave(request)
        return ErrorReply("invalid", f"unknown request {type(request).__name__}")

    # ------------------------------------------------------------------------------------ helpers

    def _valid_ref(self, node: NodeRef) -> bool:
        return 0 <= node.id < (1 << self.config.id_bits)

    def _require_status(self, status: Status) -> None:
        if self.status != status:
            raise ChordError(f"node is {self.status}, expected {status}", "failed_precondition")

    def peer_failed(self, peer: NodeRef, during: str) -> None:
        """A call to ``peer`` timed out: stop routing through it (fingers are hints; the
        successor list changes only in stabilize, from replies — Zave)."""
        self._forget_finger(peer.id)
        self.replication.suspect(peer.id)
        self.emit(PeerFailedEvent(self.now, self.ref, peer, during))

    def emit(self, event: Event) -> None:
        self.sink(event)


def error_reply(exc: BaseException) -> ErrorReply:
    """The reply a driver sends when a procedure serving a request raised."""
    if isinstance(exc, ChordError):
        return ErrorReply(exc.code, str(exc))
    return ErrorReply("internal", f"{type(exc).__name__}: {exc}")


__all__ = ["ChordNode", "LookupResult", "RemoteError", "error_reply"]
