"""The asyncio runtime driving real core nodes over the in-memory network.

Scenario tests of the Chord paper's behaviours with real timers and concurrency: join races
(§4.4 concurrent joins), a leave during lookups, failing successors and predecessors (§5.3).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator

import pytest

from chordial.core.invariants import assert_ring
from chordial.core.messages import ClientGet, ClientLookup, ClientPut, DataReply, ErrorReply, GetState, NodeState
from chordial.runtime import start_node
from chordial.transport.memory import MemoryNetwork
from tests.runtime.ring import FAST, Ring


@pytest.fixture
async def net_ring() -> AsyncIterator[tuple[MemoryNetwork, Ring]]:
    net = MemoryNetwork()
    ring = Ring(net.transport)
    yield net, ring
    await ring.stop()


async def put_all(net: MemoryNetwork, ring: Ring, keys: list[str]) -> None:
    client = net.transport()
    rng = random.Random(3)
    for k in keys:
        reply = await client.call(rng.choice(ring.live()).address, ClientPut(k, k.encode()), 5)
        assert isinstance(reply, DataReply), reply


async def read(net: MemoryNetwork, ring: Ring, key: str) -> DataReply:
    reply = await net.transport().call(random.choice(ring.live()).address, ClientGet(key), 5)
    assert isinstance(reply, DataReply), reply
    return reply


async def test_concurrent_joins_converge_to_the_ideal_ring(net_ring: tuple[MemoryNetwork, Ring]) -> None:
    _, ring = net_ring
    await ring.add()
    await asyncio.gather(*(ring.add() for _ in range(11)))  # all join through the same node at once
    await ring.converged(fingers=True)
    assert_ring(r.node for r in ring.live())


async def test_leave_during_lookups_loses_no_key(net_ring: tuple[MemoryNetwork, Ring]) -> None:
    net, ring = net_ring
    await ring.grow(8)
    await ring.converged(fingers=True)
    keys = [f"k{i}" for i in range(120)]
    await put_all(net, ring, keys)
    leaver = max(ring.live(), key=lambda r: len(r.node.store))
    held = {e.key for e in leaver.node.store.live()}
    assert held
    client = net.transport()
    survivors = [r for r in ring.live() if r is not leaver]
    lookups = [client.call(survivors[i % len(survivors)].address, ClientGet(k), 5) for i, k in enumerate(keys)]
    results = await asyncio.gather(leaver.leave(), *lookups)
    assert all(isinstance(r, DataReply) and r.found for r in results[1:]), [r for r in results[1:] if not r]
    await ring.converged()
    for k in sorted(held):
        assert (await read(net, ring, k)).found, k
    assert sum(r.node.state().key_count for r in ring.live()) == len(keys)  # each key at its owner


async def test_successor_failure_is_routed_around_and_healed(net_ring: tuple[MemoryNetwork, Ring]) -> None:
    net, ring = net_ring
    await ring.grow(8)
    await ring.converged(fingers=True)
    origin = ring.live()[0]
    victim = origin.node.successor
    await next(r for r in ring.nodes if r.address == victim.address).crash()
    # Before stabilize notices, lookups from the origin must still succeed via its successor list.
    reply = await net.transport().call(origin.address, ClientLookup("anything"), 5)
    assert isinstance(reply, DataReply)
    await ring.converged()
    assert origin.node.successor.id != victim.id
    assert any(e.kind == "peer_failed" for e in ring.events)


async def test_predecessor_failure_is_detected_and_range_taken_over(net_ring: tuple[MemoryNetwork, Ring]) -> None:
    net, ring = net_ring
    await ring.grow(6)
    await ring.converged()
    node = ring.live()[2]
    pred = node.node.predecessor
    assert pred is not None
    await next(r for r in ring.nodes if r.address == pred.address).crash()
    await ring.converged()
    assert node.node.predecessor is not None and node.node.predecessor.id != pred.id
    # New writes to the dead node's range now land on its successor.
    await put_all(net, ring, [f"after-{i}" for i in range(40)])
    for i in range(40):
        assert (await read(net, ring, f"after-{i}")).found, i


async def test_wrong_ring_and_unreachable_joins_fail_cleanly(net_ring: tuple[MemoryNetwork, Ring]) -> None:
    net, ring = net_ring
    first = await ring.add()
    with pytest.raises(Exception, match="wrong ring"):
        await start_node(net.transport(), "x:0", join=first.address, config=FAST.__class__(id_bits=16))
    with pytest.raises(Exception, match="unreachable"):
        await start_node(net.transport(), "y:0", join="nowhere:1", config=FAST)
    assert len(net.handlers) == 1  # the failed nodes stopped serving


async def test_bad_requests_get_error_replies(net_ring: tuple[MemoryNetwork, Ring]) -> None:
    net, ring = net_ring
    first = await ring.add()
    client = net.transport()
    empty = await client.call(first.address, ClientPut("", b"v"), 5)
    assert isinstance(empty, ErrorReply) and empty.code == "invalid"
    big = await client.call(first.address, ClientPut("k" * 2000, b"v"), 5)
    assert isinstance(big, ErrorReply) and "limit" in big.message
    huge = await client.call(first.address, ClientPut("k", b"x" * (FAST.max_value_bytes + 1)), 5)
    assert isinstance(huge, ErrorReply) and huge.code == "invalid"
    state = await client.call(first.address, GetState(), 5)
    assert isinstance(state, NodeState) and state.key_count == 0


async def test_watch_streams_events(net_ring: tuple[MemoryNetwork, Ring]) -> None:
    net, ring = net_ring
    first = await ring.add()
    seen: list[str] = []

    async def consume() -> None:
        async for event in net.transport().watch(first.address):
            seen.append(event.kind)
            if event.kind == "predecessor_changed":
                return

    watcher = asyncio.create_task(consume())
    await asyncio.sleep(0)
    await ring.add()
    await asyncio.wait_for(watcher, 10)
    assert "predecessor_changed" in seen
    with contextlib.suppress(Exception):
        watcher.cancel()


async def test_adjacent_nodes_leaving_at_once_lose_no_key(net_ring: tuple[MemoryNetwork, Ring]) -> None:
    net, ring = net_ring
    await ring.grow(8)
    await ring.converged()
    keys = [f"k{i}" for i in range(200)]
    await put_all(net, ring, keys)
    first = ring.live()[1]
    second = next(r for r in ring.live() if r.node.id == first.node.successor.id)
    await asyncio.gather(first.leave(), second.leave())
    await ring.converged()
    assert sum(r.node.state().key_count for r in ring.live()) == len(keys)  # each key at its owner
    for k in keys:
        assert (await read(net, ring, k)).found, k
