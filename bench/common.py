"""What the benchmarks share: timing a batch of operations and printing its figures.

Each benchmark runs everything it compares in one process, one run, so that whatever else the
machine does slows both sides alike; the ratios are the figures to trust.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from chordial.core import ChordConfig
from chordial.runtime import NodeRuntime, start_node
from chordial.runtime.process import free_port
from chordial.transport.base import Transport


@dataclass
class Figures:
    """One batch: ``ops`` operations, ``ok`` of them succeeded, wall and CPU seconds."""

    label: str
    ops: int
    ok: int
    seconds: float
    cpu_seconds: float
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Successful operations per wall-clock second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok_fraction(self) -> float:
        return self.ok / self.ops if self.ops else 0.0

    def percentile(self, fraction: float) -> float:
        """Latency at ``fraction`` (0..1), in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000

    @property
    def cpu_per_op_us(self) -> float:
        return self.cpu_seconds / self.ops * 1e6 if self.ops else 0.0

    def row(self, width: int = 34) -> str:
        return (
            f"{self.label:<{width}} {self.rate:>9,.0f} {self.percentile(0.5):>8.2f} {self.percentile(0.99):>8.2f} "
            f"{self.ok_fraction:>7.3f} {self.cpu_per_op_us:>9,.0f}"
        )


def header(width: int = 34) -> str:
    return f"{'run':<{width}} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ok':>7} {'CPU µs/op':>9}"


async def measure(label: str, count: int, concurrency: int, op: Callable[[int], Awaitable[bool]]) -> Figures:
    """Run ``op(0) .. op(count - 1)`` with ``concurrency`` in flight; ``op`` returns success.

    An exception counts as a failed operation (and is not raised): the ok fraction tells.
    """
    latencies: list[float] = []
    ok = 0
    todo = iter(range(count))

    async def worker() -> None:
        nonlocal ok
        for index in todo:
            began = time.perf_counter()
            try:
                success = await op(index)
            except Exception:
                success = False
            latencies.append(time.perf_counter() - began)
            ok += success

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Figures(label, count, ok, time.perf_counter() - wall0, time.process_time() - cpu0, latencies)


def ring_is_right(nodes: Iterable[NodeRuntime]) -> bool:
    """Every node's successor and predecessor are its neighbours in id order."""
    live = [n for n in nodes if n.node.status == "active"]
    ids = sorted(n.node.id for n in live)
    for runtime in live:
        i = ids.index(runtime.node.id)
        pred = runtime.node.predecessor
        if runtime.node.successor.id != ids[(i + 1) % len(ids)] or pred is None or pred.id != ids[i - 1]:
            return False
        if runtime.node.awaiting_handoff:
            return False
    return True


async def start_ring(
    size: int,
    config: ChordConfig,
    transport: Callable[[], Transport],
    *,
    settle: float = 0.0,
    timeout: float = 120.0,
) -> list[NodeRuntime]:
    """``size`` nodes on 127.0.0.1 (ports below 32768), joined one after another through the
    first; returns once the ring is right and ``settle`` more seconds have passed (fingers)."""
    nodes = [await start_node(transport(), f"127.0.0.1:{free_port()}", config=config, seed=0)]
    for i in range(1, size):
        address = f"127.0.0.1:{free_port()}"
        nodes.append(await start_node(transport(), address, join=nodes[0].address, config=config, seed=i))
    deadline = time.monotonic() + timeout
    while not ring_is_right(nodes):
        if time.monotonic() > deadline:
            raise SystemExit(f"ring of {size} did not converge in {timeout:g} s")
        await asyncio.sleep(0.1)
    await asyncio.sleep(settle)
    return nodes


async def stop_ring(nodes: list[NodeRuntime], close: Iterable[Transport] = ()) -> None:
    for runtime in nodes:
        await runtime.crash()
    for transport in close:
        await transport.close()


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b > 0 else "∞"
