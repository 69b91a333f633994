"""The Python client against small rings: in memory (fast, controllable), over TCP and over gRPC."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest

from chordial.client import (
    PROBE_KEY,
    ChordClient,
    ChordialError,
    ClientError,
    InvalidRequest,
    KeyNotFound,
    Unavailable,
    owns,
    ring_problems,
)
from chordial.core.config import ChordConfig
from chordial.core.ids import between_right_incl, key_id
from chordial.core.messages import (
    DataReply,
    Entry,
    ErrorCode,
    ErrorReply,
    GetState,
    NodeRef,
    NodeState,
    Pong,
    Request,
    Response,
)
from chordial.runtime import NodeRuntime, start_node
from chordial.transport.base import Handler, TransportError, Unreachable, Watcher
from chordial.transport.memory import MemoryNetwork
from chordial.transport.tcp import TcpTransport

BITS = 16
FAST = ChordConfig(
    id_bits=BITS,
    stabilize_period=0.03,
    fix_fingers_period=0.03,
    check_predecessor_period=0.1,
    rpc_timeout=0.3,
    repair_period=30,  # no anti-entropy while a test ages a copy on purpose
)
ADDRESSES = [f"127.0.0.1:{9001 + i}" for i in range(5)]


@dataclass
class Ring:
    net: MemoryNetwork
    runtimes: list[NodeRuntime]
    client: ChordClient

    def runtime(self, address: str) -> NodeRuntime:
        return next(r for r in self.runtimes if r.address == address)


async def wait_for_ring(client: ChordClient, size: int, timeout: float = 10.0) -> list[NodeState]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            states = await client.overlay()
            full = all(len(s.successors) == min(FAST.successors, size - 1) for s in states)  # replicas' places
            if len(states) == size and not ring_problems(states) and full:
                return states
        except ChordialError:
            pass
        assert time.monotonic() < deadline, f"ring of {size} did not form within {timeout}s"
        await asyncio.sleep(0.05)


async def _start_ring(config: ChordConfig) -> AsyncIterator[Ring]:
    net = MemoryNetwork()
    runtimes = [await start_node(net.transport(), ADDRESSES[0], config=config, seed=0)]
    for index, address in enumerate(ADDRESSES[1:], 1):
        runtimes.append(await start_node(net.transport(), address, join=ADDRESSES[0], config=config, seed=index))
    client = ChordClient(ADDRESSES[0], timeout=2.0, transport=net.transport("client"))
    try:
        await wait_for_ring(client, len(ADDRESSES))
        yield Ring(net, runtimes, client)
    finally:
        await client.close()
        for runtime in runtimes:
            await runtime.crash()


@pytest.fixture
async def ring() -> AsyncIterator[Ring]:
    """Five nodes, k = 3 replicas, linearizable (the defaults)."""
    async for made in _start_ring(FAST):
        yield made


@pytest.fixture
async def eventual_ring() -> AsyncIterator[Ring]:
    """Five nodes, k = 2 replicas, eventual."""
    async for made in _start_ring(replace(FAST, replicas=2, consistency="eventual")):
        yield made


def owner_of(states: list[NodeState], key: str) -> NodeRef:
    kid = key_id(key, BITS)
    for state in states:
        assert state.predecessor is not None
        if between_right_incl(state.predecessor.id, kid, state.node.id):
            return state.node
    raise AssertionError("no owner")


# ------------------------------------------------------------------------------------------ data


async def test_put_get_delete_round_trip(ring: Ring) -> None:
    client = ring.client
    first = await client.put("colour", "blue")
    assert isinstance(first, DataReply)
    assert first.entry is not None and first.entry.version == 1 and first.entry.value == b"blue"
    second = await client.put("colour", b"green")
    assert second.entry is not None and second.entry.version == 2
    assert await client.get("colour") == b"green"
    entry = await client.get_entry("colour")
    assert entry.found and entry.entry is not None and entry.entry.value == b"green"
    assert await client.delete("colour") is True
    assert await client.delete("colour") is False
    with pytest.raises(KeyNotFound, match="'colour' not found"):
        await client.get("colour")
    assert not (await client.get_entry("colour")).found


async def test_every_node_serves_every_key(ring: Ring) -> None:
    for index in range(20):
        writer = ChordClient(ADDRESSES[index % 5], transport=ring.net.transport("client"))
        await writer.put(f"k{index}", f"v{index}")
    for address in ADDRESSES:
        reader = ChordClient(address, transport=ring.net.transport("client"))
        for index in range(20):
            assert await reader.get(f"k{index}") == f"v{index}".encode()


async def test_missing_key_raises_key_not_found(ring: Ring) -> None:
    with pytest.raises(KeyNotFound) as info:
        await ring.client.get("never-written")
    assert info.value.key == "never-written"
    assert info.value.owner is not None
    assert "\n" not in str(info.value)


async def test_lookup_reports_owner_path_and_hops(ring: Ring) -> None:
    states = await ring.client.overlay()
    for key in ("a", "b", "c", "some longer key"):
        reply = await ring.client.lookup(key)
        assert reply.key_id == key_id(key, BITS)
        assert reply.owner == owner_of(states, key)
        assert reply.path[0].address == ring.client.address
        assert reply.path[-1] == reply.owner
        assert reply.hops == len(reply.path) - 1


@pytest.mark.parametrize(
    ("key", "message"),
    [("", "key must not be empty"), ("k" * 1025, "1025 bytes, the limit is 1024")],
)
async def test_invalid_keys_raise_invalid_request(ring: Ring, key: str, message: str) -> None:
    for call in (ring.client.put(key, "v"), ring.client.get(key), ring.client.delete(key), ring.client.lookup(key)):
        with pytest.raises(InvalidRequest, match=message) as info:
            await call
        assert ADDRESSES[0] in str(info.value)
        assert info.value.address == ADDRESSES[0]


async def test_unreachable_node_raises_unavailable(ring: Ring) -> None:
    client = ChordClient("127.0.0.1:9999", timeout=0.5, transport=ring.net.transport("client"))
    with pytest.raises(Unavailable, match=r"node 127\.0\.0\.1:9999 unavailable") as info:
        await client.get("x")
    assert info.value.address == "127.0.0.1:9999"


@pytest.mark.parametrize("address", ["", "nonsense", "127.0.0.1", "127.0.0.1:port", "127.0.0.1:70000", "::1:80", "h:0"])
def test_malformed_addresses_are_refused_up_front(address: str) -> None:
    with pytest.raises(ValueError, match="malformed address"):
        ChordClient(address, transport=MemoryNetwork().transport())


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout"):
        ChordClient("127.0.0.1:1", timeout=0, transport=MemoryNetwork().transport())


# ------------------------------------------------------------------------------------------ overlay


async def test_overlay_walks_the_ring_in_order(ring: Ring) -> None:
    states = await ring.client.overlay()
    assert states[0].node.address == ADDRESSES[0]
    assert sorted(s.node.address for s in states) == sorted(ADDRESSES)
    assert ring_problems(states) == []
    other = await ring.client.state(ADDRESSES[3])
    assert other.node.address == ADDRESSES[3] and other.id_bits == BITS
    assert len(await ring.client.overlay(max_nodes=2)) == 2


async def test_overlay_skips_a_dead_successor(ring: Ring) -> None:
    states = await ring.client.overlay()
    victim = states[1].node.address
    ring.net.kill(victim)  # crash: no leave, the ring still points at it
    walked = await ring.client.overlay()
    addresses = [s.node.address for s in walked]
    assert victim not in addresses
    assert sorted(addresses) == sorted(a for a in ADDRESSES if a != victim)
    # stabilization repairs the ring around the dead node
    await wait_for_ring(ring.client, 4)


async def test_keys_lists_every_entry_once_grouped_by_node(ring: Ring) -> None:
    for index in range(30):
        await ring.client.put(f"key{index}", f"value{index}")
    await ring.client.delete("key0")
    lists = await ring.client.keys()
    assert sorted(kl.node.address for kl in lists) == sorted(ADDRESSES)
    seen = [e.key for kl in lists for e in kl.entries]
    assert sorted(seen) == sorted(f"key{i}" for i in range(1, 30))
    states = await ring.client.overlay()
    for kl in lists:
        for entry in kl.entries:
            assert owner_of(states, entry.key) == kl.node
    with_tombstones = await ring.client.keys(include_deleted=True)
    tombstones = [e for kl in with_tombstones for e in kl.entries if e.deleted]
    assert [e.key for e in tombstones] == ["key0"]


async def test_leave_hands_keys_over(ring: Ring) -> None:
    for index in range(30):
        await ring.client.put(f"key{index}", f"value{index}")
    leaver = ADDRESSES[2]
    await ring.client.leave(leaver)
    await asyncio.wait_for(ring.runtime(leaver).stopped.wait(), 5)
    states = await wait_for_ring(ring.client, 4)
    assert leaver not in [s.node.address for s in states]
    for index in range(30):
        assert await ring.client.get(f"key{index}") == f"value{index}".encode()


async def test_watch_yields_event_dicts(ring: Ring) -> None:
    async def first_lookup_event() -> dict[str, object]:
        async for event in ring.client.watch():
            if event["kind"] == "lookup_completed":
                return event
        raise AssertionError("feed ended")

    task = asyncio.create_task(first_lookup_event())
    await asyncio.sleep(0.05)
    await ring.client.lookup("watched")
    event = await asyncio.wait_for(task, 5)
    assert event["node"] == {"id": str((await ring.client.state()).node.id), "address": ADDRESSES[0]}
    assert isinstance(event["time"], float)


# ------------------------------------------------------------------------------------------ replication


def ring_order_after(states: list[NodeState], owner: NodeRef, count: int) -> list[NodeRef]:
    """``owner`` and the ``count`` − 1 nodes after it, clockwise."""
    ordered = sorted((s.node for s in states), key=lambda ref: ref.id)
    start = ordered.index(owner)
    return [ordered[(start + i) % len(ordered)] for i in range(count)]


async def test_reads_in_either_mode_on_a_linearizable_ring(ring: Ring) -> None:
    client = ring.client
    await client.put("mode", "one")
    assert await client.get("mode") == b"one"
    assert await client.get("mode", consistency="linearizable") == b"one"
    assert await client.get("mode", consistency="eventual") == b"one"  # chain writes reached every replica
    reply = await client.get_entry("mode", consistency="eventual")
    assert reply.found and reply.entry is not None and reply.entry.version == 1
    with pytest.raises(ValueError, match="consistency must be linearizable or eventual, got 'strong'"):
        await client.get("mode", consistency="strong")


async def test_write_consistency_must_match_the_ring(ring: Ring, eventual_ring: Ring) -> None:
    assert await ring.client.ring_consistency() == "linearizable"
    assert await eventual_ring.client.ring_consistency() == "eventual"
    await ring.client.put("w", "1", consistency="linearizable")
    assert await ring.client.delete("w", consistency="linearizable") is True
    with pytest.raises(InvalidRequest, match="writes follow the ring's mode, which is linearizable, not eventual"):
        await ring.client.put("w", "2", consistency="eventual")
    with pytest.raises(InvalidRequest, match="which is eventual, not linearizable"):
        await eventual_ring.client.delete("w", consistency="linearizable")
    await eventual_ring.client.put("w", "3", consistency="eventual")
    with pytest.raises(KeyNotFound):
        await ring.client.get("w")  # the refused write was not made
    with pytest.raises(KeyNotFound):
        await ring.client.get(PROBE_KEY)  # probing the mode wrote nothing


async def test_an_eventual_ring_refuses_linearizable_reads(eventual_ring: Ring) -> None:
    client = eventual_ring.client
    await client.put("e", "value")
    with pytest.raises(InvalidRequest, match="linearizable reads are not available") as info:
        await client.get("e", consistency="linearizable")
    assert "\n" not in str(info.value)
    deadline = time.monotonic() + 5
    while True:  # the owner acknowledged before it pushed: a replica may answer before it has it
        try:
            assert await client.get("e", consistency="eventual") == b"value"
            break
        except KeyNotFound:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    assert await client.get("e") == await client.get("e", consistency="eventual")


async def test_eventual_reads_asked_at_the_owner_stay_in_the_replica_group(ring: Ring) -> None:
    await ring.client.put("at-owner", "here")
    owner = (await ring.client.lookup("at-owner")).owner
    assert all(entry is not None for _, entry in await ring.client.replicas("at-owner"))  # k = 3 copies
    at_owner = ChordClient(owner.address, transport=ring.net.transport("client"))
    # The owner picks a node of the group at random per read: had it picked among its successors
    # only (no owner, one node too far), all 30 reads would have avoided the copyless one with p = (2/3)^30.
    misses = 0
    for _ in range(30):
        try:
            await at_owner.get("at-owner", consistency="eventual")
        except KeyNotFound:
            misses += 1
    assert misses == 0, f"{misses} of 30 eventual reads asked at the owner found nothing"


async def test_replicas_lists_every_copy_owner_first(ring: Ring) -> None:
    client = ring.client
    await client.put("copied", "v1")
    await client.put("copied", "v2")
    states = await client.overlay()
    owner = owner_of(states, "copied")
    expected = ring_order_after(states, owner, 3)
    assert await client.replica_group("copied") == expected
    assert await client.replica_group("copied", k=1) == [owner]
    assert len(await client.replica_group("copied", k=9)) == len(ADDRESSES)  # never more than the ring
    copies = await client.replicas("copied")
    assert [node for node, _ in copies] == expected
    for _, entry in copies:
        assert entry is not None and entry.value == b"v2" and entry.version == 2
    with pytest.raises(ValueError, match="k must be at least 1"):
        await client.replica_group("copied", k=0)

    # A stale copy shows its older version; a node with no copy shows None; a dead one is left out.
    tail = ring.runtime(expected[2].address).node
    tail.store.apply(Entry("copied", key_id("copied", BITS), b"v1", 1))
    beyond = ring_order_after(states, owner, 4)[3]
    copies = await client.replicas("copied", k=4)
    assert [(node, entry.version if entry else None) for node, entry in copies] == [
        (expected[0], 2),
        (expected[1], 2),
        (expected[2], 1),
        (beyond, None),
    ]
    ring.net.kill(expected[1].address)
    assert [node for node, _ in await client.replicas("copied")] == [expected[0], expected[2]]


async def test_copies_of_deleted_keys_are_tombstones(ring: Ring) -> None:
    await ring.client.put("gone", "x")
    await ring.client.delete("gone")
    copies = await ring.client.replicas("gone")
    assert len(copies) == 3
    for _, entry in copies:
        assert entry is not None and entry.deleted and entry.version == 2


async def test_keys_with_replicas_and_overlay_counts(ring: Ring) -> None:
    for index in range(20):
        await ring.client.put(f"r{index}", f"v{index}")
    owned_only = await ring.client.keys()
    assert sorted(e.key for kl in owned_only for e in kl.entries) == sorted(f"r{i}" for i in range(20))
    held = await ring.client.holdings(include_replicas=True)
    assert len(held) == len(ADDRESSES)
    places: dict[str, list[bool]] = {}
    for state, kl in held:
        assert state.node == kl.node
        for entry in kl.entries:
            places.setdefault(entry.key, []).append(owns(state, entry))
    assert set(places) == {f"r{i}" for i in range(20)}
    for key, owned in places.items():
        assert sorted(owned) == [False, False, True], key  # one owner, two replicas
    states = await ring.client.overlay()
    assert sum(s.key_count for s in states) == 20
    assert sum(s.replica_count for s in states) == 40


# ------------------------------------------------------------------------------------------ errors


class ScriptedTransport:
    """Answers every call with one scripted reply (or raises it)."""

    def __init__(self, reply: Response | Exception) -> None:
        self.reply = reply
        self.closed = False

    async def call(self, address: str, request: Request, timeout: float) -> Response:
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply

    async def serve(self, address: str, handler: Handler, watcher: Watcher | None = None) -> object:
        raise NotImplementedError

    async def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("invalid", InvalidRequest),
        ("unavailable", Unavailable),
        ("not_found", KeyNotFound),
        ("failed_precondition", ClientError),
        ("internal", ClientError),
    ],
)
async def test_error_replies_map_to_exceptions(code: ErrorCode, kind: type[ChordialError]) -> None:
    client = ChordClient("127.0.0.1:7001", transport=ScriptedTransport(ErrorReply(code, "went\nwrong")))  # type: ignore[arg-type]
    with pytest.raises(kind) as info:
        await client.state()
    assert str(info.value) == "node 127.0.0.1:7001: went wrong"


@pytest.mark.parametrize(
    "failure", [Unreachable("127.0.0.1:7001: connection refused"), TransportError("no reply within 1s")]
)
async def test_transport_failures_become_unavailable(failure: Exception) -> None:
    client = ChordClient("127.0.0.1:7001", transport=ScriptedTransport(failure))  # type: ignore[arg-type]
    with pytest.raises(Unavailable) as info:
        await client.put("k", "v")
    assert str(info.value).startswith("node 127.0.0.1:7001 unavailable: ")
    assert str(info.value).count("127.0.0.1:7001") == 1


async def test_unexpected_reply_is_a_client_error() -> None:
    reply = Pong(NodeRef(1, "127.0.0.1:7001"), 160)
    client = ChordClient("127.0.0.1:7001", transport=ScriptedTransport(reply))  # type: ignore[arg-type]
    with pytest.raises(ClientError, match="answered GetState with Pong"):
        await client.state()
    assert not isinstance(GetState(), type(reply))


async def test_passed_transport_is_left_open() -> None:
    transport = ScriptedTransport(ErrorReply("internal", "x"))
    async with ChordClient("127.0.0.1:7001", transport=transport):  # type: ignore[arg-type]
        pass
    assert not transport.closed


# ------------------------------------------------------------------------------------------ gRPC


async def test_client_over_grpc() -> None:
    from chordial.transport.grpc import GrpcTransport

    transports = [GrpcTransport(), GrpcTransport()]
    first = await start_node(transports[0], "127.0.0.1:0", config=FAST, seed=1)
    second = await start_node(transports[1], "127.0.0.1:0", join=first.address, config=FAST, seed=2)
    try:
        async with ChordClient(second.address, timeout=2.0) as client:
            await wait_for_ring(client, 2)
            await client.put("over", "grpc")
            assert await client.get("over") == b"grpc"
            with pytest.raises(KeyNotFound):
                await client.get("absent")
            with pytest.raises(InvalidRequest, match="key must not be empty"):
                await client.put("", "v")
            reply = await client.lookup("over")
            assert reply.owner.address in (first.address, second.address)
            assert {kl.node.address for kl in await client.keys()} == {first.address, second.address}
    finally:
        for runtime in (first, second):
            await runtime.crash()
        for transport in transports:
            await transport.close()


async def test_watch_over_grpc_ends_when_the_node_stops() -> None:
    from chordial.transport.grpc import GrpcTransport

    transport = GrpcTransport()
    node = await start_node(transport, "127.0.0.1:0", config=FAST, seed=3)
    seen: list[str] = []
    try:
        async with ChordClient(node.address, timeout=2.0) as client:

            async def collect() -> None:
                async for event in client.watch():
                    seen.append(str(event["kind"]))

            task = asyncio.create_task(collect())
            await asyncio.sleep(0.2)
            await client.put("watched", "value")
            await asyncio.sleep(0.2)
            await node.leave()
            await asyncio.wait_for(task, 5)
    finally:
        await node.crash()
        await transport.close()
    assert "key_written" in seen


# ------------------------------------------------------------------------------------------ route cache


async def _tcp_ring(size: int) -> tuple[list[NodeRuntime], TcpTransport]:
    """``size`` nodes sharing one TCP transport (as many nodes in one process do)."""
    shared = TcpTransport()
    first = await start_node(shared, "127.0.0.1:0", config=FAST, seed=100)
    nodes = [first]
    for index in range(1, size):
        nodes.append(await start_node(shared, "127.0.0.1:0", join=first.address, config=FAST, seed=100 + index))
    return nodes, shared


async def _until_learnt(client: ChordClient, keys: list[str]) -> None:
    """Read ``keys`` until one pass goes entirely by the cache (every owner's range learnt)."""
    deadline = time.monotonic() + 10
    while True:
        before = replace(client.route_stats)
        for key in keys:
            await client.get_entry(key)
        if client.route_stats.hits - before.hits == len(keys):
            return
        assert time.monotonic() < deadline, f"{len(client.routes)} ranges learnt, still missing some"
        await asyncio.sleep(0.05)


async def test_cached_routes_go_straight_to_the_owner_over_tcp() -> None:
    nodes, shared = await _tcp_ring(6)
    keys = [f"cached-{i}" for i in range(120)]
    try:
        async with ChordClient(nodes[0].address, timeout=2.0, transport="tcp") as client:
            states = await wait_for_ring(client, len(nodes))
            for key in keys:
                await client.put(key, key)
            await _until_learnt(client, keys)
            before = replace(client.route_stats)
            for key in keys:
                reply = await client.get_entry(key)
                assert reply.found and reply.entry is not None and reply.entry.value == key.encode()
                assert reply.owner == owner_of(states, key)
                assert reply.path == (reply.owner,) and reply.hops == 0  # one call, to the owner
            assert client.route_stats.hits - before.hits == len(keys)
            put = await client.put(keys[0], "again")
            assert put.path == (owner_of(states, keys[0]),) and put.entry is not None and put.entry.version == 2
            assert await client.delete(keys[1]) is True
            with pytest.raises(KeyNotFound):
                await client.get(keys[1])
            assert client.route_stats.hit_rate > 0.5
            assert client.route_stats.learnt >= 1
    finally:
        for runtime in nodes:
            await runtime.crash()
        await shared.close()


async def test_a_dead_or_moved_owner_falls_back_to_the_ring() -> None:
    nodes, shared = await _tcp_ring(6)
    keys = [f"moving-{i}" for i in range(120)]
    extra: list[NodeRuntime] = []
    try:
        async with ChordClient(nodes[0].address, timeout=2.0, transport="tcp") as client:
            await wait_for_ring(client, len(nodes))
            for key in keys:
                await client.put(key, key)
            await _until_learnt(client, keys)
            # A crash: the dead owner's keys are served by its successor (k = 3 copies).
            states = await client.overlay()
            victim = max(nodes[1:], key=lambda n: sum(owner_of(states, k).id == n.node.id for k in keys))
            nodes.remove(victim)
            await victim.crash()
            await wait_for_ring(client, len(nodes))
            stale = client.route_stats.stale
            for key in keys:
                assert await client.get(key) == key.encode()
            assert client.route_stats.stale > stale
            # A join: part of a cached range now belongs to the newcomer ("not mine" at the old owner).
            # The newcomer takes the lower half of the keys of the node that owns the most.
            states = await client.overlay()
            owned = {s.node.id: [k for k in keys if owner_of(states, k) == s.node] for s in states}
            widest = max(states, key=lambda s: len(owned[s.node.id]))
            assert widest.predecessor is not None
            start = widest.predecessor.id
            in_order = sorted(owned[widest.node.id], key=lambda k: (key_id(k, BITS) - start) % 2**BITS)
            middle = key_id(in_order[len(in_order) // 2], BITS)
            extra.append(await start_node(shared, "127.0.0.1:0", join=nodes[0].address, config=FAST, node_id=middle))
            states = await wait_for_ring(client, len(nodes) + 1)
            stale = client.route_stats.stale
            for key in keys:
                assert await client.get(key) == key.encode()
            for key in keys:
                reply = await client.put(key, key + "!")
                assert reply.owner == owner_of(states, key)
            assert client.route_stats.stale > stale
            for key in keys:
                assert await client.get(key) == (key + "!").encode()
    finally:
        for runtime in nodes + extra:
            await runtime.crash()
        await shared.close()


async def test_without_the_cache_every_operation_is_routed(ring: Ring) -> None:
    client = ChordClient(ring.client.address, timeout=2.0, transport=ring.net.transport("c2"), cache_routes=False)
    for i in range(10):
        await client.put(f"k{i}", "v")
        await client.get(f"k{i}")
    assert client.route_stats.hits == 0 and len(client.routes) == 0
    await client.close()


async def test_a_get_the_cache_cannot_serve_counts_one_miss(ring: Ring) -> None:
    await ring.client.put("counted", "v")
    client = ChordClient(ring.client.address, timeout=2.0, transport=ring.net.transport("c3"))
    assert await client.get("counted") == b"v"  # nothing learnt yet: routed by the ring
    assert (client.route_stats.hits, client.route_stats.misses) == (0, 1)
    with pytest.raises(KeyNotFound):
        await client.get("never-written")
    assert client.route_stats.misses == 2
    await client.close()


async def test_client_reaches_tcp_and_grpc_nodes_by_default() -> None:
    from chordial.transport.grpc import GrpcTransport

    ring_a, shared = await _tcp_ring(1)
    grpc_side = GrpcTransport()
    grpc_node = await start_node(grpc_side, "127.0.0.1:0", config=FAST, seed=7)
    try:
        for address in (ring_a[0].address, grpc_node.address):
            async with ChordClient(address, timeout=2.0) as client:
                await client.put("either", "carrier")
                assert await client.get("either") == b"carrier"
    finally:
        await ring_a[0].crash()
        await grpc_node.crash()
        await shared.close()
        await grpc_side.close()
