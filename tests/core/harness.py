"""A synchronous driver for core nodes: calls are delivered at once, in call order.

It runs procedures to completion by handing each ``Call`` straight to the target core (nested
procedures run recursively), so a test can script a schedule step by step — "join n1 via n0,
stabilize n1, then n0" — as Zave's scenarios are written. Dead nodes raise ``PeerFailed``.
"""

from __future__ import annotations

import random
from collections.abc import Generator, Iterable
from typing import Any, TypeVar

from chordial.core import ChordConfig, ChordNode, PeerFailed
from chordial.core.effects import Call, Procedure, Spawn
from chordial.core.events import Event
from chordial.core.messages import ErrorReply, NodeRef, Request, Response

T = TypeVar("T")


class SyncNet:
    def __init__(self, config: ChordConfig | None = None, seed: int = 7) -> None:
        self.config = config or ChordConfig(id_bits=8, successors=2)
        self.rng = random.Random(seed)
        self.nodes: dict[str, ChordNode] = {}
        self.dead: set[str] = set()
        self.events: list[Event] = []
        self.now = 0.0
        self.calls = 0
        self.background: list[tuple[ChordNode, Procedure[Any]]] = []

    def add(self, node_id: int) -> ChordNode:
        address = f"n{node_id}"
        node = ChordNode(
            address, self.config, rng=random.Random(self.rng.random()), node_id=node_id, sink=self.events.append
        )
        self.nodes[address] = node
        return node

    def create(self, node_id: int) -> ChordNode:
        node = self.add(node_id)
        node.create()
        return node

    def join(self, node_id: int, via: ChordNode) -> ChordNode:
        node = self.add(node_id)
        self.run(node, node.join(via.ref.address))
        return node

    def fail(self, *nodes: ChordNode) -> None:
        for node in nodes:
            node.stop()
            self.dead.add(node.ref.address)

    def live(self) -> list[ChordNode]:
        return [n for a, n in self.nodes.items() if a not in self.dead and n.status == "active"]

    def deliver(self, target: NodeRef, request: Request) -> Response:
        self.calls += 1
        node = self.nodes.get(target.address)
        if node is None or target.address in self.dead:
            raise PeerFailed(target, "dead")
        node.now = self.now
        result = node.handle(request)
        reply = self.run(node, result) if isinstance(result, Generator) else result
        if isinstance(reply, ErrorReply) and reply.code == "unavailable":
            raise PeerFailed(target, reply.message)
        return reply

    def run(self, node: ChordNode, proc: Procedure[T]) -> T:
        value: Any = None
        failure: BaseException | None = None
        while True:
            node.now = self.now
            try:
                effect = proc.throw(failure) if failure is not None else proc.send(value)
            except StopIteration as done:
                result: T = done.value
                return result
            value, failure = None, None
            if isinstance(effect, Call):
                try:
                    value = self.deliver(effect.target, effect.request)
                except PeerFailed as exc:
                    failure = exc
            elif isinstance(effect, Spawn):
                self.background.append((node, effect.procedure))
            else:
                self.now += effect.seconds

    def run_background(self) -> None:
        """Run the procedures nodes spawned (eventual-mode replica pushes), in order."""
        while self.background:
            node, proc = self.background.pop(0)
            if node.status == "active":
                self.run(node, proc)

    def stabilize(self, *nodes: ChordNode) -> None:
        for node in nodes:
            self.run(node, node.stabilize())

    def fix_fingers(self, node: ChordNode) -> None:
        self.run(node, node.fix_fingers())

    def check_predecessor(self, node: ChordNode) -> None:
        self.run(node, node.check_predecessor())

    def rounds(self, count: int, nodes: Iterable[ChordNode] | None = None, fingers: bool = False) -> None:
        """Run ``count`` rounds of maintenance on every live node, in a seeded random order."""
        for _ in range(count):
            order = list(nodes) if nodes is not None else self.live()
            self.rng.shuffle(order)
            for node in order:
                if node.status != "active":
                    continue
                self.check_predecessor(node)
                self.stabilize(node)
                if fingers:
                    self.fix_fingers(node)
