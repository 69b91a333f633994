"""Replication of each key on its owner and the next k−1 nodes of the owner's successor list.

Two modes, chosen per ring (:attr:`ChordConfig.consistency`):

* ``linearizable`` — chain replication (van Renesse & Schneider 2004). The owner is the head:
  it serializes the writes of each key, gives each the next version, and sends it down the
  chain (its first k−1 successors); every replica applies it and passes it on, and the reply
  climbs back once the tail applied it. The head applies the write *last*, so everything the
  head stores has reached every live replica — which is what makes reads at the head
  linearizable here (classic chain replication reads at the tail for the same reason; serving
  them at the head saves a hop and needs no knowledge of which replicas are in sync yet).
* ``eventual`` — the owner applies and acknowledges at once, then pushes the write to its
  replicas in the background; reads may be served by any replica and can be stale.

Both modes repair: a node that takes over a range (its predecessor died or left) first
reconciles that range with its chain — pulling any newer version a replica holds (a write that
skipped this node when it timed out), then pushing what a replica lacks — serving nothing from
the range meanwhile; and
every head periodically runs anti-entropy with each replica (a digest of its range, then the
versions, then the entries a replica lacks). Versions grow by one at the head for every write,
deletes are versioned tombstones, so replicas converge exactly and stale reads are countable.

Every client write carries a request id, kept across its retries; heads and replicas remember
the ids of recent writes, so a write retried after a lost reply is acknowledged, not applied a
second time after writes that followed it.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from chordial.core.effects import Call, PeerFailed, Procedure, Sleep, Spawn, expect
from chordial.core.events import KeyWritten, ReplicasRepaired, ReplicasWritten
from chordial.core.ids import between_right_incl
from chordial.core.messages import (
    Ack,
    Entry,
    ErrorReply,
    NodeRef,
    Replicate,
    Response,
    Store,
    StoreReply,
    SyncRange,
    SyncReply,
)

if TYPE_CHECKING:
    from chordial.core.node import ChordNode

SYNC_CHUNK = 256
"""Entries per message at most when whole ranges move (handoffs, takeover, repair)."""

CHUNK_BYTES = 1 << 20
"""Value bytes per message at most when ranges move (one larger entry still goes alone): far
below the carriers' frame limits, and small enough that one chunk never holds a peer up long."""


def chunks(entries: Iterable[Entry]) -> list[tuple[Entry, ...]]:
    """Split entries into messages of at most :data:`SYNC_CHUNK` entries and about
    :data:`CHUNK_BYTES` of values: ranges move in a few calls, never one per key."""
    out: list[tuple[Entry, ...]] = []
    chunk: list[Entry] = []
    size = 0
    for entry in entries:
        if chunk and (len(chunk) == SYNC_CHUNK or size + len(entry.value) > CHUNK_BYTES):
            out.append(tuple(chunk))
            chunk, size = [], 0
        chunk.append(entry)
        size += len(entry.value) + len(entry.key)
    if chunk:
        out.append(tuple(chunk))
    return out


REMEMBERED_REQUESTS = 4096
"""Request ids of recent writes each node remembers, to apply a retried write only once."""

GC_REPAIR_ROUNDS = 10
"""A copy outside this node's range that no head has synced for this many repair periods is
dropped (handoffs copy generously, and a node that moved out of a replica group keeps its old
copies): long enough that a head busy with a takeover or without a predecessor for a while never
loses a replica it still counts on."""

WAIT_ROUNDS = 400
"""How many short sleeps a procedure waits for in-flight writes or syncs before giving up."""


def range_digest(entries: Iterable[Entry]) -> bytes:
    """A digest of (key, version, deleted) over a range, equal on two nodes iff they agree."""
    h = hashlib.sha1()
    for entry in sorted(entries, key=lambda e: e.key):
        h.update(f"{entry.key}\x00{entry.version}\x00{int(entry.deleted)}\x01".encode())
    return h.digest()


class Replication:
    """The replication state of one node: per-key write order at the head, takeover syncs."""

    def __init__(self, node: ChordNode) -> None:
        self.node = node
        self.factor = node.config.replicas
        self.linearizable = node.config.consistency == "linearizable"
        self.writing: set[str] = set()  # keys with a write in flight at this head
        self.syncing = 0  # takeover syncs in flight: the node serves no data meanwhile
        # Peers that just timed out, until when: chain writes skip them rather than pay a
        # timeout per write until stabilize has dropped (or confirmed) them.
        self._suspects: dict[int, float] = {}
        self._applied: OrderedDict[int, Entry] = OrderedDict()  # request id → the version it wrote
        # Ranges this node answered for, or a head synced with it as a replica: (lo, hi] → when
        # last. A range that shrank (a node joined) stays here until the new head has synced.
        self._ranges_seen: dict[tuple[int, int], float] = {}
        self._repairing_since: float | None = None

    # ------------------------------------------------------------------------------ helpers

    def wait_for(self, ready: Callable[[], bool]) -> Procedure[bool]:
        """Sleep in short steps until ``ready()`` holds (writes in flight have finished, a sync
        is done); False if it still does not after :data:`WAIT_ROUNDS` steps."""
        for _ in range(WAIT_ROUNDS):
            if ready():
                return True
            yield Sleep(self.node.config.retry_backoff / 4)
        return ready()

    def idle(self) -> bool:
        """No write in flight at this node."""
        return not self.writing

    def remember(self, entries: Iterable[Entry]) -> None:
        """Note which request wrote each version (heads and replicas alike, so that a new head
        recognises a retry of a write its predecessor applied)."""
        applied = self._applied
        for entry in entries:
            if entry.request_id:
                applied[entry.request_id] = entry
                applied.move_to_end(entry.request_id)
        while len(applied) > REMEMBERED_REQUESTS:
            applied.popitem(last=False)

    def applied(self, request_id: int) -> Entry | None:
        """The version a write with this request id produced, if this node saw it."""
        return self._applied.get(request_id) if request_id else None

    @property
    def enabled(self) -> bool:
        return self.factor > 1

    def suspect(self, peer_id: int) -> None:
        self._suspects[peer_id] = self.node.now + self.node.config.stabilize_period

    def chain(self) -> tuple[NodeRef, ...]:
        """The replicas after the head, in chain order: the first k − 1 successors, passing
        over those that timed out within the last stabilize period."""
        now = self.node.now
        if self._suspects:
            self._suspects = {p: until for p, until in self._suspects.items() if until > now}
        live = [s for s in self.node.successors if s.id not in self._suspects]
        return tuple(live[: self.factor - 1])

    # ------------------------------------------------------------------------------ writes

    def write(self, request: Store, kid: int) -> Procedure[Response]:
        """A write at the head: versioned, replicated per the ring's mode, then acknowledged."""
        node = self.node
        # One write per key at a time keeps versions in order; none while a takeover syncs.
        if (request.key in self.writing or self.syncing) and not (
            yield from self.wait_for(lambda: request.key not in self.writing and not self.syncing)
        ):
            return ErrorReply("unavailable", f"key {request.key!r} stayed busy at {node.ref.address}")
        if not node.owns(kid):  # the range moved while this write waited
            return node.not_mine(request, kid)
        done = self.applied(request.request_id)
        if done is not None:
            return StoreReply(True, done)  # a retry of a write already applied (its reply was lost)
        old = node.store.get(kid, request.key)
        if request.delete:
            if old is None or old.deleted:
                return StoreReply(False, old)
            entry = Entry(request.key, kid, b"", old.version + 1, deleted=True, request_id=request.request_id)
        else:
            entry = Entry(
                request.key, kid, request.value, (old.version if old else 0) + 1, request_id=request.request_id
            )
        self.writing.add(request.key)
        try:
            if self.linearizable:
                reached = yield from self.send_down((entry,), self.chain(), overwrite=True)
                node.store.apply(entry)
                self.remember((entry,))
                node.emit(ReplicasWritten(node.now, node.ref, entry.key, entry.version, reached))
            else:
                node.store.apply(entry)
                self.remember((entry,))
                yield Spawn(self._push(entry))
        finally:
            self.writing.discard(request.key)
        node.emit(KeyWritten(node.now, node.ref, entry.key, entry.version, entry.deleted))
        return StoreReply(True, entry)

    def _push(self, entry: Entry) -> Procedure[None]:
        """Eventual mode: after the acknowledgement, one replica after another gets the write."""
        node = self.node
        reached: list[NodeRef] = []
        for peer in self.chain():
            try:
                reply = yield Call(peer, Replicate(node.ref, (entry,), (), overwrite=False), node.config.rpc_timeout)
                expect(reply, Ack)
            except PeerFailed:
                continue
            reached.append(peer)
        node.emit(ReplicasWritten(node.now, node.ref, entry.key, entry.version, tuple(reached)))

    def send_down(
        self, entries: tuple[Entry, ...], chain: tuple[NodeRef, ...], *, overwrite: bool
    ) -> Procedure[tuple[NodeRef, ...]]:
        """Pass ``entries`` along ``chain``; a replica that does not answer is skipped (it is
        taken for failed). Returns the chain that was asked last (every node of it applied)."""
        node = self.node
        remaining = list(chain)
        while remaining:
            first = remaining.pop(0)
            rest = tuple(remaining)
            # The reply waits for the whole rest of the chain: allow a deadline per node in it.
            timeout = node.config.rpc_timeout * (len(rest) + 1)
            try:
                reply = yield Call(first, Replicate(node.ref, entries, rest, overwrite), timeout)
            except PeerFailed:
                node.peer_failed(first, "replicate")
                continue
            expect(reply, Ack)
            return (first, *rest)
        return ()

    def on_replicate(self, request: Replicate) -> Response | Procedure[Response]:
        store = self.node.store
        if request.overwrite:
            for entry in request.entries:
                store.apply(entry)
        else:
            store.merge(request.entries)
        self.remember(request.entries)
        if not request.chain:
            return Ack()
        return self._forward(request)

    def _forward(self, request: Replicate) -> Procedure[Response]:
        yield from self.send_down(request.entries, request.chain, overwrite=request.overwrite)
        return Ack()

    # ------------------------------------------------------------------------------ takeover

    def take_over(self, lo: int, hi: int) -> Procedure[None]:
        """This node becomes head of (lo, hi], which it held as a replica (its predecessor died
        or left): reconcile the range with its chain before serving any of it.

        First every replica is asked for versions newer than this node's — a chain write that
        timed out on this node went on to the next replica and may have been acknowledged — and
        those are adopted; then each replica gets what it lacks, so nothing this node might serve
        can be lost with it.
        """
        if not self.enabled or lo == hi:
            return
        self.syncing += 1
        try:
            # The replicas that hold the range are the first k − 1 successors of the true ring:
            # refresh the list first (a node back from a short isolation may have dropped some),
            # and ask every one of them, suspected or not — a skipped write lives on a replica.
            yield from self.node.refresh_successors()
            chain = tuple(self.node.successors[: self.factor - 1])
            pulled = 0
            for peer in chain:
                pulled += yield from self._reconcile(peer, lo, hi, pull=True)
            if pulled:
                # Newer versions came from the chain: replicas earlier in it may lack them.
                for peer in chain:
                    yield from self._reconcile(peer, lo, hi, pull=False)
        finally:
            self.syncing -= 1

    def pass_on(self, entries: list[Entry]) -> Procedure[None]:
        """A leaving head handed this node its store: push it down this node's chain before
        serving any of it. The leaver held the newest versions (it was the head), so nothing
        needs pulling, and the entries go as they are, in chunks."""
        if not self.enabled or not entries:
            return
        self.syncing += 1
        try:
            chain = self.chain()
            for chunk in chunks(entries):
                yield from self.send_down(chunk, chain, overwrite=False)
        finally:
            self.syncing -= 1

    # ------------------------------------------------------------------------------ anti-entropy

    def repair(self) -> Procedure[None]:
        """Periodic anti-entropy of this head's range (predecessor, self] with each replica;
        in eventual mode newer copies are pulled back too (whoever is newer wins)."""
        node = self.node
        pred = node.predecessor
        if not self.enabled or pred is None or not node.successors or node.awaiting_handoff or self.syncing:
            return
        for peer in self.chain():
            yield from self._reconcile(peer, pred.id, node.id, pull=not self.linearizable)
        self.collect_garbage()

    def note_range(self, lo: int, hi: int) -> None:
        """This node answered for (lo, hi] until now: its copies there are kept a while."""
        if self.enabled:
            self._ranges_seen[(lo, hi)] = self.node.now

    def collect_garbage(self) -> int:
        """Drop copies that are neither in this node's range nor in a range some head synced
        with it within the last :data:`GC_REPAIR_ROUNDS` repair periods; returns how many."""
        node = self.node
        now = node.now
        horizon = GC_REPAIR_ROUNDS * max(node.config.repair_period, node.config.stabilize_period)
        if self._repairing_since is None:
            self._repairing_since = now
        pred = node.predecessor
        if pred is not None:
            self._ranges_seen[(pred.id, node.id)] = now
        self._ranges_seen = {span: seen for span, seen in self._ranges_seen.items() if now - seen <= horizon}
        if pred is None or self.syncing or self.writing or now - self._repairing_since < horizon:
            return 0
        keep = list(self._ranges_seen)
        stray = [e for e in node.store if not any(between_right_incl(lo, e.key_id, hi) for lo, hi in keep)]
        return node.store.discard(stray) if stray else 0

    def _reconcile(self, peer: NodeRef, lo: int, hi: int, *, pull: bool) -> Procedure[int]:
        """Bring ``peer``'s copy of (lo, hi] up to this node's: a digest first (one small
        message when they agree), then the versions, then the entries the peer lacks in chunks.
        With ``pull``, entries the peer holds newer are adopted here. Returns how many were."""
        node = self.node
        timeout = node.config.rpc_timeout
        mine = node.store.entries_in(lo, hi)
        try:
            first = yield Call(peer, SyncRange(node.ref, lo, hi, range_digest(mine)), timeout)
            if expect(first, SyncReply).match:
                return 0
            versions = tuple((e.key, e.version) for e in mine)
            full = yield Call(peer, SyncRange(node.ref, lo, hi, b"", versions), timeout)
            answer = expect(full, SyncReply)
            pulled = 0
            if pull and answer.newer:
                pulled = node.store.merge(answer.newer)
                self.remember(answer.newer)
            wanted = set(answer.wanted)
            missing = [e for e in mine if e.key in wanted]
            for chunk in chunks(missing):
                expect((yield Call(peer, Replicate(node.ref, chunk, (), overwrite=False), timeout)), Ack)
        except PeerFailed:
            return 0
        if missing or pulled:  # a digest can differ for a moment while a write is in flight
            node.emit(ReplicasRepaired(node.now, node.ref, peer, len(missing), pulled))
        return pulled

    def on_sync(self, request: SyncRange) -> Response:
        self._ranges_seen[(request.lo, request.hi)] = self.node.now
        mine = self.node.store.entries_in(request.lo, request.hi)
        if request.versions is None:
            return SyncReply(range_digest(mine) == request.digest)
        theirs = dict(request.versions)
        held = {e.key: e for e in mine}
        wanted = tuple(k for k, v in theirs.items() if k not in held or held[k].version < v)
        newer = tuple(e for e in mine if e.key not in theirs or e.version > theirs[e.key])
        return SyncReply(False, wanted, newer)
