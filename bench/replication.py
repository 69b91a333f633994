"""What replication costs on a live ring: put/get throughput and latency for k = 1, 3, 5 copies
in both modes, over loopback gRPC, against a k = 1 ring measured beside it (README "Replication").

Starts a k = 1 ring (no replication: the baseline) of N nodes in this process, then for each of
k = 3 and k = 5, linearizable (chain replication, reads at the head) and eventual (the owner
acknowledges, then pushes), a second ring of N nodes beside it (gRPC servers on 127.0.0.1,
default maintenance periods running in both rings). The two rings get the same operations —
puts of new keys, then gets of them, through random nodes, sequentially (latency) and with 32
in flight (throughput) — in alternating chunks, so that whatever else the machine does at the
time slows both alike: the ratios hold up on a shared machine, the absolute figures less so.
The load generator shares the process, so the figures count client and server CPU together, and
the idle ring's maintenance runs throughout (absolute figures are lower than bench/node_ops.py's).
"failed" counts errors and gets that found nothing.

    uv run python bench/replication.py [--nodes 64] [--ops 500]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from chordial.core.config import Consistency
from chordial.core.messages import ClientGet, ClientPut, Request
from chordial.runtime import NodeRuntime
from chordial.sim.exp_replication import VALUE, measure_live, mode_config, start_live_ring, stop_live_ring
from chordial.sim.metrics import percentile
from chordial.transport.grpc import GrpcTransport

CANDIDATES: tuple[tuple[int, Consistency], ...] = (
    (3, "linearizable"),
    (3, "eventual"),
    (5, "linearizable"),
    (5, "eventual"),
)
IN_FLIGHT = 32
PHASES = ("put seq", "get seq", f"put c{IN_FLIGHT}", f"get c{IN_FLIGHT}")


@dataclass
class Figures:
    """Operations of one kind on one ring, summed over chunks."""

    ops: int = 0
    ok: int = 0
    seconds: float = 0.0  # wall time the ring was being measured (sum of its chunks)
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def p(self, fraction: float) -> float:
        value = percentile(sorted(self.latencies), fraction)
        return 1000 * value if value is not None else float("nan")


Results = dict[str, Figures]


async def side_by_side(
    rings: Sequence[list[NodeRuntime]], ops: int, client: GrpcTransport, rng: random.Random, tag: str
) -> list[Results]:
    """The same workload on each ring, in chunks taken in turn (first ring first, then last first)."""
    results: list[Results] = [{phase: Figures() for phase in PHASES} for _ in rings]
    addresses = [[n.address for n in ring] for ring in rings]
    for flight, count, chunk in ((1, ops, 50), (IN_FLIGHT, 2 * ops, 250)):
        keys = [[f"{tag}-{index}-{flight}-{i}" for i in range(count)] for index in range(len(rings))]
        for op in ("put", "get"):
            phase = f"{op} {'seq' if flight == 1 else f'c{flight}'}"
            for turn, start in enumerate(range(0, count, chunk)):
                order = range(len(rings)) if turn % 2 == 0 else reversed(range(len(rings)))
                for index in order:
                    batch = keys[index][start : start + chunk]
                    requests: list[Request] = (
                        [ClientPut(key, VALUE) for key in batch] if op == "put" else [ClientGet(key) for key in batch]
                    )
                    stats = await measure_live(client, addresses[index], requests, flight, rng)
                    into = results[index][phase]
                    into.ops += stats.issued
                    into.ok += stats.ok
                    into.seconds += stats.last_done - stats.first_issue
                    into.latencies += stats.latencies
    return results


def row(name: str, figures: Results, failed: int) -> str:
    cells = []
    for op in ("put", "get"):
        seq, many = figures[f"{op} seq"], figures[f"{op} c{IN_FLIGHT}"]
        cells.append(f"{seq.rate:>10.0f} {seq.p(0.5):>7.2f} {seq.p(0.99):>7.2f} {many.rate:>10.0f}")
    return f"{name:<18} {cells[0]} {cells[1]}  {failed}"


def failures(figures: Results) -> int:
    return sum(f.ops - f.ok for f in figures.values())


async def main(nodes: int, ops: int, seed: int) -> None:
    began = time.monotonic()
    print(
        f"Chordial replication over gRPC on 127.0.0.1: rings of {nodes} nodes, each measured beside a k = 1 ring, "
        f"both and the load generator in one process; 100-byte values; {ops} sequential ops and {2 * ops} with "
        f"{IN_FLIGHT} in flight, per kind"
    )
    client = GrpcTransport()
    rng = random.Random(seed)
    baseline = await start_live_ring(nodes, mode_config(1, "linearizable"), seed)
    pairs: list[tuple[str, Results, Results]] = []
    try:
        for k, mode in CANDIDATES:
            ring = await start_live_ring(nodes, mode_config(k, mode), seed + k)
            try:
                base, other = await side_by_side([baseline, ring], ops, client, rng, f"{k}{mode[0]}")
            finally:
                await stop_live_ring(ring)
            pairs.append((f"k={k} {mode}", base, other))
    finally:
        await client.close()
        await stop_live_ring(baseline)

    header = (
        f"{'config':<18} {'put/s seq':>10} {'p50 ms':>7} {'p99 ms':>7} {f'put/s c{IN_FLIGHT}':>10} "
        f"{'get/s seq':>10} {'p50 ms':>7} {'p99 ms':>7} {f'get/s c{IN_FLIGHT}':>10}  failed"
    )
    print(header)
    for name, base, other in pairs:
        print(row(name, other, failures(other)))
        print(row("  k=1 beside it", base, failures(base)))
    heads = " ".join(f"{phase.replace(' ', '/s '):>10}" for phase in PHASES)
    print(f"{'against k = 1':<18} {heads}  put p50  get p50   (each against the k = 1 ring measured beside it)")
    for name, base, other in pairs:
        rates = [f"{other[phase].rate / base[phase].rate:>9.2f}×" for phase in PHASES]
        p50s = "  ".join(f"{other[f'{op} seq'].p(0.5) / base[f'{op} seq'].p(0.5):>6.2f}×" for op in ("put", "get"))
        print(f"{name:<18} {' '.join(rates)}  {p50s}")
    spread = statistics.pstdev([base[p].rate for _, base, _ in pairs for p in PHASES[:1]])
    print(f"k = 1 sequential put rate across its four pairings: ±{spread:.0f} ops/s (the machine's noise)")
    print(f"total {time.monotonic() - began:.0f} s")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=64)
    parser.add_argument("--ops", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.nodes, args.ops, args.seed))


if __name__ == "__main__":
    run()
