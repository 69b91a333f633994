"""The live world: real Chord nodes over the TCP carrier on 127.0.0.1, in worker processes the conductor
starts (``python -m chordial.conductor.worker``), each hosting many nodes.

Nodes push their events to the conductor through the ``Watch`` stream, one per node, and the
conductor keeps a mirror of every node from them: successor lists, predecessors and fingers come
straight from the events; key counts are re-read (one ``GetState``) only after an event says the
node's data changed. Nothing polls on a timer. A node whose stream ends has crashed or left.

Workers run in their own process groups; stopping the world (or the conductor exiting) kills
the groups, and a worker also exits by itself when its stdin — the conductor — goes away, so no
node outlives the conductor.
"""

from __future__ import annotations

import asyncio
import atexit
import bisect
import contextlib
import json
import math
import os
import random
import signal
import sys
import time
from collections import Counter
from typing import Any

from chordial.conductor.protocol import ChurnArgs, NodeStateName, Params, WorkloadArgs
from chordial.conductor.world import (
    CHANGING_KINDS,
    QUIET_PURPOSES,
    JsonDict,
    UnknownNode,
    WorldBase,
    WorldError,
    encode_value,
    event_view,
    finger_table,
    kv_result,
    node_view,
    percentile,
    summary_numbers,
)
from chordial.core.ids import key_id
from chordial.core.invariants import MemberView, check_ring
from chordial.core.messages import (
    ClientDelete,
    ClientGet,
    ClientLookup,
    ClientPut,
    DataReply,
    ErrorReply,
    GetState,
    KeyList,
    Leave,
    ListKeys,
    NodeState,
    Request,
)
from chordial.sim.models import Dataset, ZipfSampler
from chordial.transport.base import Transport, TransportError

__all__ = ["LiveWorld", "client_kv", "kill_all_workers"]

NODES_PER_WORKER = 125
START_TIMEOUT_PER_NODE = 0.5
"""Seconds of start-up allowed per node (plus START_TIMEOUT_BASE) before the start fails."""
START_TIMEOUT_BASE = 30.0
COMMAND_TIMEOUT = 15.0
REFRESH_CONCURRENCY = 16
MAX_IN_FLIGHT = 64
"""Workload operations in flight at most; arrivals beyond are counted as ``overloaded``."""
SETTLED = 0.97
"""Fraction of right successors after which the next wave of joins starts (the few left converge
alongside it)."""
PORT_STRIDE = 200
"""Ports reserved per worker (its nodes, the ones added later, and busy ports skipped)."""
LOW_PORT, HIGH_PORT = 20000, 32000
"""Ports used for live nodes: below Linux's ephemeral range (32768…), so no client socket takes them."""

_ALL_GROUPS: set[int] = set()


def kill_all_workers() -> None:
    """Kill every worker process group still running (at conductor exit)."""
    for pgid in list(_ALL_GROUPS):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        _ALL_GROUPS.discard(pgid)


atexit.register(kill_all_workers)


async def client_kv(
    transport: Transport,
    address: str,
    op: str,
    key: str,
    value: Any,
    consistency: str | None,
    bits: int,
    timeout: float,
) -> JsonDict:
    """put / get / delete through the node at ``address``, as a KvResult dict (WorldError when
    refused or unreachable). Used by the live world and by ``chordial gateway``."""
    request: Request
    if not key or len(key.encode("utf-8")) > 1024:
        raise WorldError("a key is 1 to 1024 bytes of UTF-8")
    if op == "put":
        request = ClientPut(key, encode_value(value))
    elif op == "get":
        request = ClientGet(key, consistency or "")
    elif op == "delete":
        request = ClientDelete(key)
    else:
        raise WorldError(f"unknown operation {op!r}")
    try:
        reply = await transport.call(address, request, timeout)
    except TransportError as exc:
        raise WorldError(f"{op} failed: {' '.join(str(exc).split())}", 503) from None
    if isinstance(reply, ErrorReply):
        code = {"invalid": 400, "unavailable": 503, "not_found": 404}.get(reply.code, 502)
        raise WorldError(f"{op} refused by {address}: {reply.code}: {reply.message}", code)
    if not isinstance(reply, DataReply):
        raise WorldError(f"{op}: unexpected reply {type(reply).__name__} from {address}", 502)
    return kv_result(key, bits, reply.owner, reply.path, reply.found if op != "put" else True, reply.entry)


class LiveNode:
    """The conductor's mirror of one live node."""

    __slots__ = (
        "address",
        "fingers",
        "id",
        "keys",
        "last_refresh",
        "leaving_asked",
        "predecessor",
        "replicas",
        "state",
        "successors",
        "watch",
        "worker",
    )

    def __init__(self, address: str, nid: int, bits: int, worker: WorkerProcess) -> None:
        self.address = address
        self.id = nid
        self.state: NodeStateName = "joining"
        self.predecessor: str | None = None
        self.successors: list[str] = []
        self.fingers: list[str | None] = [None] * bits
        self.keys = 0
        self.replicas = 0
        self.worker = worker
        self.watch: asyncio.Task[None] | None = None
        self.last_refresh = 0.0
        self.leaving_asked = False


class WorkerProcess:
    """One worker process: its stdin for commands, a reader of its JSON lines."""

    def __init__(self, world: LiveWorld, index: int, proc: asyncio.subprocess.Process) -> None:
        self.world = world
        self.index = index
        self.proc = proc
        self.pgid = proc.pid  # start_new_session: the worker leads its own group
        _ALL_GROUPS.add(self.pgid)
        self.ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waiting: list[asyncio.Future[LiveNode | None]] = []
        self.count = 0
        self.errors: list[str] = []
        self.reader = asyncio.create_task(self._read(), name=f"worker {index} reader")

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                break
            try:
                message = json.loads(line)
            except ValueError:
                continue
            event = message.get("event")
            if event == "node":
                # The worker reports a node once its join has completed: it is a member now.
                node = self.world.register(str(message["address"]), int(message["id"]), self)
                node.state = "live"
                self.count += 1
                if self.waiting:
                    self.waiting.pop(0).set_result(node)
            elif event == "ready" and not self.ready.done():
                self.ready.set_result(int(message.get("count", 0)))
            elif event == "error":
                self.errors.append(str(message.get("message")))
                if self.waiting:
                    self.waiting.pop(0).set_result(None)
        if not self.ready.done():
            self.ready.set_exception(WorldError(f"worker {self.index} exited: {'; '.join(self.errors[-3:])}", 500))
        for future in self.waiting:
            if not future.done():
                future.set_result(None)

    async def send(self, command: JsonDict) -> None:
        if self.proc.stdin is None or self.proc.returncode is not None:
            raise WorldError(f"worker {self.index} is not running", 500)
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await asyncio.wait_for(self.proc.stdin.drain(), COMMAND_TIMEOUT)

    async def add(self, join: str, nid: int | None) -> LiveNode | None:
        future: asyncio.Future[LiveNode | None] = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        await self.send({"op": "add", "join": join, "id": None if nid is None else str(nid)})
        return await asyncio.wait_for(future, COMMAND_TIMEOUT)

    async def stop(self) -> None:
        """Ask politely (exit, then SIGTERM), then kill the whole process group."""
        proc = self.proc
        if proc.returncode is None:
            with contextlib.suppress(Exception):
                await self.send({"op": "exit"})
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 3.0)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5.0)
        _ALL_GROUPS.discard(self.pgid)
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


class LiveWorld(WorldBase):
    kind = "live"

    def __init__(self, params: Params, dataset: Dataset) -> None:
        super().__init__(params)
        self.dataset = dataset
        self.nodes: dict[int, LiveNode] = {}
        self.by_address: dict[str, LiveNode] = {}
        self.workers: list[WorkerProcess] = []
        self.rng = random.Random(params.seed)
        self.transport: Transport | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.refresh_wanted: set[int] = set()
        self._refresh_wake = asyncio.Event()
        self._closing = False
        self.t0 = time.time()
        self.base_port = 0
        self.zipf: ZipfSampler | None = None
        self._ids = [key_id(k, self.bits) for k in dataset.keys]
        # statistics
        self.ops = Counter[str]()
        self.failures = 0
        self.overloaded = 0
        self.in_flight = 0
        self.lookups_done = 0
        self.peer_failures = 0
        self.stale_reads = 0
        self.key_counts: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self._latencies: list[float] = []
        self._hops: list[int] = []
        self._done = 0
        self._last_done = 0
        self._last_lookups = 0
        self._last_wall = time.monotonic()
        self.violations: list[str] = []
        self._last_check = 0.0

    # ------------------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Start the workers and grow the ring in waves.

        Chord absorbs a burst of joins slowly: nodes that join before the ones ahead of them are
        linked in all get the same successor, and stabilization sorts them out one per round. So
        the ring grows in waves no larger than itself (1, 2, 4, … nodes), each joining through
        random members, and the next wave waits until the successors are right again (or a few
        stabilize periods have passed). 200 nodes take about eight waves."""
        from chordial.transport.tcp import TcpTransport

        params = self.params
        self.transport = TcpTransport()  # the workers' nodes speak the TCP carrier
        self._setup_workload(params)
        workers = max(1, math.ceil(params.nodes / NODES_PER_WORKER))
        self.base_port = self._pick_base(workers + 2)
        timeout = START_TIMEOUT_BASE + START_TIMEOUT_PER_NODE * params.nodes
        self._spawn_task(self._refresher(), "refresher")
        try:
            async with asyncio.timeout(timeout):
                first = await self._spawn(0, 1, None)
                rest = [await self._spawn(i, 0, None) for i in range(1, workers)]
                await asyncio.gather(*(w.ready for w in [first, *rest]))
                if not self.nodes:
                    reason = "; ".join(first.errors[-3:]) or "no reason given"
                    raise WorldError(f"the first node did not start: {reason}", 500)
                await self._grow(params.nodes - 1)
        except TimeoutError:
            raise WorldError(f"the live ring did not start within {timeout:g} s", 504) from None
        self.status = "running"
        self.t0 = time.time()
        self._last_check = time.monotonic()  # the first check once the ring had a period to settle
        self._spawn_task(self._drive(), "workload")
        self._spawn_task(self._churn(), "churn")

    async def _grow(self, count: int) -> None:
        """Join ``count`` nodes in waves; a failed join is retried in the next wave, and three
        waves in a row without a single join end the start with the workers' reasons."""
        remaining = count
        fruitless = 0
        while remaining > 0:
            members = [n for n in self.nodes.values() if n.state == "live"]
            wave = min(len(members), remaining)
            running = sorted((w for w in self.workers if w.proc.returncode is None), key=lambda w: w.count)
            if not running or not members:
                raise WorldError("every worker process exited", 500)
            joins = [
                running[j % len(running)].add(members[self.rng.randrange(len(members))].address, None)
                for j in range(wave)
            ]
            results = await asyncio.gather(*joins, return_exceptions=True)
            joined = sum(1 for r in results if isinstance(r, LiveNode))
            remaining -= joined
            fruitless = 0 if joined else fruitless + 1
            if fruitless >= 3:
                reasons = "; ".join(e for w in running for e in w.errors[-1:]) or "no reason given"
                raise WorldError(f"nodes stopped joining ({remaining} missing): {reasons}", 500)
            await self._settle()

    async def _settle(self) -> None:
        """Wait until nearly every member's successor is the true one (as the nodes' events
        tell), at most four stabilize periods."""
        deadline = time.monotonic() + 4 * self.params.stabilize_period + 0.5
        while time.monotonic() < deadline:
            right = self._correctness(self.members())
            if right is None or right["successors"] >= SETTLED:
                return
            await asyncio.sleep(0.05)

    def _pick_base(self, workers: int) -> int:
        span = workers * PORT_STRIDE
        slots = (HIGH_PORT - LOW_PORT - span) // PORT_STRIDE
        return LOW_PORT + self.rng.randrange(max(1, slots)) * PORT_STRIDE if slots > 0 else LOW_PORT

    async def _spawn(self, index: int, count: int, join: str | None) -> WorkerProcess:
        p = self.params
        args = [
            sys.executable,
            "-m",
            "chordial.conductor.worker",
            "--count",
            str(count),
            "--base-port",
            str(self.base_port + index * PORT_STRIDE),
            "--port-range",
            str(PORT_STRIDE),
            "--id-bits",
            str(p.id_bits),
            "--successors",
            str(p.successors),
            "--stabilize",
            str(p.stabilize_period),
            "--fix-fingers",
            str(p.fix_fingers_period),
            "--check-predecessor",
            str(p.check_predecessor_period),
            "--rpc-timeout",
            str(p.rpc_timeout),
            "--replicas",
            str(p.replicas),
            "--consistency",
            p.consistency,
            "--repair-period",
            str(p.repair_period),
        ]
        if join is not None:
            args += ["--join", join]
        env = {**os.environ, "GRPC_VERBOSITY": "NONE", "PYTHONUNBUFFERED": "1"}
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
        worker = WorkerProcess(self, index, proc)
        self.workers.append(worker)
        return worker

    def _spawn_task(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def stop(self) -> None:
        self._closing = True
        self.status = "stopped"
        for task in list(self.tasks):
            task.cancel()
        for node in self.nodes.values():
            if node.watch is not None:
                node.watch.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.gather(*(n.watch for n in self.nodes.values() if n.watch is not None), return_exceptions=True)
        await asyncio.gather(*(w.stop() for w in self.workers), return_exceptions=True)
        if self.transport is not None:
            with contextlib.suppress(Exception):
                await self.transport.close()

    def pause(self) -> None:
        """Live nodes cannot be frozen: pausing stops the workload and churn drivers only."""
        if self.status == "running":
            self.status = "paused"

    def resume(self) -> None:
        if self.status == "paused":
            self.status = "running"

    async def step(self, seconds: float | None) -> float:
        raise WorldError("step exists only in the virtual world", 409)

    def set_speed(self, speed: float | str) -> None:
        raise WorldError("the live world runs in real time: speed is a virtual-world setting", 409)

    def now(self) -> float:
        return time.time() - self.t0

    # ------------------------------------------------------------------------------ mirror

    def register(self, address: str, nid: int, worker: WorkerProcess) -> LiveNode:
        """A node a worker started: mirror it and open its event stream."""
        node = LiveNode(address, nid, self.bits, worker)
        old = self.nodes.get(nid)
        if old is not None and old.watch is not None:
            old.watch.cancel()
        self.nodes[nid] = node
        self.by_address[address] = node
        self.gone.pop(nid, None)
        node.watch = asyncio.create_task(self._watch(node), name=f"watch {address}")
        # Its own "joined" event came before the stream opened: the activity log gets this one.
        self.feed.keep({"kind": "joined", "time": time.time(), "node": {"id": str(nid), "address": address}})
        self._want_refresh(node)
        self.feed.dirty.add(nid)
        return node

    async def _watch(self, node: LiveNode) -> None:
        transport = self.transport
        if transport is None or not hasattr(transport, "watch"):
            return
        try:
            async for event in transport.watch(node.address):
                self._on_event(node, event)
        except TransportError:
            pass
        except asyncio.CancelledError:
            return
        if self._closing or self.nodes.get(node.id) is not node:
            return
        # The stream ended: the node stopped serving.
        if node.state not in ("crashed", "left"):
            state: NodeStateName = "left" if node.leaving_asked else "crashed"
            node.state = state
            self.mark_gone(node.id, state)
            if state == "crashed":
                self.feed.keep(
                    {"kind": "crashed", "time": time.time(), "node": {"id": str(node.id), "address": node.address}}
                )

    def _on_event(self, node: LiveNode, event: JsonDict) -> None:
        kind = str(event.get("kind"))
        if kind in CHANGING_KINDS:
            self.feed.dirty.add(node.id)
        if kind == "successor_changed":
            node.successors = [str(s["id"]) for s in event.get("successors") or [] if isinstance(s, dict)]
        elif kind == "predecessor_changed":
            new = event.get("new")
            node.predecessor = str(new["id"]) if isinstance(new, dict) else None
        elif kind == "finger_updated":
            index = event.get("index")
            finger = event.get("finger")
            if isinstance(index, int) and 0 <= index < len(node.fingers):
                node.fingers[index] = str(finger["id"]) if isinstance(finger, dict) else None
            self._want_refresh(node)  # one event may stand for a run of equal fingers: re-read them
            return
        elif kind == "joined":
            node.state = "live"
            self._want_refresh(node)
        elif kind == "left":
            node.state = "left"
            self.mark_gone(node.id, "left")
        elif kind in ("keys_transferred", "key_written", "replicas_written", "replicas_repaired"):
            self._want_refresh(node)
        elif kind in ("lookup_completed", "lookup_failed"):
            self.lookups_done += 1
            if event.get("purpose") in QUIET_PURPOSES:
                return
        elif kind == "peer_failed":
            self.peer_failures += 1
        elif kind == "stale_read":
            self.stale_reads += 1
        self.feed.keep(event)

    def event_views(self, raw: list[Any]) -> list[JsonDict]:
        views = []
        for event in raw:
            view = event_view(event, self.bits)
            view["time"] = round(view["time"] - self.t0, 6)
            views.append(view)
        return views

    def _want_refresh(self, node: LiveNode) -> None:
        self.refresh_wanted.add(node.id)
        self._refresh_wake.set()

    async def _refresher(self) -> None:
        """Re-read the state of nodes whose events said their data changed (each at most once a
        second), a few at a time."""
        while True:
            await self._refresh_wake.wait()
            self._refresh_wake.clear()
            now = time.monotonic()
            due = [n for n in (self.nodes.get(i) for i in self.refresh_wanted) if n is not None]
            ready = [n for n in due if now - n.last_refresh >= 1.0][:REFRESH_CONCURRENCY]
            for node in ready:
                self.refresh_wanted.discard(node.id)
                node.last_refresh = now
            if ready:
                await asyncio.gather(*(self._refresh(n) for n in ready), return_exceptions=True)
            if self.refresh_wanted:
                await asyncio.sleep(0.2)
                self._refresh_wake.set()

    async def _refresh(self, node: LiveNode) -> None:
        if self.transport is None or node.state in ("crashed", "left"):
            return
        try:
            state = await self.transport.call(node.address, GetState(), 2.0)
        except TransportError:
            return
        if not isinstance(state, NodeState):
            return
        node.predecessor = None if state.predecessor is None else str(state.predecessor.id)
        node.successors = [str(s.id) for s in state.successors]
        node.fingers = [None if f is None else str(f.id) for f in state.fingers]
        node.keys, node.replicas = state.key_count, state.replica_count
        if state.status == "active" and node.state == "joining":
            node.state = "live"
        elif state.status == "leaving":
            node.state = "leaving"
        self.feed.dirty.add(node.id)

    # ------------------------------------------------------------------------------ views

    def members(self) -> list[LiveNode]:
        return [n for n in self.nodes.values() if n.state in ("live", "leaving")]

    def node_count(self) -> int:
        return sum(1 for n in self.nodes.values() if n.state in ("live", "leaving", "joining"))

    def _view(self, node: LiveNode, detail: bool) -> JsonDict:
        return node_view(
            node.id,
            self.bits,
            node.address,
            node.state,
            node.predecessor,
            node.successors,
            node.fingers,
            node.keys,
            node.replicas,
            detail,
        )

    def node_views(self) -> list[JsonDict]:
        detail = self.detail
        return [
            self._view(n, detail)
            for n in self.nodes.values()
            if n.state not in ("crashed", "left") or n.id in self.gone
        ]

    def view_of(self, nid: int) -> JsonDict | None:
        node = self.nodes.get(nid)
        if node is None or (node.state in ("crashed", "left") and nid not in self.gone):
            return None
        return self._view(node, self.detail)

    def _member(self, nid: int) -> LiveNode:
        node = self.nodes.get(nid)
        if node is None or node.state in ("crashed", "left"):
            raise UnknownNode(f"no live node with id {nid}")
        return node

    async def inspect(self, nid: int) -> JsonDict:
        node = self.nodes.get(nid)
        if node is None:
            raise UnknownNode(f"no node with id {nid}")
        await self._refresh(node)
        view = self._view(node, True)
        view["finger_table"] = finger_table(node.id, self.bits, node.fingers)
        view["keys_held"] = []
        if self.transport is not None and node.state not in ("crashed", "left"):
            try:
                listing = await self.transport.call(node.address, ListKeys(False, True), 3.0)
            except TransportError:
                listing = None
            if isinstance(listing, KeyList):
                pred = None if node.predecessor is None else int(node.predecessor)
                from chordial.conductor.world import keys_held

                view["keys_held"] = keys_held(listing.entries, pred, node.id)
        return view

    # ------------------------------------------------------------------------------ controls

    def _random_member(self) -> LiveNode:
        members = [n for n in self.nodes.values() if n.state == "live"]
        if not members:
            raise WorldError("the ring has no live node", 409)
        return self.rng.choice(members)

    async def add_node(self, nid: int | None) -> JsonDict:
        if nid is not None and nid in self.nodes and self.nodes[nid].state not in ("crashed", "left"):
            raise WorldError(f"id {nid} is taken by a running node", 409)
        via = self._random_member()
        worker = min((w for w in self.workers if w.proc.returncode is None), key=lambda w: w.count, default=None)
        if worker is None:
            raise WorldError("no worker process is running", 500)
        node = await worker.add(via.address, nid)
        if node is None:
            raise WorldError(f"the node did not start: {'; '.join(worker.errors[-1:]) or 'no reason given'}", 500)
        return self._view(node, True)

    async def leave(self, nid: int) -> None:
        node = self._member(nid)
        if node.state != "live":
            raise WorldError(f"node {nid} is {node.state}", 409)
        assert self.transport is not None
        node.leaving_asked = True
        node.state = "leaving"
        self.feed.dirty.add(nid)
        try:
            reply = await self.transport.call(node.address, Leave(), max(5.0, self.params.rpc_timeout * 10))
        except TransportError as exc:
            raise WorldError(f"leave failed: {exc}", 503) from None
        if isinstance(reply, ErrorReply):
            raise WorldError(f"leave refused: {reply.message}", 409)

    async def crash(self, nid: int) -> None:
        node = self._member(nid)
        await node.worker.send({"op": "crash", "address": node.address})

    def set_workload(self, args: WorkloadArgs) -> None:
        self.params = self.merged_workload(args)
        self._setup_workload(self.params)

    def set_churn(self, args: ChurnArgs) -> None:
        self.params = self.merged_churn(args)

    async def kv(self, op: str, key: str, value: Any = None, consistency: str | None = None) -> JsonDict:
        assert self.transport is not None
        node = self._random_member()
        timeout = max(2.0, self.params.rpc_timeout * 8)
        return await client_kv(self.transport, node.address, op, key, value, consistency, self.bits, timeout)

    # ------------------------------------------------------------------------------ drivers

    def _setup_workload(self, params: Params) -> None:
        self.zipf = ZipfSampler(len(self.dataset), params.zipf_exponent) if params.popularity == "zipf" else None
        self._mix = [
            (op, w)
            for op, w in (
                ("get", params.mix_get),
                ("put", params.mix_put),
                ("delete", params.mix_delete),
                ("lookup", params.mix_lookup),
            )
            if w > 0
        ]

    async def _drive(self) -> None:
        """Client operations at Poisson arrivals through ChordClient-style calls on random nodes."""
        rng = random.Random(self.params.seed + 1)
        while not self._closing:
            rate = self.params.workload_rate
            if self.status != "running" or rate <= 0 or not self._mix:
                await asyncio.sleep(0.2)
                continue
            await asyncio.sleep(rng.expovariate(rate))
            if self.in_flight >= MAX_IN_FLIGHT:
                self.overloaded += 1
                continue
            ops, weights = zip(*self._mix, strict=True)
            op = rng.choices(ops, weights)[0]
            rank = self.zipf.sample(rng) if self.zipf is not None else rng.randrange(len(self.dataset))
            self._spawn_task(self._one_op(op, rank), "op")

    async def _one_op(self, op: str, rank: int) -> None:
        assert self.transport is not None
        key = self.dataset.keys[rank]
        if op == "get":
            self.key_counts[key] += 1
        members = [n for n in self.nodes.values() if n.state == "live"]
        if not members:
            return
        node = self.rng.choice(members)
        request: Request
        if op == "get":
            request = ClientGet(key)
        elif op == "put":
            request = ClientPut(key, self.dataset.values[rank])
        elif op == "delete":
            request = ClientDelete(key)
        else:
            request = ClientLookup(key)
        self.in_flight += 1
        started = time.perf_counter()
        try:
            reply = await self.transport.call(node.address, request, max(2.0, self.params.rpc_timeout * 8))
        except TransportError:
            reply = None
        finally:
            self.in_flight -= 1
        self._done += 1
        self.ops[op] += 1
        if isinstance(reply, DataReply):
            self._latencies.append(time.perf_counter() - started)
            self._hops.append(reply.hops)
        else:
            self.failures += 1
            reason = "unreachable" if reply is None else reply.code if isinstance(reply, ErrorReply) else "bad reply"
            self.errors[reason] += 1

    async def _churn(self) -> None:
        """Joins, graceful leaves and crashes at the churn rates (each a Poisson process)."""
        rng = random.Random(self.params.seed + 2)
        while not self._closing:
            p = self.params
            total = p.join_rate + p.leave_rate + p.crash_rate
            if self.status != "running" or total <= 0:
                await asyncio.sleep(0.2)
                continue
            await asyncio.sleep(rng.expovariate(total))
            if self.status != "running":
                continue
            pick = rng.random() * total
            floor = p.successors + 1
            live = sum(1 for n in self.nodes.values() if n.state == "live")
            try:
                if pick < p.join_rate:
                    await self.add_node(None)
                elif live > floor:
                    victim = self._random_member()
                    if pick < p.join_rate + p.leave_rate:
                        self._spawn_task(self.leave(victim.id), "churn leave")
                    else:
                        await self.crash(victim.id)
            except (WorldError, TimeoutError):
                continue

    # ------------------------------------------------------------------------------ stats

    def _correctness(self, members: list[LiveNode]) -> JsonDict | None:
        if not members:
            return None
        ids = sorted(n.id for n in members)
        size = len(ids)
        ring = 1 << self.bits
        good_s = good_p = good_f = total_f = 0
        for node in members:
            i = bisect.bisect_left(ids, node.id)
            succ = node.successors[0] if node.successors else str(node.id)
            good_s += succ == str(ids[(i + 1) % size])
            good_p += node.predecessor == str(ids[i - 1]) if size > 1 else node.predecessor in (None, str(node.id))
            for k, finger in enumerate(node.fingers):
                want = ids[bisect.bisect_left(ids, (node.id + (1 << k)) % ring) % size]
                total_f += 1
                good_f += (finger or str(node.id)) == str(want)
        return {"successors": good_s / size, "predecessors": good_p / size, "fingers": good_f / max(1, total_f)}

    def _check(self, members: list[LiveNode]) -> None:
        period = self.params.check_invariants
        if not period or time.monotonic() - self._last_check < period:
            return
        self._last_check = time.monotonic()
        if len(members) <= self.params.successors:
            return
        views = [
            MemberView(n.id, tuple(int(s) for s in n.successors), None if n.predecessor is None else int(n.predecessor))
            for n in members
        ]
        found = check_ring(views, self.params.successors)
        self.violations = [str(v) for v in found[:5]]

    def stats(self) -> JsonDict:
        wall = time.monotonic()
        dt = max(wall - self._last_wall, 1e-9)
        members = self.members()
        self._check(members)
        latencies, self._latencies = self._latencies, []
        hops, self._hops = self._hops, []
        stats = {
            "type": "stats",
            "v": 1,
            "time": self.now(),
            "node_count": len(members),
            "ops_per_s": (self._done - self._last_done) / dt,
            "lookups_per_s": (self.lookups_done - self._last_lookups) / dt,
            "hops_mean": sum(hops) / len(hops) if hops else None,
            "hops_p99": percentile([float(h) for h in hops], 0.99),
            "latency_ms_mean": 1000 * sum(latencies) / len(latencies) if latencies else None,
            "latency_ms_p99": None if not latencies else 1000 * (percentile(latencies, 0.99) or 0.0),
            "failures": self.failures,
            "timeouts": self.peer_failures,
            "stale_reads": self.stale_reads,
            "keys_per_node": summary_numbers([float(n.keys) for n in members]),
            "correctness": self._correctness(members),
            "invariants_ok": not self.violations,
            "violations": self.violations,
            "top_keys": [[k, c] for k, c in self.key_counts.most_common(5)],
            "messages_per_s": {},
        }
        self._last_wall, self._last_done, self._last_lookups = wall, self._done, self.lookups_done
        return stats
