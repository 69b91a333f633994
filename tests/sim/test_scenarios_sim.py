"""The foundation's ring scenarios, replayed on the simulator with real latencies.

16 nodes join one at a time and converge (successors, predecessors and fingers); keys land on
successor(key id) and read back; a graceful leave loses no key; a crash is noticed and healed.
"""

from __future__ import annotations

import random
from typing import Any

from chordial.core.config import ChordConfig
from chordial.core.events import PeerFailedEvent
from chordial.core.ids import key_id
from chordial.core.invariants import assert_ring, check_ring, is_ideal
from chordial.core.messages import ClientGet, ClientPut, DataReply, Request
from chordial.core.node import ChordNode
from chordial.sim import LatencyModel, Simulation
from chordial.sim.metrics import convergence_time

R = 4
CONFIG = ChordConfig(
    successors=R, stabilize_period=1.0, fix_fingers_period=1.0, check_predecessor_period=2.0, rpc_timeout=0.5
)
KEYS = [f"key-{i:03d}" for i in range(200)]


def joined_ring(seed: int = 1) -> Simulation:
    sim = Simulation(CONFIG, seed=seed, latency=LatencyModel("uniform", low=0.005, high=0.05))
    first = sim.create()
    for _ in range(15):
        sim.join(via=first)
        sim.run_for(3.0)
    return sim


def wait_for_fingers(sim: Simulation, limit: float = 120.0) -> None:
    deadline = sim.now + limit
    while sim.correctness()["fingers"] < 1.0 and sim.now < deadline:
        sim.run_for(1.0)


def wait_for_ideal(sim: Simulation, limit: float = 30.0) -> None:
    """Successor lists fill one entry per stabilize round after the first is right."""
    deadline = sim.now + limit
    while not is_ideal(sim.live(), R) and sim.now < deadline:
        sim.run_for(0.5)
    assert is_ideal(sim.live(), R)


def serve(sim: Simulation, requests: list[tuple[ChordNode, Request]], within: float = 20.0) -> list[Any]:
    """Serve every request at its node concurrently; their replies in order."""
    replies: list[Any] = [None] * len(requests)
    for i, (node, request) in enumerate(requests):

        def done(reply: Any, _: BaseException | None, i: int = i) -> None:
            replies[i] = reply

        sim.request(node, request, done)
    sim.run_for(within)
    assert all(r is not None for r in replies), "some requests got no reply"
    return replies


def by_id(sim: Simulation) -> dict[int, ChordNode]:
    return {n.id: n for n in sim.live()}


def put_all(sim: Simulation, rng: random.Random) -> None:
    live = sim.live()
    replies = serve(sim, [(rng.choice(live), ClientPut(k, k.encode())) for k in KEYS])
    nodes = by_id(sim)
    for key, reply in zip(KEYS, replies, strict=True):
        assert isinstance(reply, DataReply), reply
        kid = key_id(key, CONFIG.id_bits)
        assert reply.owner.id == sim.owner_of(kid), key
        entry = nodes[sim.owner_of(kid)].store.get(kid, key)
        assert entry is not None and entry.value == key.encode()


def read_all(sim: Simulation, rng: random.Random) -> dict[str, bool]:
    live = sim.live()
    replies = serve(sim, [(rng.choice(live), ClientGet(k)) for k in KEYS])
    found: dict[str, bool] = {}
    for key, reply in zip(KEYS, replies, strict=True):
        assert isinstance(reply, DataReply), (key, reply)
        found[key] = reply.found
        if reply.found:
            assert reply.entry is not None and reply.entry.value == key.encode()
    return found


def test_sixteen_joins_converge_to_a_correct_ring_with_correct_fingers() -> None:
    sim = joined_ring()
    took = convergence_time(sim, until=sim.now + 60.0, poll=0.5)
    assert took is not None
    assert len(sim.members) == 16
    wait_for_fingers(sim)
    assert sim.correctness() == {"successors": 1.0, "predecessors": 1.0, "fingers": 1.0}
    assert_ring(sim.live())
    assert is_ideal(sim.live(), R)


def test_puts_land_on_the_key_successor_and_read_back() -> None:
    sim = joined_ring(2)
    convergence_time(sim, until=sim.now + 60.0)
    rng = random.Random(2)
    put_all(sim, rng)
    assert sum(sim.keys_per_node()) == len(KEYS)
    assert all(read_all(sim, rng).values())


def test_a_graceful_leave_loses_no_key() -> None:
    sim = joined_ring(3)
    convergence_time(sim, until=sim.now + 60.0)
    rng = random.Random(3)
    put_all(sim, rng)
    leaver = max(sim.live(), key=lambda n: n.state().key_count)
    held = leaver.state().key_count
    successor = by_id(sim)[leaver.successor.id]
    before = successor.state().key_count
    sim.leave(leaver)
    sim.run_for(5.0)
    assert leaver.status == "stopped"
    assert successor.state().key_count == before + held  # it owns the leaver's range now
    assert sum(sim.keys_per_node()) == len(KEYS)
    assert all(read_all(sim, rng).values())
    assert convergence_time(sim, until=sim.now + 30.0) is not None
    wait_for_ideal(sim)


def test_a_crash_is_detected_and_the_ring_heals() -> None:
    sim = joined_ring(4)
    convergence_time(sim, until=sim.now + 60.0)
    rng = random.Random(4)
    put_all(sim, rng)
    victim = sim.live()[5]
    crashed_at = sim.now
    sim.crash(victim)
    took = convergence_time(sim, until=sim.now + 30.0, poll=0.25)
    assert took is not None and took <= 2 * CONFIG.check_predecessor_period + 2 * CONFIG.stabilize_period
    detected = [
        e for e in sim.events if isinstance(e, PeerFailedEvent) and e.peer.id == victim.id and e.time >= crashed_at
    ]
    assert detected, "nobody noticed the crash"
    assert_ring(sim.live())
    wait_for_ideal(sim, limit=R * CONFIG.stabilize_period * 2)
    found = read_all(sim, rng)
    assert all(found.values())  # three copies of each key: one crash loses nothing
    wait_for_fingers(sim)
    assert sim.correctness()["fingers"] == 1.0


def test_a_leave_notice_during_stabilize_keeps_the_live_successor() -> None:
    """P queries its head L; the query is lost; L leaves and its notice splices L out of P's
    list (head is now X); then P's query times out and P must drop L, not X."""
    config = ChordConfig(
        id_bits=16, successors=3, stabilize_period=100.0, fix_fingers_period=100.0, check_predecessor_period=100.0,
        rpc_timeout=0.5,
    )  # fmt: skip
    sim = Simulation(config, seed=1, latency=LatencyModel("constant", median=0.05))
    p, leaver, x, _, _ = sim.build_ideal(5, ids=[1000, 2000, 3000, 4000, 5000])
    sim.network.isolate(leaver.ref.address)
    sim.spawn(p, p.stabilize())  # its GetNeighbours to the leaver is cut: PeerFailed at t = 0.5
    sim.run(0.01)
    sim.network.heal()
    sim.leave(leaver)
    sim.run(0.4)
    assert leaver.status == "stopped" and [s.id for s in p.successors] == [3000, 4000, 5000]
    sim.run(0.55)
    assert x.id in [s.id for s in p.successors], [s.id for s in p.successors]
    assert check_ring(sim.live(), 3) == []
