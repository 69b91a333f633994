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
import statistics
import time

from chordial.sim.exp_replication import OpStats, live_pairs

IN_FLIGHT = 32
PHASES = ("put 1", "get 1", f"put {IN_FLIGHT}", f"get {IN_FLIGHT}")


def row(name: str, figures: dict[str, OpStats]) -> str:
    cells = []
    for op in ("put", "get"):
        seq, many = figures[f"{op} 1"], figures[f"{op} {IN_FLIGHT}"]
        _, p50, p99 = seq.latency_ms()
        cells.append(f"{seq.throughput:>10.0f} {p50:>7.2f} {p99:>7.2f} {many.throughput:>10.0f}")
    failed = sum(f.issued - f.ok for f in figures.values())
    return f"{name:<18} {cells[0]} {cells[1]}  {failed}"


def median_ms(figures: dict[str, OpStats], op: str) -> float:
    return figures[f"{op} 1"].latency_ms()[1]


async def main(nodes: int, ops: int, seed: int) -> None:
    began = time.monotonic()
    print(
        f"Chordial replication over gRPC on 127.0.0.1: rings of {nodes} nodes, each measured beside a k = 1 ring, "
        f"both and the load generator in one process; 100-byte values; {ops} sequential ops and {2 * ops} with "
        f"{IN_FLIGHT} in flight, per kind"
    )
    pairs = await live_pairs(nodes, seed, ((1, ops, 50), (IN_FLIGHT, 2 * ops, 250)))
    print(
        f"{'config':<18} {'put/s seq':>10} {'p50 ms':>7} {'p99 ms':>7} {f'put/s c{IN_FLIGHT}':>10} "
        f"{'get/s seq':>10} {'p50 ms':>7} {'p99 ms':>7} {f'get/s c{IN_FLIGHT}':>10}  failed"
    )
    for pair in pairs:
        print(row(f"k={pair.k} {pair.mode}", pair.ring))
        print(row("  k=1 beside it", pair.baseline))
    heads = " ".join(
        f"{name.replace(' 1', '/s seq').replace(f' {IN_FLIGHT}', f'/s c{IN_FLIGHT}'):>10}" for name in PHASES
    )
    print(f"{'against k = 1':<18} {heads}  put p50  get p50   (each against the k = 1 ring measured beside it)")
    for pair in pairs:
        rates = " ".join(f"{pair.ring[p].throughput / pair.baseline[p].throughput:>9.2f}×" for p in PHASES)
        p50s = "  ".join(f"{median_ms(pair.ring, op) / median_ms(pair.baseline, op):>6.2f}×" for op in ("put", "get"))
        print(f"{f'k={pair.k} {pair.mode}':<18} {rates}  {p50s}")
    spread = statistics.pstdev([pair.baseline["put 1"].throughput for pair in pairs])
    print(f"k = 1 sequential put rate across its {len(pairs)} pairings: ±{spread:.0f} ops/s (the machine's noise)")
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
