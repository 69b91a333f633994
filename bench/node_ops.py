"""Put/get throughput and latency of a Chordial ring on loopback gRPC (the baseline figures).

For each ring size N, starts N nodes in this process (gRPC servers on 127.0.0.1), waits until
the ring is correct, then runs puts and gets through random nodes, sequentially and with 32
requests in flight. The load generator runs in the same process as the nodes, so CPU per op
counts client and server work together. Maintenance (stabilize etc.) runs at its default
periods throughout, as it would in use.

Prints ops/s, p50/p99 latency, mean hops against ½·log₂N (+1 for the final hop to the owner,
which Chordial counts) and CPU per op; the concurrent/sequential ratio is measured in the same
run, so it holds up on a noisy machine.

    uv run python bench/node_ops.py [--sizes 16 64] [--ops 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from chordial.core import ChordConfig
from chordial.core.messages import ClientGet, ClientPut, DataReply, Request
from chordial.runtime import NodeRuntime, start_node
from chordial.transport.grpc import GrpcTransport


@dataclass
class Figures:
    label: str
    ops: int
    ok: int
    seconds: float
    cpu_seconds: float
    latencies: list[float]
    hops: list[int]

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    def row(self) -> str:
        lat = sorted(self.latencies)
        p50 = lat[len(lat) // 2] * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        return (
            f"{self.label:<22} {self.rate:>9.0f} {p50:>8.2f} {p99:>8.2f} "
            f"{statistics.fmean(self.hops):>6.2f} {self.cpu_seconds / self.ops * 1e6:>9.0f} {self.ok}/{self.ops}"
        )


def ring_is_right(nodes: list[NodeRuntime]) -> bool:
    ids = sorted(n.node.id for n in nodes)
    for runtime in nodes:
        i = ids.index(runtime.node.id)
        pred = runtime.node.predecessor
        if runtime.node.successor.id != ids[(i + 1) % len(ids)] or pred is None or pred.id != ids[i - 1]:
            return False
        if runtime.node.awaiting_handoff:
            return False
    return True


async def start_ring(size: int, config: ChordConfig) -> list[NodeRuntime]:
    nodes = [await start_node(GrpcTransport(), "127.0.0.1:0", config=config, seed=0)]
    for i in range(1, size):
        nodes.append(await start_node(GrpcTransport(), "127.0.0.1:0", join=nodes[0].address, config=config, seed=i))
    deadline = time.monotonic() + 120
    while not ring_is_right(nodes):
        if time.monotonic() > deadline:
            raise SystemExit(f"ring of {size} did not converge in 120 s")
        await asyncio.sleep(0.1)
    # Fingers: let fix_fingers go round a few times so lookups take the paper's path lengths.
    await asyncio.sleep(config.fix_fingers_period * 12)
    return nodes


async def measure(
    label: str, count: int, concurrency: int, make: Callable[[int], tuple[str, Request]], client: GrpcTransport
) -> Figures:
    latencies: list[float] = []
    hops: list[int] = []
    ok = 0
    queue = iter(range(count))

    async def worker() -> None:
        nonlocal ok
        for i in queue:
            address, request = make(i)
            began = time.perf_counter()
            reply = await client.call(address, request, 10.0)
            latencies.append(time.perf_counter() - began)
            if isinstance(reply, DataReply) and (not isinstance(request, ClientGet) or reply.found):
                ok += 1
                hops.append(reply.hops)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return Figures(label, count, ok, wall, cpu, latencies, hops or [0])


async def bench_size(size: int, ops: int) -> list[Figures]:
    config = ChordConfig(replicas=1)  # the single-copy baseline; bench/replication.py measures k > 1
    nodes = await start_ring(size, config)
    client = GrpcTransport()
    rng = random.Random(size)
    addresses = [n.address for n in nodes]
    value = b"v" * 100
    results: list[Figures] = []

    def put(tag: str) -> Callable[[int], tuple[str, Request]]:
        return lambda i: (rng.choice(addresses), ClientPut(f"{tag}-{i}", value))

    def get(tag: str) -> Callable[[int], tuple[str, Request]]:
        return lambda i: (rng.choice(addresses), ClientGet(f"{tag}-{i}"))

    for concurrency, tag in ((1, "seq"), (32, "c32")):
        results.append(await measure(f"N={size} put {tag}", ops, concurrency, put(tag), client))
        results.append(await measure(f"N={size} get {tag}", ops, concurrency, get(tag), client))
    await client.close()
    for runtime in nodes:
        await runtime.crash()
        await runtime.transport.close()
    return results


async def main(sizes: list[int], ops: int) -> None:
    header = f"{'run':<22} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'hops':>6} {'CPU µs/op':>9} ok"
    print("Chordial over gRPC on 127.0.0.1, load generator in the same process")
    for size in sizes:
        figures = await bench_size(size, ops)
        print(header)
        for fig in figures:
            print(fig.row())
        ref = 0.5 * math.log2(size)
        by = {f.label.split(" ", 1)[1]: f for f in figures}
        print(
            f"  mean hops (get): {statistics.fmean(by['get seq'].hops):.2f} vs ½·log₂N = {ref:.2f} "
            f"(+1 final hop to the owner = {ref + 1:.2f})"
        )
        print(
            f"  32-concurrent / sequential: put {by['put c32'].rate / by['put seq'].rate:.2f}×, "
            f"get {by['get c32'].rate / by['get seq'].rate:.2f}×"
        )
        print()


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--ops", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.ops))


if __name__ == "__main__":
    run()
