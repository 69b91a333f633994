"""The Python client of a Chordial ring.

A :class:`ChordClient` talks to one node of the ring (any node accepts client requests and
routes them to the key's owner); reading the overlay walks the ring from that node by successor
pointers. Every call has a deadline; failures surface as :class:`ChordialError` subclasses with
a one-line message naming the address involved::

    async with ChordClient("127.0.0.1:7001") as client:
        await client.put("colour", "blue")
        print(await client.get("colour"))
        print(await client.get("colour", consistency="eventual"))  # any replica may answer
        for node, entry in await client.replicas("colour"):  # every copy, owner first
            print(node.address, entry.version if entry else "no copy")

Reads take a ``consistency``: empty (the ring's own mode), ``"eventual"`` (any replica answers;
allowed on every ring) or ``"linearizable"`` (at the key's head; refused by a ring that
replicates eventually). Writes always follow the ring's mode.
"""

from __future__ import annotations

import asyncio
import bisect
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, TypeVar, cast

from chordial.core.config import CONSISTENCY_MODES, Consistency
from chordial.core.events import Event
from chordial.core.ids import between_right_incl, key_id
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
    GetState,
    KeyList,
    Leave,
    ListKeys,
    NodeRef,
    NodeState,
    Request,
    Response,
    Store,
    StoreReply,
)
from chordial.transport.address import check_address, parse_address
from chordial.transport.base import Transport, TransportError

R = TypeVar("R")

DEFAULT_TIMEOUT = 5.0
DEFAULT_REPLICAS = 3
"""The replication factor assumed when asking for a key's copies (a node does not tell its ring's)."""
PROBE_KEY = "chordial:consistency-probe"
"""The key :meth:`ChordClient.ring_consistency` reads to learn the ring's mode."""


class ChordialError(Exception):
    """Base of every error the client raises. ``address`` is the node involved, if any."""

    def __init__(self, message: str, *, address: str | None = None) -> None:
        super().__init__(message)
        self.address = address


class KeyNotFound(ChordialError):
    """The key has no live value in the ring."""

    def __init__(
        self, message: str, *, key: str | None = None, address: str | None = None, owner: NodeRef | None = None
    ) -> None:
        super().__init__(message, address=address)
        self.key = key
        self.owner = owner

    @classmethod
    def for_key(cls, key: str, *, address: str | None = None, owner: NodeRef | None = None) -> KeyNotFound:
        where = f" (owner {owner.address})" if owner is not None else ""
        return cls(f"key {key!r} not found{where}", key=key, address=address, owner=owner)


class InvalidRequest(ChordialError):
    """The node refused the request as malformed (empty or over-limit key or value, ...)."""


class Unavailable(ChordialError):
    """The node could not be reached in time, or the ring could not serve the request now."""


class ClientError(ChordialError):
    """Any other failure: a precondition the node refused, an internal error, a bad reply."""


class _Watching(Protocol):
    def watch(self, address: str) -> AsyncIterator[Any]: ...


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "no details"


def _reason(exc: BaseException, address: str) -> str:
    """The transport's message, without a leading ``address:`` the client names itself."""
    text = _one_line(str(exc))
    return text.removeprefix(f"{address}: ") or type(exc).__name__


def _node_address(text: str) -> str:
    """``text`` in canonical form; ``ValueError`` (one line) unless it names a node to call."""
    address = check_address(text)
    if parse_address(address)[1] == 0:
        raise ValueError(f"malformed address {text!r}: port 0 cannot be called")
    return address


def _transport_named(name: str) -> Transport:
    from chordial.transport.carriers import make_transport

    return make_transport(name)


@dataclass
class RouteStats:
    """How the route cache fared: ``hits`` went straight to the owner in one call, ``misses``
    had no cached owner and were routed by the ring, ``stale`` had one that turned out wrong
    ("not mine", dead or refusing) and were routed again."""

    hits: int = 0
    misses: int = 0
    stale: int = 0
    learnt: int = 0
    """Owners whose ranges the cache asked for (one ``GetState`` each)."""

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses + self.stale
        return self.hits / total if total else 0.0


class RouteCache:
    """Which node owns which id range, as last heard: owner id → (predecessor id, owner).

    Filled from node states (an owner's predecessor and successor list give the ranges of
    r + 1 consecutive nodes); entries are hints, checked by the owner on every use (a node
    answers "not mine" for keys outside its range), and dropped when wrong.
    """

    def __init__(self) -> None:
        self.id_bits = 0
        """The ring's id size, once known (0: nothing can be looked up yet)."""
        self._ids: list[int] = []
        self._ranges: dict[int, tuple[int, NodeRef]] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def owner(self, kid: int) -> NodeRef | None:
        ids = self._ids
        if not ids:
            return None
        index = bisect.bisect_left(ids, kid)
        owner_id = ids[index if index < len(ids) else 0]
        lo, ref = self._ranges[owner_id]
        return ref if between_right_incl(lo, kid, owner_id) else None

    def add(self, lo: int, ref: NodeRef) -> None:
        if ref.id not in self._ranges:
            bisect.insort(self._ids, ref.id)
        self._ranges[ref.id] = (lo, ref)

    def forget(self, node_id: int) -> None:
        if self._ranges.pop(node_id, None) is not None:
            self._ids.pop(bisect.bisect_left(self._ids, node_id))

    def knows(self, node_id: int) -> bool:
        return node_id in self._ranges

    def learn(self, state: NodeState) -> None:
        """The ranges ``state`` tells: its node's, then each successor's up the list."""
        self.id_bits = state.id_bits
        me = state.node
        self.add(state.predecessor.id if state.predecessor is not None else me.id, me)
        previous = me
        for successor in state.successors:
            if successor.id == previous.id or successor.id == me.id:
                break
            self.add(previous.id, successor)
            previous = successor


class ChordClient:
    """Asynchronous client bound to one node of a ring.

    ``timeout`` is the deadline of every single RPC, in seconds. ``transport`` is a carrier
    name (``"auto"``, the default: TCP to TCP nodes and gRPC to gRPC nodes; ``"tcp"``;
    ``"grpc"``) or a transport object. The client owns (and closes) the transport it creates;
    a transport passed in is left open for its owner.

    With ``cache_routes`` (default), the client remembers which node owns which id range
    (:class:`RouteCache`, learnt in the background from the owners its operations reached) and
    sends later reads and writes of keys in a known range straight to the owner, one call
    instead of a lookup of ½·log₂N + 1; a wrong or dead owner costs a fall back to the routed
    operation. :attr:`route_stats` counts hits.
    """

    def __init__(
        self,
        address: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: Transport | str | None = None,
        cache_routes: bool = True,
    ) -> None:
        self.address = _node_address(address)
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.timeout = timeout
        self._owns_transport = transport is None or isinstance(transport, str)
        if transport is None or isinstance(transport, str):
            self._transport = _transport_named(transport or "auto")
        else:
            self._transport = transport
        self.cache_routes = cache_routes
        self.routes = RouteCache()
        self.route_stats = RouteStats()
        self._learning: dict[int, asyncio.Task[None]] = {}
        self._data_ops = 0
        self._rng = random.Random()

    # ------------------------------------------------------------------------------ plumbing

    async def __aenter__(self) -> ChordClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        learning, self._learning = list(self._learning.values()), {}
        for task in learning:
            task.cancel()
        if learning:
            await asyncio.wait(learning)
        if self._owns_transport:
            await self._transport.close()

    async def _call(self, request: Request, kind: type[R], address: str | None = None) -> R:
        target = self.address if address is None else _node_address(address)
        name = type(request).__name__
        try:
            reply: Response = await self._transport.call(target, request, self.timeout)
        except TransportError as exc:
            raise Unavailable(f"node {target} unavailable: {_reason(exc, target)}", address=target) from exc
        except ValueError as exc:  # the request cannot be encoded for the wire
            raise InvalidRequest(f"node {target}: {name} not sent: {_one_line(str(exc))}", address=target) from exc
        if isinstance(reply, ErrorReply):
            raise _error_for(reply, target)
        if not isinstance(reply, kind):
            raise ClientError(
                f"node {target} answered {name} with {type(reply).__name__}, expected {kind.__name__}",
                address=target,
            )
        return reply

    # ------------------------------------------------------------------------------ data

    async def put(self, key: str, value: bytes | str, *, consistency: str | None = None) -> DataReply:
        """Store ``value`` under ``key`` (text is stored as UTF-8). Returns the owner's answer:
        ``entry`` holds the new version.

        Writes always follow the ring's mode. ``consistency``, when given, states the mode the
        caller relies on: the write is refused (:class:`InvalidRequest`) unless the ring has it
        (learnt with :meth:`ring_consistency`, one read more)."""
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        if consistency is not None:
            await self._require_write_mode(consistency)
        cached = await self._write_at_owner(key, Store(key, data, request_id=self._request_id()))
        if cached is not None:
            return cached
        return self._learn_from(await self._call(ClientPut(key, data), DataReply))

    async def get_entry(self, key: str, consistency: str = "") -> DataReply:
        """The answer for ``key``: ``found`` tells whether a live value is there.

        ``consistency``: ``""`` reads in the ring's mode, ``"eventual"`` lets any replica of the
        key answer (possibly with an older version), ``"linearizable"`` reads at the key's head
        (a ring that replicates eventually refuses it: :class:`InvalidRequest`)."""
        mode = _read_mode(consistency)
        if mode != "linearizable":  # the owner's copy is right in either mode; only the node knows the ring's
            cached = await self._read_at_owner(key)
            if cached is not None:
                kid, owner, entry = cached
                return DataReply(kid, owner, (owner,), entry is not None and not entry.deleted, entry)
        return await self._routed_get(key, mode)

    async def get(self, key: str, consistency: str = "") -> bytes:
        """The value of ``key``; raises :class:`KeyNotFound` when it has none (see
        :meth:`get_entry` for ``consistency``)."""
        if consistency:
            reply = await self.get_entry(key, consistency)
        else:  # the common case: a cache hit builds no DataReply, a miss is counted once
            cached = await self._read_at_owner(key)
            if cached is not None:
                _, owner, entry = cached
                if entry is None or entry.deleted:
                    raise KeyNotFound.for_key(key, address=self.address, owner=owner)
                return entry.value
            reply = await self._routed_get(key, "")
        if not reply.found or reply.entry is None or reply.entry.deleted:
            raise KeyNotFound.for_key(key, address=self.address, owner=reply.owner)
        return reply.entry.value

    async def _routed_get(self, key: str, mode: str) -> DataReply:
        return self._learn_from(await self._call(ClientGet(key, mode), DataReply))

    async def delete(self, key: str, *, consistency: str | None = None) -> bool:
        """Delete ``key``; returns whether it had a live value. ``consistency`` as for :meth:`put`."""
        if consistency is not None:
            await self._require_write_mode(consistency)
        cached = await self._write_at_owner(key, Store(key, delete=True, request_id=self._request_id()))
        if cached is not None:
            return cached.found
        reply = self._learn_from(await self._call(ClientDelete(key), DataReply))
        return reply.found

    async def lookup(self, key: str) -> DataReply:
        """Find the owner of ``key`` without touching data: ``owner``, ``path``, ``hops``."""
        return await self._call(ClientLookup(key), DataReply)

    # ------------------------------------------------------------------------------ route cache

    def _request_id(self) -> int:
        """A fresh id for one write, kept across its retries (the head applies each id once)."""
        return self._rng.getrandbits(63) | 1

    def _cached_owner(self, key: str) -> tuple[int, NodeRef] | None:
        """The key's id and cached owner; counts a miss when there is none."""
        if not self.cache_routes:
            return None
        self._data_ops += 1
        routes = self.routes
        if routes.id_bits == 0 or not key:
            self.route_stats.misses += 1
            return None
        kid = key_id(key, routes.id_bits)
        owner = routes.owner(kid)
        if owner is None:
            self.route_stats.misses += 1
            return None
        return kid, owner

    def _learn_from(self, reply: DataReply) -> DataReply:
        """Ask the owner a routed operation reached for its ranges, in the background, unless the
        cache already sends that key there (a client used for one operation, as the CLI's, never
        asks)."""
        owner = reply.owner
        cached = self.routes.owner(reply.key_id) if self.routes.id_bits else None
        if (
            self.cache_routes
            and self._data_ops >= 2
            and (cached is None or cached.id != owner.id)  # unknown, or known with a range now too narrow
            and owner.id not in self._learning
            and len(self._learning) < 8
        ):
            task = asyncio.get_running_loop().create_task(self._learn(owner))
            self._learning[owner.id] = task
            task.add_done_callback(lambda _: self._learning.pop(owner.id, None))
        return reply

    async def _learn(self, owner: NodeRef) -> None:
        try:
            state = await self._call(GetState(), NodeState, owner.address)
        except ChordialError:
            return
        if state.status == "active":
            self.routes.learn(state)
            self.route_stats.learnt += 1

    def _stale(self, owner: NodeRef) -> None:
        self.route_stats.stale += 1
        self.routes.forget(owner.id)

    async def _read_at_owner(self, key: str) -> tuple[int, NodeRef, Entry | None] | None:
        """A read sent straight to the key's cached owner: the key's id, the owner and what it
        holds; or ``None``: then route it."""
        found = self._cached_owner(key)
        if found is None:
            return None
        kid, owner = found
        try:
            reply = await self._transport.call(owner.address, Fetch(key), self.timeout)
        except TransportError:
            self._stale(owner)
            return None
        if isinstance(reply, ErrorReply):
            if reply.code == "unavailable":
                self._stale(owner)
                return None
            raise _error_for(reply, owner.address)
        if not isinstance(reply, FetchReply) or reply.redirect is not None:
            self._stale(owner)
            return None
        self.route_stats.hits += 1
        return kid, owner, reply.entry

    async def _write_at_owner(self, key: str, store: Store) -> DataReply | None:
        """A write sent straight to the key's cached owner, or ``None`` when there is none.

        Once sent, the write may have been applied even if no reply came back, so it is not
        handed to the ring as a new operation: it is retried, with the same request id (the
        head applies each id once), at the owner a fresh lookup names.
        """
        found = self._cached_owner(key)
        if found is None:
            return None
        kid, owner = found
        target = owner
        straight = True  # one call to the cached owner did it
        last = "no attempt"
        for attempt in range(6):
            if attempt:
                self.routes.forget(target.id)
                if attempt > 1:
                    await asyncio.sleep(0.05 * 2 ** (attempt - 2))
                try:
                    target = (await self.lookup(key)).owner
                except Unavailable as exc:
                    last = str(exc)
                    continue
            for _ in range(4):
                try:
                    reply = await self._transport.call(target.address, store, self.timeout)
                except TransportError as exc:
                    last = f"node {target.address} unavailable: {_reason(exc, target.address)}"
                    break
                except ValueError as exc:
                    raise InvalidRequest(
                        f"node {target.address}: Store not sent: {_one_line(str(exc))}", address=target.address
                    ) from exc
                if isinstance(reply, ErrorReply):
                    if reply.code != "unavailable":
                        raise _error_for(reply, target.address)
                    last = f"node {target.address}: {_one_line(reply.message)}"
                    break
                if not isinstance(reply, StoreReply):
                    raise ClientError(
                        f"node {target.address} answered Store with {type(reply).__name__}", address=target.address
                    )
                if reply.redirect is None:
                    if straight:
                        self.route_stats.hits += 1
                    else:
                        self.route_stats.stale += 1
                        self._learn_from(DataReply(kid, target, (target,)))
                    return DataReply(kid, target, (target,), reply.ok, reply.entry)
                straight = False
                self.routes.forget(target.id)
                target = reply.redirect
            straight = False
        self.route_stats.stale += 1
        raise Unavailable(f"could not reach the owner of {key!r}: {last}", address=self.address)

    # ------------------------------------------------------------------------------ replication

    async def ring_consistency(self) -> Consistency:
        """The ring's replication mode, ``"linearizable"`` or ``"eventual"``.

        Nodes do not report their mode, so this asks for a linearizable read of
        :data:`PROBE_KEY`, which only a ring that replicates eventually refuses (as invalid:
        the key itself is valid on every ring). Costs one read."""
        try:
            await self._call(ClientGet(PROBE_KEY, "linearizable"), DataReply)
        except InvalidRequest:
            return "eventual"
        return "linearizable"

    async def _require_write_mode(self, consistency: str) -> None:
        wanted = _read_mode(consistency)
        if not wanted:
            return
        ring = await self.ring_consistency()
        if wanted != ring:
            hint = " (eventual reads are available on every ring)" if wanted == "eventual" else ""
            raise InvalidRequest(
                f"node {self.address}: writes follow the ring's mode, which is {ring}, not {wanted}{hint}",
                address=self.address,
            )

    async def replica_group(self, key: str, k: int = DEFAULT_REPLICAS) -> list[NodeRef]:
        """The nodes that should hold ``key`` on a ring of replication factor ``k``: its owner
        (the head), then the first k − 1 nodes of the owner's successor list (fewer on a ring of
        fewer than k nodes)."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        owner = (await self.lookup(key)).owner
        state = await self.state(owner.address)
        group = [state.node]
        for successor in state.successors:
            if len(group) >= k:
                break
            if all(successor.id != member.id for member in group):
                group.append(successor)
        return group

    async def copy_at(self, address: str, key: str) -> Entry | None:
        """The entry the node at ``address`` holds for ``key``, whether it owns the key or keeps
        a replica of it (a tombstone for a deleted key; ``None`` when it holds nothing)."""
        reply = await self._call(Fetch(key, replica=True), FetchReply, address)
        return reply.entry

    async def replicas(self, key: str, k: int = DEFAULT_REPLICAS) -> list[tuple[NodeRef, Entry | None]]:
        """Every copy of ``key`` in its replica group (:meth:`replica_group`), owner first: each
        node with the entry it holds (``None``: no copy there). Nodes of the group that do not
        answer are left out; stale copies are those with a lower ``version`` than the highest."""
        group = await self.replica_group(key, k)
        results = await asyncio.gather(*(self.copy_at(ref.address, key) for ref in group), return_exceptions=True)
        copies: list[tuple[NodeRef, Entry | None]] = []
        for ref, result in zip(group, results, strict=True):
            if isinstance(result, Unavailable):
                continue
            if isinstance(result, BaseException):
                raise result
            copies.append((ref, result))
        return copies

    # ------------------------------------------------------------------------------ overlay

    async def state(self, address: str | None = None) -> NodeState:
        """Routing state of the client's node, or of the node at ``address``."""
        return await self._call(GetState(), NodeState, address)

    async def overlay(self, max_nodes: int = 10_000) -> list[NodeState]:
        """The ring as seen by walking successor pointers from the client's node.

        Returns the states in walk (ring) order, starting with the client's node. The walk
        stops when it reaches a node it has already seen; a successor that does not answer (or
        no longer serves the ring) is skipped in favour of the next successor-list entry.
        """
        first = await self.state()
        ring = [first]
        seen = {first.node.id}
        current = first
        while len(ring) < max_nodes:
            nxt = await self._next_live(current, seen)
            if nxt is None:
                break
            ring.append(nxt)
            seen.add(nxt.node.id)
            current = nxt
        return ring

    async def _next_live(self, current: NodeState, seen: set[int]) -> NodeState | None:
        for successor in current.successors:
            if successor.id in seen:
                return None
            if successor.id == current.node.id:
                continue
            try:
                state = await self.state(successor.address)
            except (Unavailable, ClientError):
                continue
            if state.status not in ("active", "leaving"):
                continue
            if state.node.id in seen:
                return None
            return state
        return None

    async def keys(self, include_deleted: bool = False, include_replicas: bool = False) -> list[KeyList]:
        """The entries stored on every node of the overlay, one :class:`KeyList` per node in ring
        order: the keys each node owns, and with ``include_replicas`` the copies it holds for
        other owners too. Nodes that stop answering between the walk and the listing are left out."""
        return [kl for _, kl in await self.holdings(include_deleted, include_replicas)]

    async def holdings(
        self, include_deleted: bool = False, include_replicas: bool = False
    ) -> list[tuple[NodeState, KeyList]]:
        """Like :meth:`keys`, each list with the node's state from the walk (whose predecessor
        tells which entries it owns: see :func:`owns`)."""
        ring = await self.overlay()
        request = ListKeys(include_deleted, include_replicas)
        results = await asyncio.gather(
            *(self._call(request, KeyList, s.node.address) for s in ring),
            return_exceptions=True,
        )
        lists: list[tuple[NodeState, KeyList]] = []
        for state, result in zip(ring, results, strict=True):
            if isinstance(result, KeyList):
                lists.append((state, result))
            elif isinstance(result, Unavailable):
                continue
            elif isinstance(result, BaseException):
                raise result
        return lists

    async def leave(self, address: str | None = None) -> None:
        """Ask the client's node (or the node at ``address``) to leave the ring gracefully."""
        await self._call(Leave(), Ack, address)

    async def watch(self) -> AsyncIterator[dict[str, object]]:
        """The client's node's event feed, as JSON-able dicts (``kind``, ``time``, ``node``, ...)."""
        if not hasattr(self._transport, "watch"):
            raise ClientError(f"transport {type(self._transport).__name__} cannot watch {self.address}")
        stream = cast(_Watching, self._transport).watch(self.address)
        try:
            async for item in stream:
                yield _event_dict(item)
        except TransportError as exc:
            raise Unavailable(
                f"node {self.address} unavailable: {_reason(exc, self.address)}", address=self.address
            ) from exc
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()


def ring_problems(states: Sequence[NodeState]) -> list[str]:
    """What keeps ``states`` (an :meth:`ChordClient.overlay` walk) from being an ideal ring:
    every node active, its first successor the next node of the walk and its predecessor the
    previous one, walk order increasing clockwise. Empty when the ring is ideal."""
    problems: list[str] = []
    count = len(states)
    for index, state in enumerate(states):
        me = state.node
        nxt = states[(index + 1) % count].node
        prev = states[index - 1].node
        if state.status != "active":
            problems.append(f"{me.address} is {state.status}")
        if count == 1:
            if state.successors and state.successors[0].id != me.id:
                problems.append(f"{me.address} is alone but lists successor {state.successors[0].address}")
            continue
        head = state.successors[0] if state.successors else None
        if head is None or head.id != nxt.id:
            problems.append(f"{me.address}: successor {head.address if head else None}, expected {nxt.address}")
        if state.predecessor is None or state.predecessor.id != prev.id:
            got = state.predecessor.address if state.predecessor else None
            problems.append(f"{me.address}: predecessor {got}, expected {prev.address}")
    ids = [s.node.id for s in states]
    start = ids.index(min(ids)) if ids else 0
    rotated = ids[start:] + ids[:start]
    if rotated != sorted(ids):
        problems.append("walk order is not clockwise id order")
    return problems


def owns(state: NodeState, entry: Entry) -> bool:
    """Whether the node of ``state`` owns ``entry`` (its id lies in (predecessor, node]) rather
    than holding a replica of it. A node that knows no predecessor owns everything it holds."""
    pred = state.predecessor
    return pred is None or between_right_incl(pred.id, entry.key_id, state.node.id)


def _read_mode(consistency: str) -> str:
    if consistency not in ("", *CONSISTENCY_MODES):
        raise ValueError(f"consistency must be {' or '.join(CONSISTENCY_MODES)}, got {consistency!r}")
    return consistency


def _event_dict(item: object) -> dict[str, object]:
    if isinstance(item, Event):
        from chordial.transport.codec import event_to_dict

        return event_to_dict(item)
    return cast(dict[str, object], item)


def _error_for(reply: ErrorReply, address: str) -> ChordialError:
    message = f"node {address}: {_one_line(reply.message)}"
    if reply.code == "invalid":
        return InvalidRequest(message, address=address)
    if reply.code == "unavailable":
        return Unavailable(message, address=address)
    if reply.code == "not_found":
        return KeyNotFound(message, address=address)
    return ClientError(message, address=address)


__all__ = [
    "DEFAULT_REPLICAS",
    "DEFAULT_TIMEOUT",
    "PROBE_KEY",
    "ChordClient",
    "ChordialError",
    "ClientError",
    "InvalidRequest",
    "KeyNotFound",
    "RouteCache",
    "RouteStats",
    "Unavailable",
    "owns",
    "ring_problems",
]
