"""Asyncio driver around one :class:`~chordial.core.node.ChordNode`.

It is a thin shell in the aioquic style: feed the core a request or a timer, perform the
effects its procedures yield (remote calls over a :class:`~chordial.transport.base.Transport`,
sleeps), and publish the events it emits. No protocol logic lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable
from types import GeneratorType
from typing import Any, TypeVar, cast

from chordial.core.config import ChordConfig
from chordial.core.effects import Call, ChordError, PeerFailed, Procedure, Spawn
from chordial.core.events import Event
from chordial.core.messages import ErrorReply, Leave, Request, Response
from chordial.core.node import ChordNode, error_reply
from chordial.transport.base import Server, Transport, TransportError

T = TypeVar("T")
log = logging.getLogger("chordial.runtime")

EVENT_QUEUE_LIMIT = 10_000


class NodeRuntime:
    """Runs one core node on the running asyncio loop."""

    def __init__(self, transport: Transport, config: ChordConfig | None = None, *, seed: int | None = None) -> None:
        self.transport = transport
        self.config = config or ChordConfig()
        self._seed = seed
        self._node: ChordNode | None = None
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timer_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._watchers: set[asyncio.Queue[Event | None]] = set()
        self._listeners: list[Callable[[Event], None]] = []
        self.stopped = asyncio.Event()

    # ------------------------------------------------------------------------------ properties

    @property
    def node(self) -> ChordNode:
        if self._node is None:
            raise RuntimeError("node not started")
        return self._node

    @property
    def address(self) -> str:
        return self.node.ref.address

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """Call ``listener`` with every event the node emits (in the loop's thread)."""
        self._listeners.append(listener)

    # ------------------------------------------------------------------------------ life cycle

    async def start(self, address: str, *, join: str | None = None, node_id: int | None = None) -> None:
        """Serve on ``address`` and create a ring, or join the ring at ``join``.

        Raises :class:`ChordError` when the join fails; the server is stopped again then.
        """
        self._server = await self.transport.serve(address, self._handle, self._watch)
        real = self._server.address
        rng = random.Random(self._seed if self._seed is not None else f"{real}/{node_id}/{time.time_ns()}")
        self._node = ChordNode(real, self.config, rng=rng, node_id=node_id, sink=self._publish)
        try:
            if join is None:
                self._node.now = time.time()
                self._node.create()
            else:
                await self.run(self._node.join(join))
        except BaseException:
            await self._server.stop()
            raise
        self._timer_task = asyncio.create_task(self._timers(), name=f"timers {real}")

    async def leave(self) -> None:
        """Leave gracefully (keys to the successor, neighbours told), then stop serving."""
        node = self.node
        if node.status == "active":
            await self.run(node.leave())
        await self._shutdown()

    async def crash(self) -> None:
        """Stop at once without telling anybody (a fail-stop crash, for tests and the conductor)."""
        if self._node is not None:
            self._node.stop()
        await self._shutdown()

    async def _shutdown(self) -> None:
        if self._node is not None and self._node.status != "stopped":
            self._node.stop()
        current = asyncio.current_task()
        for task in [*self._tasks, self._timer_task]:
            if task is not None and task is not current:
                task.cancel()
        if self._server is not None:
            await self._server.stop()
        for queue in self._watchers:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        self.stopped.set()

    # ------------------------------------------------------------------------------ effects

    async def run(self, proc: Procedure[T]) -> T:
        """Drive a core procedure to its end, performing each effect it yields."""
        node = self.node
        value: Any = None
        failure: BaseException | None = None
        while True:
            node.now = time.time()
            try:
                effect = proc.throw(failure) if failure is not None else proc.send(value)
            except StopIteration as done:
                result: T = done.value
                return result
            value, failure = None, None
            if isinstance(effect, Call):
                try:
                    reply = await self.transport.call(effect.target.address, effect.request, effect.timeout)
                except TransportError as exc:
                    failure = PeerFailed(effect.target, str(exc))
                else:
                    if isinstance(reply, ErrorReply) and reply.code == "unavailable":
                        failure = PeerFailed(effect.target, reply.message)
                    else:
                        value = reply
            elif isinstance(effect, Spawn):
                self._spawn(effect.procedure, "background")
            else:
                await asyncio.sleep(effect.seconds)

    def _spawn(self, proc: Procedure[Any], name: str) -> None:
        task = asyncio.create_task(self._run_quietly(proc, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_quietly(self, proc: Procedure[Any], name: str) -> None:
        try:
            await self.run(proc)
        except ChordError as exc:
            log.debug("%s on %s ended: %s", name, self.address, exc)
        except Exception:
            log.exception("%s on %s failed", name, self.address)

    async def _timers(self) -> None:
        node = self.node
        while True:
            deadline = node.next_deadline()
            if deadline is None:
                return
            delay = deadline - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            node.now = time.time()
            for proc in node.on_timer():
                self._spawn(proc, "maintenance")

    # ------------------------------------------------------------------------------ serving

    async def _handle(self, request: Request) -> Response:
        node = self._node
        if node is None:
            return ErrorReply("unavailable", "node is starting")
        node.now = time.time()
        try:
            result = node.handle(request)
            # A procedure is a generator; checking its concrete type costs half an ABC isinstance.
            if type(result) is GeneratorType:
                reply = await self.run(cast("Procedure[Response]", result))
            else:
                reply = cast("Response", result)
        except Exception as exc:
            if not isinstance(exc, ChordError):
                log.exception("serving %s on %s", type(request).__name__, node.ref.address)
            return error_reply(exc)
        if isinstance(request, Leave) and node.status == "stopped":
            # Answer first, then close the server (the reply must get out).
            asyncio.get_running_loop().call_soon(lambda: self._spawn_shutdown())
        return reply

    def _spawn_shutdown(self) -> None:
        task = asyncio.create_task(self._shutdown())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _publish(self, event: Event) -> None:
        for listener in self._listeners:
            listener(event)
        for queue in self._watchers:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()  # a slow watcher loses the oldest events, never memory
            queue.put_nowait(event)

    async def _watch(self) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue(EVENT_QUEUE_LIMIT)
        self._watchers.add(queue)
        try:
            while True:
                event = await queue.get()
                if event is None:
                    return
                yield event
        finally:
            self._watchers.discard(queue)


async def start_node(
    transport: Transport,
    address: str,
    *,
    join: str | None = None,
    config: ChordConfig | None = None,
    node_id: int | None = None,
    seed: int | None = None,
    listeners: Iterable[Callable[[Event], None]] = (),
) -> NodeRuntime:
    """Start a node serving at ``address`` that creates a ring or joins the one at ``join``.

    ``listeners`` are attached before the node starts, so they see its ``joined`` event too.
    """
    runtime = NodeRuntime(transport, config, seed=seed)
    for listener in listeners:
        runtime.add_listener(listener)
    await runtime.start(address, join=join, node_id=node_id)
    return runtime
