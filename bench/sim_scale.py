"""How far and how fast the simulator goes: 10⁵ nodes, and 10⁴ nodes under an hour of churn.

Part 1 — 100,000 nodes. The ring starts from a correct (Ideal) state built directly
(`Simulation.build_ideal`: right successors, predecessors and fingers, as if every node had
joined and converged) rather than by 10⁵ joins. It then runs the full protocol: stabilize,
fix_fingers and check_predecessor every 30 virtual seconds while 10⁵ lookups arrive over the
same minute. Reported: wall time of each phase, peak memory, simulated messages per second
(requests and replies both count), and the lookups' correctness and hops against ½·log₂N + 1.

Part 2 — 10,000 nodes with Poisson churn (joins and crashes) and a lookup workload for one
virtual hour: the ratio of virtual to wall time.

The baseline peer in the same run is a bare heapq event loop moving the same number of
messages with no protocol work, so the ratio says what the Chord logic costs on this machine.

    uv run python bench/sim_scale.py [--nodes 100000] [--lookups 100000] [--churn-nodes 10000] [--hour 3600]
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import resource
import time

from chordial.core import ChordConfig
from chordial.sim import LatencyModel, Simulation
from chordial.sim.models import PoissonChurn, Workload


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bare_event_loop(messages: int) -> float:
    """Messages per second of a heapq loop that only schedules and pops (the engine's floor)."""
    heap: list[tuple[float, int, int]] = []
    rng = random.Random(1)
    began = time.perf_counter()
    for seq in range(min(messages, 1000)):
        heapq.heappush(heap, (rng.random(), seq, 0))
    seq = len(heap)
    now = 0.0
    for _ in range(messages):
        now, _, hops = heapq.heappop(heap)
        seq += 1
        heapq.heappush(heap, (now + 0.05, seq, hops + 1))
    return messages / (time.perf_counter() - began)


def part_one(nodes: int, lookups: int) -> None:
    # Ring maintenance and lookups only (no data is stored), so replication is off.
    config = ChordConfig(stabilize_period=30.0, fix_fingers_period=30.0, check_predecessor_period=30.0, replicas=1)
    began = time.perf_counter()
    sim = Simulation(config, seed=1, record_events=False)
    sim.build_ideal(nodes)
    built = time.perf_counter()
    rng = random.Random(2)
    bits = config.id_bits
    for _ in range(lookups):
        sim.scheduler.at(rng.uniform(30.0, 90.0), lambda: sim.lookup(sim.random_member(), rng.getrandbits(bits)))
    events0 = sim.scheduler.events_run
    sim.run(30.0)  # one full maintenance period on the correct ring before the lookups start
    stabilized = time.perf_counter()
    sim.run(100.0)
    finished = time.perf_counter()
    messages = 2 * sum(sim.network.sent.values())
    run_wall = finished - built
    stats = sim.lookups
    ref = 0.5 * math.log2(nodes) + 1
    print(f"Part 1: {nodes:,} nodes, {lookups:,} lookups (ring built in its Ideal state, then the protocol runs)")
    print(f"  build {built - began:.1f} s, first period {stabilized - built:.1f} s, total {finished - began:.1f} s")
    print(f"  peak memory {peak_rss_mib():,.0f} MiB")
    print(
        f"  {messages:,} messages in {run_wall:.1f} s = {messages / run_wall:,.0f} simulated messages/s "
        f"({sim.scheduler.events_run - events0:,} events)"
    )
    print(f"  by type: {sim.network.sent_by_name()}")
    print(
        f"  lookups ok {stats.ok:,}, failed {stats.failed}, wrong owner {stats.wrong_owner}; "
        f"mean hops {stats.mean_hops():.2f} (½·log₂N + 1 = {ref:.2f}), p99 {stats.hop_percentile(0.99)}"
    )
    floor = bare_event_loop(messages // 4)
    print(f"  bare heapq loop: {floor:,.0f} messages/s → Chordial runs at {messages / run_wall / floor:.2f}× the floor")
    correct = sim.correctness()
    print(f"  ring correctness after the run: {correct}")


def part_two(nodes: int, duration: float) -> None:
    # Ring maintenance and lookups only (no data is stored), so replication is off.
    config = ChordConfig(stabilize_period=30.0, fix_fingers_period=30.0, check_predecessor_period=30.0, replicas=1)
    sim = Simulation(config, seed=3, latency=LatencyModel.wan(), record_events=False)
    sim.build_ideal(nodes)
    rate = nodes / 10_000  # one join and one crash per 10,000 node-seconds each
    PoissonChurn(sim, join_rate=rate, leave_rate=0.0, crash_rate=rate, min_nodes=nodes // 2).start()
    workload = Workload(sim, rate=20.0, mix={"lookup": 1.0})
    workload.start()
    began = time.perf_counter()
    sim.run(duration)
    wall = time.perf_counter() - began
    stats = sim.lookups
    print(f"Part 2: {nodes:,} nodes, Poisson churn {rate:.2f} joins/s + {rate:.2f} crashes/s, WAN latency")
    print(f"  {duration:,.0f} virtual s in {wall:.1f} wall s → {duration / wall:.1f}× faster than real time")
    print(
        f"  members at the end {len(sim.members):,}; lookups ok {stats.ok:,}, failed {stats.failed}, "
        f"wrong owner {stats.wrong_owner}, timeouts/lookup {stats.timeouts / max(stats.ok, 1):.3f}"
    )
    print(f"  peak memory {peak_rss_mib():,.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--churn-nodes", type=int, default=10_000)
    parser.add_argument("--hour", type=float, default=3600.0)
    args = parser.parse_args()
    part_one(args.nodes, args.lookups)
    part_two(args.churn_nodes, args.hour)


if __name__ == "__main__":
    main()
