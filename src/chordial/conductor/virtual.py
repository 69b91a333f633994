"""The virtual world: :class:`chordial.sim.world.Simulation` in-process, paced by the wall clock.

The simulation runs on the conductor's event loop in slices of at most ``SLICE`` wall seconds
(the scheduler's ``stop`` predicate ends a slice), and the loop gets control back between slices:
that keeps the websocket and REST answers prompt with 10,000 nodes, and needs no lock since only
the loop's thread ever touches the simulation. Virtual time follows ``anchor_virtual + (wall -
anchor_wall) · speed``; when the simulation cannot keep up, the debt is dropped (the anchors move)
rather than paid back in a burst.

Core events arrive through ``Simulation.listeners``; the listener only marks nodes dirty and
keeps a capped number of events, so its cost stays small next to the protocol's own.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import gc
import math
import random
import time
from collections import Counter
from collections.abc import Callable
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
    keys_held,
    kv_result,
    node_view,
    percentile,
    summary_numbers,
)
from chordial.core.config import ChordConfig
from chordial.core.events import Event, LookupCompleted, LookupFailed
from chordial.core.invariants import check_ring
from chordial.core.messages import ClientDelete, ClientGet, ClientPut, DataReply, ErrorReply, Request
from chordial.core.node import ChordNode
from chordial.sim.models import Dataset, OpStats, PoissonChurn, Workload
from chordial.sim.network import LatencyModel
from chordial.sim.world import Done, Simulation
from chordial.transport.codec import event_to_dict

__all__ = ["ConductedSimulation", "VirtualWorld"]

SLICE = 0.012
"""Wall seconds the simulation runs before the event loop gets control back."""
FRAME = 1 / 60
"""Wall seconds to wait when the simulation has caught up with the clock."""
BREATH = 0.004
"""Wall seconds the loop gets after each slice when the simulation is behind (or at max speed):
a real sleep, not a bare yield, so a chain of callbacks (read a command, answer, send) completes
within one pause rather than one link per slice."""
MAX_LAG = 0.5
"""Wall seconds of virtual time the simulation may fall behind before the debt is dropped."""
OP_WAIT = 60.0
"""Virtual seconds a put/get/delete from a person may take before it counts as failed."""
CHECK_LIMIT = 2000
"""Invariants and exact correctness are checked up to this many members (above: a sample)."""
SAMPLE = 500
FINGER_SAMPLE = 200
"""Nodes whose every finger is checked for the fingers' correctness figure (m checks each)."""


def _slice(done: Callable[[], bool] | None = None) -> Callable[[], bool]:
    """A ``stop`` predicate for ``Simulation.run``: true once SLICE wall seconds have passed
    (or ``done()`` holds)."""
    deadline = time.perf_counter() + SLICE
    clock = time.perf_counter
    if done is None:
        return lambda: clock() >= deadline
    return lambda: done() or clock() >= deadline


class ConductedSimulation(Simulation):
    """A Simulation that also tells the conductor about joins started and crashes, which the
    core reports no event for (a crash is the node going silent)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_join: Callable[[ChordNode], None] = lambda node: None
        self.on_crash: Callable[[ChordNode], None] = lambda node: None

    def join(
        self,
        via: ChordNode | None = None,
        node_id: int | None = None,
        address: str | None = None,
        done: Done = lambda _, __: None,
    ) -> ChordNode:
        node = super().join(via, node_id, address, done)
        self.on_join(node)
        return node

    def crash(self, node: ChordNode) -> None:
        was_running = node.status != "stopped"
        super().crash(node)
        if was_running:
            self.on_crash(node)


class ConductedWorkload(Workload):
    """A Workload that also counts reads per key (the "top keys by reads" statistic); it draws
    the operation and the key in the same order as :meth:`Workload.issue`, so runs stay seeded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.reads: Counter[int] = Counter()
        super().__init__(*args, **kwargs)

    def issue(self, op: str | None = None, rank: int | None = None) -> None:
        op = op or self.choose_op()
        rank = self.choose_rank() if rank is None else rank
        if op == "get":
            self.reads[rank] += 1
        super().issue(op, rank)


def latency_model(params: Params) -> LatencyModel:
    median = params.latency_ms / 1000.0
    if params.latency == "uniform":
        return LatencyModel("uniform", median=median, low=median * 0.5, high=median * 1.5)
    if params.latency == "lognormal" and median > 0:
        return LatencyModel("lognormal", median=median, sigma=0.5)
    return LatencyModel("constant", median=median)


def chord_config(params: Params) -> ChordConfig:
    return ChordConfig(
        id_bits=params.id_bits,
        successors=params.successors,
        stabilize_period=params.stabilize_period,
        fix_fingers_period=params.fix_fingers_period,
        check_predecessor_period=params.check_predecessor_period,
        rpc_timeout=params.rpc_timeout,
        replicas=params.replicas,
        consistency=params.consistency,
        repair_period=params.repair_period,
    )


class VirtualWorld(WorldBase):
    kind = "virtual"

    def __init__(self, params: Params, dataset: Dataset) -> None:
        super().__init__(params)
        self.dataset = dataset
        self.sim = ConductedSimulation(
            chord_config(params),
            seed=params.seed,
            latency=latency_model(params),
            loss=params.loss,
            record_events=False,
        )
        self.sim.listeners.append(self._on_event)
        self.sim.on_join = self._on_join
        self.sim.on_crash = self._on_crash
        self.rng = random.Random(params.seed ^ 0x5EED)
        self.speed: float | str = params.speed
        self.workloads: list[Workload] = []
        self.churn: PoissonChurn | None = None
        self._anchor_wall = 0.0
        self._anchor_virtual = 0.0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self.lag_drops = 0
        self.lookups_done = 0
        self.peer_failures = 0
        self.stale_reads = 0
        self.violations: list[str] = []
        self._last_check = 0.0
        # interval bookkeeping for stats
        self._last_time = 0.0
        self._last_sent: Counter[str] = Counter()
        self._last_lookups = 0
        self._last_done = 0
        self._seen_latencies: dict[int, int] = {}
        self._seen_hops: dict[int, Counter[int]] = {}

    # ------------------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Build the ring (in a worker thread: 10⁵ nodes take seconds) and start the pacing."""
        await asyncio.to_thread(self._build)
        self.status = "running"
        self._rebase()
        self._task = asyncio.create_task(self._pace(), name="virtual world")

    def _build(self) -> None:
        params, sim = self.params, self.sim
        sim.build_ideal(params.nodes)
        self.workloads.append(self._workload(params, preload=params.preload))
        self._start_churn(params)

    def _workload(self, params: Params, *, preload: bool) -> Workload:
        mix = {"get": params.mix_get, "put": params.mix_put, "delete": params.mix_delete, "lookup": params.mix_lookup}
        return ConductedWorkload(
            self.sim,
            params.workload_rate,
            mix,
            params.popularity,
            params.zipf_exponent,
            self.dataset,
            preload=preload,
        )

    def _start_churn(self, params: Params) -> None:
        if self.churn is not None:
            self.churn.stop()
            self.churn = None
        if params.join_rate or params.leave_rate or params.crash_rate:
            self.churn = PoissonChurn(self.sim, params.join_rate, params.leave_rate, params.crash_rate)

    async def stop(self) -> None:
        self._closing = True
        self.status = "stopped"
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # build_ideal froze the ring's objects out of the cyclic collector; let them go again,
        # and collect now: at 10⁵ nodes that pause takes seconds, better at stop than mid-run.
        self.sim.listeners.clear()
        gc.unfreeze()
        gc.collect()

    def pause(self) -> None:
        if self.status == "running":
            self.status = "paused"

    def resume(self) -> None:
        if self.status == "paused":
            self.status = "running"
            self._rebase()
            self._wake.set()

    def set_speed(self, speed: float | str) -> None:
        self.speed = speed
        self.params = self.params.model_copy(update={"speed": speed})
        self._rebase()

    def now(self) -> float:
        return self.sim.now

    def _rebase(self) -> None:
        self._anchor_wall = time.perf_counter()
        self._anchor_virtual = self.sim.now

    def _target(self) -> float:
        if self.speed == "max":
            return math.inf
        return self._anchor_virtual + (time.perf_counter() - self._anchor_wall) * float(self.speed)

    async def _pace(self) -> None:
        sim = self.sim
        while not self._closing:
            if self.status != "running":
                self._wake.clear()
                await self._wake.wait()
                continue
            target = self._target()
            until = sim.now + 60.0 if math.isinf(target) else target
            sim.run(until, _slice())
            self._maybe_check()
            if math.isinf(target):
                await asyncio.sleep(BREATH)
            elif sim.now < target:
                if self.speed != "max" and target - sim.now > MAX_LAG * float(self.speed):
                    self.lag_drops += 1
                    self._rebase()
                await asyncio.sleep(BREATH)
            else:
                await asyncio.sleep(FRAME)

    async def step(self, seconds: float | None) -> float:
        """Run ``seconds`` of virtual time (default one stabilize period) while paused, in slices."""
        if self.status == "running":
            raise WorldError("pause the simulation before stepping", 409)
        if self.status not in ("paused",):
            raise WorldError(f"the simulation is {self.status}", 409)
        until = self.sim.now + (seconds if seconds is not None else self.params.stabilize_period)
        while self.sim.now < until and not self._closing:
            self.sim.run(until, _slice())
            await asyncio.sleep(0)
        self._maybe_check()
        return self.sim.now

    # ------------------------------------------------------------------------------ events

    def _on_event(self, event: Event) -> None:
        kind = event.kind
        feed = self.feed
        if kind in CHANGING_KINDS:
            feed.dirty.add(event.node.id)
            if kind == "finger_updated":
                return
        elif isinstance(event, LookupCompleted | LookupFailed):
            self.lookups_done += 1
            if event.purpose in QUIET_PURPOSES:
                return
        elif kind == "peer_failed":
            self.peer_failures += 1
        elif kind == "stale_read":
            self.stale_reads += 1
        if kind == "left":
            self.mark_gone(event.node.id, "left")
        feed.keep(event)

    def _on_join(self, node: ChordNode) -> None:
        self.gone.pop(node.id, None)
        self.feed.dirty.add(node.id)

    def _on_crash(self, node: ChordNode) -> None:
        self.mark_gone(node.id, "crashed")
        self.feed.keep(
            {"kind": "crashed", "time": self.sim.now, "node": {"id": str(node.id), "address": node.ref.address}}
        )

    def event_views(self, raw: list[Any]) -> list[JsonDict]:
        return [event_view(e if isinstance(e, dict) else event_to_dict(e), self.bits) for e in raw]

    # ------------------------------------------------------------------------------ views

    def node_count(self) -> int:
        return len(self.sim.members)

    def _state(self, node: ChordNode) -> NodeStateName | None:
        status = node.status
        if status == "active":
            return "live"
        if status == "joining":
            return "joining"
        if status == "leaving":
            return "leaving"
        if status == "stopped":
            gone = self.gone.get(node.id)
            return gone[0] if gone else None
        return None  # "new": a join that failed and was reset

    def _view(self, node: ChordNode, detail: bool) -> JsonDict | None:
        state = self._state(node)
        if state is None:
            return None
        pred = node.predecessor
        store = node.store
        total = len(store)
        if total and pred is not None:
            owned = sum(1 for e in store.entries_in(pred.id, node.id) if not e.deleted)
        else:
            owned = total
        return node_view(
            node.id,
            self.bits,
            node.ref.address,
            state,
            pred,
            node.successors,
            node.fingers,
            owned,
            total - owned,
            detail,
        )

    def node_views(self) -> list[JsonDict]:
        detail = self.detail
        if not detail:
            return self._plain_views()
        views = []
        for node in self.sim.nodes.values():
            if node.status == "stopped" and node.id not in self.gone:
                continue
            current = self.sim.node(node.id)
            if current is not node:
                continue  # an address restarted with the same id: the newer node speaks
            view = self._view(node, detail)
            if view is not None:
                views.append(view)
        return views

    def _plain_views(self) -> list[JsonDict]:
        """Views without detail (no fingers, first successor), for every node of a large ring:
        the same dicts as :func:`node_view` builds, inlined (a 10⁵-node snapshot is built
        several times faster this way)."""
        scale = 1.0 / float(1 << self.bits)
        gone = self.gone
        by_id = self.sim.node
        names: dict[str, NodeStateName] = {"active": "live", "joining": "joining", "leaving": "leaving"}
        views: list[JsonDict] = []
        append = views.append
        for node in self.sim.nodes.values():
            nid = node.id
            state = names.get(node.status)
            if state is None:
                if node.status != "stopped" or nid not in gone:
                    continue
                state = gone[nid][0]
            if by_id(nid) is not node:
                continue
            pred = node.predecessor
            successors = node.successors
            total = len(node.store)
            owned = total
            if total and pred is not None:
                owned = sum(1 for e in node.store.entries_in(pred.id, nid) if not e.deleted)
            pos = nid * scale
            append(
                {
                    "id": str(nid),
                    "pos": pos if pos < 1.0 else math.nextafter(1.0, 0.0),
                    "address": node.ref.address,
                    "state": state,
                    "predecessor": None if pred is None else str(pred.id),
                    "successors": [str(successors[0].id)] if successors else [],
                    "fingers": None,
                    "keys": owned,
                    "replicas": total - owned,
                }
            )
        return views

    def view_of(self, nid: int) -> JsonDict | None:
        node = self.sim.node(nid)
        if node is None:
            return None
        return self._view(node, self.detail)

    def _member(self, nid: int) -> ChordNode:
        node = self.sim.node(nid)
        if node is None or node.status in ("stopped", "new"):
            raise UnknownNode(f"no live node with id {nid}")
        return node

    async def inspect(self, nid: int) -> JsonDict:
        node = self.sim.node(nid)
        if node is None:
            raise UnknownNode(f"no node with id {nid}")
        view = self._view(node, True)
        if view is None:
            raise UnknownNode(f"node {nid} is gone")
        pred = node.predecessor
        view["finger_table"] = finger_table(node.id, self.bits, node.fingers)
        view["keys_held"] = keys_held(node.store, None if pred is None else pred.id, node.id)
        return view

    # ------------------------------------------------------------------------------ controls

    async def add_node(self, nid: int | None) -> JsonDict:
        sim = self.sim
        if not len(sim.members):
            node = sim.create(node_id=nid)
        else:
            if nid is not None:
                existing = sim.node(nid)
                if existing is not None and existing.status not in ("stopped", "new"):
                    raise WorldError(f"id {nid} is taken by a running node", 409)
            node = sim.join(via=sim.random_member(self.rng), node_id=nid)
        view = self._view(node, True)
        return view or {"id": str(node.id)}

    async def leave(self, nid: int) -> None:
        node = self._member(nid)
        if node.status != "active":
            raise WorldError(f"node {nid} is {node.status}, not active", 409)
        self.sim.leave(node)
        self.feed.dirty.add(nid)

    async def crash(self, nid: int) -> None:
        self.sim.crash(self._member(nid))

    def partition(self, nids: list[int]) -> None:
        addresses = [self._member(n).ref.address for n in nids]
        self.sim.network.partition(addresses)

    def heal(self) -> None:
        self.sim.network.heal()

    def set_workload(self, args: WorkloadArgs) -> None:
        params = self.merged_workload(args)
        for workload in self.workloads:
            workload.stop()
        self.params = params
        self.workloads.append(self._workload(params, preload=False))

    def set_churn(self, args: ChurnArgs) -> None:
        self.params = self.merged_churn(args)
        self._start_churn(self.params)

    async def kv(self, op: str, key: str, value: Any = None, consistency: str | None = None) -> JsonDict:
        """A put/get/delete from a person, served by a random member. While running it takes
        its virtual time at the current speed; paused, the simulation runs until it is answered."""
        sim = self.sim
        if not len(sim.members):
            raise WorldError("the ring has no live node", 409)
        if len(key.encode("utf-8")) > sim.config.max_key_bytes:
            raise WorldError(f"key is longer than {sim.config.max_key_bytes} bytes")
        request: Request
        if op == "put":
            data = encode_value(value)
            if len(data) > sim.config.max_value_bytes:
                raise WorldError(f"value is longer than {sim.config.max_value_bytes} bytes")
            request = ClientPut(key, data)
        elif op == "get":
            if consistency == "linearizable" and self.params.consistency == "eventual":
                raise WorldError("this ring replicates eventually: linearizable reads are not available")
            request = ClientGet(key, consistency or "")
        else:
            request = ClientDelete(key)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()

        def done(reply: Any, _: BaseException | None) -> None:
            if not answer.done():
                answer.set_result(reply)

        node = sim.random_member(self.rng)
        sim.request(node, request, done)
        limit = sim.now + OP_WAIT
        while not answer.done():
            if self._closing:
                raise WorldError("the simulation stopped", 409)
            if self.status == "running" and self.speed != "max":
                await asyncio.wait([answer], timeout=0.05)
                if sim.now > limit:
                    break
                continue
            if sim.now > limit:
                break
            sim.run(limit, _slice(answer.done))
            await asyncio.sleep(0)
        if not answer.done():
            raise WorldError(f"no answer within {OP_WAIT:g} virtual seconds", 504)
        reply = answer.result()
        if isinstance(reply, ErrorReply):
            raise WorldError(f"{op} failed: {reply.code}: {reply.message}", 503 if reply.code == "unavailable" else 400)
        if not isinstance(reply, DataReply):
            raise WorldError(f"{op} got an unexpected reply {type(reply).__name__}", 500)
        found = reply.found if op != "put" else True
        return kv_result(key, self.bits, reply.owner, reply.path, found, reply.entry)

    # ------------------------------------------------------------------------------ checks and stats

    def _maybe_check(self) -> None:
        period = self.params.check_invariants
        sim = self.sim
        if not period or sim.now - self._last_check < period:
            return
        self._last_check = sim.now
        if len(sim.members) <= sim.config.successors or len(sim.members) > CHECK_LIMIT:
            return
        found = check_ring(sim.live(), sim.config.successors)
        self.violations = [str(v) for v in found[:5]]
        for violation in found[:5]:
            self.feed.keep(
                {
                    "kind": "invariant_violated",
                    "time": sim.now,
                    "node": {"id": str(violation.nodes[0] if violation.nodes else 0), "address": ""},
                    "invariant": violation.invariant,
                    "node_ids": [str(n) for n in violation.nodes],
                    "detail": violation.detail,
                }
            )

    def _sample(self) -> list[ChordNode]:
        members = self.sim.members
        if len(members) <= CHECK_LIMIT:
            return self.sim.live()
        picks = sorted(self.rng.sample(range(len(members)), SAMPLE))
        return [n for n in (self.sim.node(members[i]) for i in picks) if n is not None]

    def _correctness(self, nodes: list[ChordNode]) -> JsonDict | None:
        ids: list[int] = list(self.sim.members)  # a plain list: SortedList indexing costs ~µs each
        size = len(ids)
        if not size or not nodes:
            return None
        ring = 1 << self.bits
        good_s = good_p = good_f = total_f = 0
        for number, node in enumerate(nodes):
            i = bisect.bisect_left(ids, node.id)
            good_s += node.successor.id == ids[(i + 1) % size]
            pred = node.predecessor.id if node.predecessor else None
            good_p += (pred == ids[i - 1]) if size > 1 else pred in (None, node.id)
            if number >= FINGER_SAMPLE:
                continue
            for k, finger in enumerate(node.fingers):
                want = ids[bisect.bisect_left(ids, (node.id + (1 << k)) % ring) % size]
                total_f += 1
                good_f += (finger.id if finger else node.id) == want
        return {
            "successors": good_s / len(nodes),
            "predecessors": good_p / len(nodes),
            "fingers": good_f / max(1, total_f),
        }

    def stats(self) -> JsonDict:
        sim = self.sim
        now = sim.now
        dt = max(now - self._last_time, 1e-9)
        sent = Counter(sim.network.sent_by_name())
        per_type = {k: (v - self._last_sent.get(k, 0)) / dt for k, v in sent.items() if v - self._last_sent.get(k, 0)}
        latencies: list[float] = []
        hops: Counter[int] = Counter()
        done = failures = 0
        top: Counter[str] = Counter()
        for w in self.workloads:
            for op_stats in w.stats.values():
                done += op_stats.ok + op_stats.failed
                failures += op_stats.failed
                self._interval(op_stats, latencies, hops)
            if isinstance(w, ConductedWorkload):
                for rank, count in w.reads.items():
                    top[w.dataset.keys[rank]] += count
        nodes = self._sample()
        keys = [float(v["keys"]) for v in (self._view(n, False) for n in nodes) if v is not None]
        hop_values = sorted(hops.elements())
        stats = {
            "type": "stats",
            "v": 1,
            "time": now,
            "node_count": len(sim.members),
            "ops_per_s": (done - self._last_done) / dt,
            "lookups_per_s": (self.lookups_done - self._last_lookups) / dt,
            "hops_mean": sum(hop_values) / len(hop_values) if hop_values else None,
            "hops_p99": percentile([float(h) for h in hop_values], 0.99),
            "latency_ms_mean": 1000 * sum(latencies) / len(latencies) if latencies else None,
            "latency_ms_p99": None if not latencies else 1000 * (percentile(latencies, 0.99) or 0.0),
            "failures": failures,
            "timeouts": self.peer_failures,
            "stale_reads": self.stale_reads + sum(w.missing + w.resurrected for w in self.workloads),
            "keys_per_node": summary_numbers(keys),
            "correctness": self._correctness(nodes),
            "invariants_ok": not self.violations,
            "violations": self.violations,
            "top_keys": [[k, c] for k, c in top.most_common(5)],
            "messages_per_s": per_type,
        }
        self._last_time, self._last_sent, self._last_done = now, sent, done
        self._last_lookups = self.lookups_done
        return stats

    def _interval(self, op_stats: OpStats, latencies: list[float], hops: Counter[int]) -> None:
        """Append what ``op_stats`` gained since the last call (new latencies and hop counts)."""
        key = id(op_stats)
        seen = self._seen_latencies.get(key, 0)
        latencies.extend(op_stats.latencies[seen:])
        self._seen_latencies[key] = len(op_stats.latencies)
        before = self._seen_hops.get(key, Counter())
        hops.update(op_stats.hops - before)
        self._seen_hops[key] = Counter(op_stats.hops)
