"""Start rings of real runtimes on any transport and await their convergence through events."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import Callable

from chordial.core import ChordConfig
from chordial.core.events import Event
from chordial.core.ids import finger_start
from chordial.runtime import NodeRuntime, start_node
from chordial.transport.base import Transport

FAST = ChordConfig(
    id_bits=32, successors=4, stabilize_period=0.05, fix_fingers_period=0.05, check_predecessor_period=0.1
)


class Ring:
    """A set of runtimes plus a condition that wakes on every event any of them emits."""

    def __init__(self, transport_factory: Callable[[], Transport], config: ChordConfig = FAST) -> None:
        self.transport_factory = transport_factory
        self.config = config
        self.nodes: list[NodeRuntime] = []
        self.events: list[Event] = []
        self._changed = asyncio.Event()

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    async def add(self, address: str = "127.0.0.1:0", join: NodeRuntime | None = None) -> NodeRuntime:
        via = join or (self.nodes[0] if self.nodes else None)
        runtime = await start_node(
            self.transport_factory(),
            address,
            join=via.address if via else None,
            config=self.config,
            seed=len(self.nodes),
        )
        runtime.add_listener(self._on_event)
        self.nodes.append(runtime)
        return runtime

    async def grow(self, count: int) -> None:
        for _ in range(count):
            await self.add()

    def live(self) -> list[NodeRuntime]:
        return [n for n in self.nodes if n.node.status == "active"]

    def ring_is_right(self, fingers: bool = False) -> bool:
        nodes = self.live()
        ids = sorted(n.node.id for n in nodes)
        size = len(ids)
        bits = self.config.id_bits
        for runtime in nodes:
            node = runtime.node
            i = ids.index(node.id)
            want = [ids[(i + k) % size] for k in range(1, min(self.config.successors, size - 1) + 1)]
            if [s.id for s in node.successors] != want or node.awaiting_handoff:
                return False
            pred = node.predecessor.id if node.predecessor else None
            if size > 1 and pred != ids[i - 1]:
                return False
            if fingers:
                for k, finger in enumerate(node.fingers):
                    start = finger_start(node.id, k, bits)
                    owner = ids[bisect.bisect_left(ids, start) % size]
                    if (finger.id if finger else node.id) != owner:
                        return False
        return True

    async def until(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait until ``predicate`` holds, re-checking after every event (bounded by ``timeout``)."""

        async def wait() -> None:
            while not predicate():
                self._changed.clear()
                # No event for a while: re-check anyway (a node that stopped emits nothing).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.5)

        await asyncio.wait_for(wait(), timeout)

    async def converged(self, fingers: bool = False, timeout: float = 20.0) -> None:
        await self.until(lambda: self.ring_is_right(fingers), timeout)

    async def stop(self) -> None:
        for runtime in self.nodes:
            if not runtime.stopped.is_set():
                await runtime.crash()
            await runtime.transport.close()
