"""``replication-throughput``: what k copies cost, for k = 1, 3, 5 in both replication modes.

Two worlds:

* **virtual** (every scale): the unchanged core on the simulator, an ideal ring, one-way delays
  uniform in 25–75 ms, no maintenance running (an ideal ring with no failures needs none, and it
  would blur the message counts). Puts of distinct keys, then gets of them, arrive as a Poisson
  stream at a fixed offered load; each is served by a random member (no client-side delay).
  Figures: completed operations per virtual second, latency mean / p50 / p99, and messages per
  operation. The simulator models network delay, not CPU, so throughput equals the offered load
  while nothing fails: what replication costs there shows as latency and messages.
* **live** (paper scale only): in-process nodes on loopback gRPC on this machine, the load
  generator in the same process; sequential operations (latency) and 16 in flight (throughput),
  each replicated ring measured beside a k = 1 ring in alternating chunks (:func:`live_pairs`),
  so that the ratios hold up on a machine that is doing other things.

What to expect, and what is checked at small scale: a linearizable write climbs the chain of
k − 1 replicas and back before the head acknowledges it, so its latency grows by one round trip
per replica; an eventual write is acknowledged by the owner at once (the pushes follow), so its
latency does not depend on k; reads cost the same for every k in both modes (one node answers);
each write costs k − 1 Replicate messages in both modes.

The experiment object is :data:`REPLICATION_THROUGHPUT` (built on first use, so that
:mod:`chordial.sim.experiments` can import it from its registry without an import cycle); the
live ring helpers (:func:`start_live_ring`, :func:`measure_live`) also serve
``bench/replication.py``.
"""

from __future__ import annotations

import asyncio
import csv
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from chordial.core.config import CONSISTENCY_MODES, ChordConfig, Consistency
from chordial.core.messages import ClientGet, ClientPut, DataReply, Replicate, Request
from chordial.core.node import ChordNode
from chordial.sim.metrics import percentile
from chordial.sim.network import LatencyModel
from chordial.sim.world import Simulation

if TYPE_CHECKING:
    from chordial.runtime import NodeRuntime
    from chordial.sim.experiments import Experiment, ExperimentResult
    from chordial.transport.grpc import GrpcTransport

NAME = "replication-throughput"
DESCRIPTION = "Read/write throughput and latency for k = 1, 3, 5 copies, linearizable and eventual"
KS: tuple[int, ...] = (1, 3, 5)
MODES: tuple[Consistency, ...] = CONSISTENCY_MODES
ONE_WAY = (0.025, 0.075)  # uniform one-way delay of the virtual world, seconds
RTT_MS = (ONE_WAY[0] + ONE_WAY[1]) * 1000  # mean round trip: two mean one-way delays
ID_BITS = 160
QUIET = 1e9  # a maintenance period so long that none runs during the measurement
VALUE = b"v" * 100
LIVE_CONCURRENCY = 16

COLUMNS = [
    "part",
    "k",
    "nodes",
    "concurrency",
    "offered_per_s",
    "ops",
    "ok",
    "throughput_per_s",
    "lat_mean_ms",
    "lat_p50_ms",
    "lat_p99_ms",
    "hops_mean",
    "messages_per_op",
    "replicate_per_op",
    "vs_k1",
]
CSV_COMMENTS = [
    f"{NAME}: Chordial's replication on k copies (owner + k-1 successors), both modes",
    "part: world mode op. world: virtual = the simulator (uniform 25-75 ms one-way delays, ideal ring, no "
    "maintenance), live = in-process nodes on loopback gRPC on this machine",
    "mode: linearizable = chain replication, reads at the head; "
    "eventual = owner acks then pushes, reads at any replica",
    "op: put (distinct new keys) or get (of keys written before); ok: answered (a get: found the key)",
    "hops_mean = Chordial's hops, final hop to the owner included (hops - 1 = fingers to the key's predecessor)",
    "concurrency: 0 = open loop (Poisson arrivals at offered_per_s); n > 0 = closed loop with n operations in flight",
    "throughput_per_s: completed ok operations per (virtual or wall) second, from the first issue to the last answer",
    "lat_*_ms: from the node receiving the request to its answer (virtual: no client-side delay; live: the "
    "client's call)",
    "messages_per_op / replicate_per_op: node-to-node requests per operation, all kinds / Replicate only "
    "(virtual world; 0 in live rows, where they are not counted)",
    "vs_k1: throughput against k = 1 (virtual: the k = 1 run of the same mode; live: a k = 1 ring measured beside "
    "this one in alternating chunks, so that the machine's other load slows both alike; a mode's live k = 1 rows "
    "are the ring measured beside its k = 3 ring)",
]

Row = dict[str, Any]


def mode_config(k: int, mode: Consistency, period: float | None = None, rpc_timeout: float = 1.0) -> ChordConfig:
    """A ring of replication factor ``k`` in ``mode`` (successor list long enough for k); every
    maintenance period is ``period`` when given, ChordConfig's defaults otherwise."""
    config = ChordConfig(
        id_bits=ID_BITS, successors=max(4, k - 1), replicas=k, consistency=mode, rpc_timeout=rpc_timeout
    )
    if period is None:
        return config
    return replace(
        config,
        stabilize_period=period,
        fix_fingers_period=period,
        check_predecessor_period=period,
        repair_period=period,
    )


@dataclass
class OpStats:
    """The outcome of a batch of operations of one kind."""

    issued: int = 0
    ok: int = 0
    latencies: list[float] = field(default_factory=list)
    hops: list[int] = field(default_factory=list)
    first_issue: float = math.inf
    last_done: float = -math.inf
    busy: float = 0.0  # seconds measured, when put together from chunks (absorb)

    def record(self, began: float, ended: float, ok: bool, hops: int) -> None:
        self.latencies.append(ended - began)
        self.last_done = max(self.last_done, ended)
        if ok:
            self.ok += 1
            self.hops.append(hops)

    def absorb(self, chunk: OpStats) -> None:
        """Add a chunk measured on its own: its operations, and its span to the time measured."""
        self.issued += chunk.issued
        self.ok += chunk.ok
        self.latencies += chunk.latencies
        self.hops += chunk.hops
        self.busy += max(0.0, chunk.last_done - chunk.first_issue)

    @property
    def throughput(self) -> float:
        """Completed (ok) operations per second, from the first issue to the last answer (or
        over the chunks' spans, for stats put together with :meth:`absorb`)."""
        span = self.busy or self.last_done - self.first_issue
        return self.ok / span if span > 0 else math.nan

    def latency_ms(self) -> tuple[float, float, float]:
        ordered = sorted(x * 1000 for x in self.latencies)
        if not ordered:
            return math.nan, math.nan, math.nan
        p50, p99 = percentile(ordered, 0.5), percentile(ordered, 0.99)
        assert p50 is not None and p99 is not None
        return statistics.fmean(ordered), p50, p99

    def row(self, **fields: Any) -> Row:
        mean, p50, p99 = self.latency_ms()
        return {
            **fields,
            "ops": self.issued,
            "ok": self.ok,
            "throughput_per_s": self.throughput,
            "lat_mean_ms": mean,
            "lat_p50_ms": p50,
            "lat_p99_ms": p99,
            "hops_mean": statistics.fmean(self.hops) if self.hops else math.nan,
        }


# ---------------------------------------------------------------------------------- virtual world


def virtual_rows(k: int, mode: Consistency, nodes: int, ops: int, rate: float, seed: int) -> list[Row]:
    """Puts then gets at ``rate`` per virtual second on an ideal ring of ``nodes``: one row each.

    The ring, the keys, the serving nodes and the arrival times depend on ``seed`` only, so every
    (k, mode) pair sees the same operations through the same lookups."""
    config = mode_config(k, mode, period=QUIET, rpc_timeout=2.0)
    latency = LatencyModel("uniform", median=sum(ONE_WAY) / 2, low=ONE_WAY[0], high=ONE_WAY[1])
    sim = Simulation(config, seed=seed, latency=latency, record_events=False)
    ring = sim.build_ideal(nodes)
    work = random.Random(seed)
    keys = [f"key-{seed}-{i}" for i in range(ops)]
    rows: list[Row] = []
    for op in ("put", "get"):
        stats = OpStats()
        before = sim.network.sent.copy()
        start = sim.now + 1.0
        at = start
        for index in range(ops):
            at += work.expovariate(rate)
            origin = ring[work.randrange(len(ring))]
            request: Request = ClientPut(keys[index], VALUE) if op == "put" else ClientGet(work.choice(keys))
            sim.scheduler.at(at, _issue, sim, origin, request, stats)
        sim.run(at + 60.0)  # every answer, and every eventual push, is in by then
        sent = sim.network.sent - before
        total = sum(sent.values())
        rows.append(
            stats.row(
                world="virtual",
                k=k,
                mode=mode,
                op=op,
                nodes=nodes,
                concurrency=0,
                offered_per_s=rate,
                messages_per_op=total / ops,
                replicate_per_op=sent[Replicate] / ops,
            )
        )
    return rows


def _issue(sim: Simulation, origin: ChordNode, request: Request, stats: OpStats) -> None:
    began = sim.now
    stats.issued += 1
    stats.first_issue = min(stats.first_issue, began)

    def done(reply: Any, _: BaseException | None) -> None:
        ok = isinstance(reply, DataReply) and (not isinstance(request, ClientGet) or reply.found)
        stats.record(began, sim.now, ok, reply.hops if isinstance(reply, DataReply) else 0)

    sim.request(origin, request, done)


# ---------------------------------------------------------------------------------- live ring


def _ring_right(nodes: Sequence[NodeRuntime]) -> bool:
    ids = sorted(n.node.id for n in nodes)
    for runtime in nodes:
        node = runtime.node
        i = ids.index(node.id)
        pred = node.predecessor
        if node.successor.id != ids[(i + 1) % len(ids)] or pred is None or pred.id != ids[i - 1]:
            return False
        if node.awaiting_handoff:
            return False
    return True


async def start_live_ring(size: int, config: ChordConfig, seed: int = 0, timeout: float = 120.0) -> list[NodeRuntime]:
    """``size`` nodes in this process on loopback gRPC, each with its own transport.

    Nodes join in doubling batches through random members, waiting for a correct ring after
    each batch: joins then land in different gaps and settle in parallel (64 nodes joining one
    node at once would settle one per stabilize round). Ends once fix_fingers had time to go
    round (twelve periods)."""
    from chordial.runtime import start_node
    from chordial.transport.grpc import GrpcTransport

    rng = random.Random(seed)
    nodes = [await start_node(GrpcTransport(), "127.0.0.1:0", config=config, seed=seed)]
    deadline = time.monotonic() + timeout
    try:
        while len(nodes) < size:
            batch = min(len(nodes), size - len(nodes))
            for _ in range(batch):
                via = rng.choice(nodes).address
                nodes.append(
                    await start_node(
                        GrpcTransport(), "127.0.0.1:0", join=via, config=config, seed=seed * 100_003 + len(nodes)
                    )
                )
            while not _ring_right(nodes):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"live ring of {size} did not converge within {timeout:g} s")
                await asyncio.sleep(0.05)
        await asyncio.sleep(config.fix_fingers_period * 12)
    except BaseException:
        await stop_live_ring(nodes)
        raise
    return nodes


async def stop_live_ring(nodes: Sequence[NodeRuntime]) -> None:
    for runtime in nodes:
        await runtime.crash()
        await runtime.transport.close()


async def measure_live(
    client: GrpcTransport, addresses: Sequence[str], requests: Sequence[Request], concurrency: int, rng: random.Random
) -> OpStats:
    """``requests`` sent to random nodes in order, ``concurrency`` at a time (wall clock)."""
    stats = OpStats()
    queue = iter(requests)

    async def worker() -> None:
        for request in queue:
            address = rng.choice(addresses)
            began = time.perf_counter()
            stats.issued += 1
            stats.first_issue = min(stats.first_issue, began)
            try:
                reply = await client.call(address, request, 10.0)
            except Exception:
                stats.record(began, time.perf_counter(), False, 0)
                continue
            ok = isinstance(reply, DataReply) and (not isinstance(request, ClientGet) or reply.found)
            stats.record(began, time.perf_counter(), ok, reply.hops if isinstance(reply, DataReply) else 0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return stats


CANDIDATES: tuple[tuple[int, Consistency], ...] = (
    (3, "linearizable"),
    (3, "eventual"),
    (5, "linearizable"),
    (5, "eventual"),
)
"""The replicated rings measured live, each beside a k = 1 ring."""


@dataclass
class LivePair:
    """One replicated ring and the k = 1 ring measured beside it: stats per phase
    (``"put 1"``, ``"get 1"``, ``"put 32"``, ... — operation and requests in flight)."""

    k: int
    mode: Consistency
    ring: dict[str, OpStats]
    baseline: dict[str, OpStats]


async def side_by_side(
    rings: Sequence[Sequence[NodeRuntime]],
    client: GrpcTransport,
    rng: random.Random,
    tag: str,
    phases: Sequence[tuple[int, int, int]],
) -> list[dict[str, OpStats]]:
    """The same workload on every ring, in chunks taken in turn (first ring first, then last
    first), so that whatever else the machine does meanwhile slows every ring alike.

    ``phases``: (requests in flight, operations, chunk size); in each, puts of new keys, then
    gets of them, through random nodes of the ring."""
    results: list[dict[str, OpStats]] = [{} for _ in rings]
    addresses = [[n.address for n in ring] for ring in rings]
    for flight, count, chunk in phases:
        keys = [[f"{tag}-{index}-{flight}-{i}" for i in range(count)] for index in range(len(rings))]
        for op in ("put", "get"):
            for turn, start in enumerate(range(0, count, chunk)):
                order = list(range(len(rings)))
                for index in order if turn % 2 == 0 else reversed(order):
                    batch = keys[index][start : start + chunk]
                    requests: list[Request] = (
                        [ClientPut(key, VALUE) for key in batch] if op == "put" else [ClientGet(key) for key in batch]
                    )
                    stats = await measure_live(client, addresses[index], requests, flight, rng)
                    results[index].setdefault(f"{op} {flight}", OpStats()).absorb(stats)
    return results


async def live_pairs(
    nodes: int,
    seed: int,
    phases: Sequence[tuple[int, int, int]],
    candidates: Sequence[tuple[int, Consistency]] = CANDIDATES,
) -> list[LivePair]:
    """A k = 1 ring of ``nodes`` in this process, and each candidate ring in turn beside it,
    measured with :func:`side_by_side`."""
    from chordial.transport.grpc import GrpcTransport

    client = GrpcTransport()
    rng = random.Random(seed)
    baseline = await start_live_ring(nodes, mode_config(1, "linearizable"), seed)
    pairs: list[LivePair] = []
    try:
        for k, mode in candidates:
            ring = await start_live_ring(nodes, mode_config(k, mode), seed + k)
            try:
                base, other = await side_by_side([baseline, ring], client, rng, f"{seed}-{k}{mode[0]}", phases)
            finally:
                await stop_live_ring(ring)
            pairs.append(LivePair(k, mode, other, base))
    finally:
        await client.close()
        await stop_live_ring(baseline)
    return pairs


def live_rows(pairs: Sequence[LivePair], nodes: int) -> list[Row]:
    """CSV rows of live pairs: each replicated ring, and as its mode's k = 1 rows the baseline
    measured beside its k = 3 ring; ``vs_k1`` against the baseline measured beside each."""
    rows: list[Row] = []
    for pair in pairs:
        measured = [(pair.k, pair.ring, pair.baseline)]
        if pair.k == 3:
            measured.insert(0, (1, pair.baseline, pair.baseline))
        for k, figures, base in measured:
            for phase, stats in figures.items():
                op, flight = phase.split()
                rows.append(
                    stats.row(
                        world="live",
                        k=k,
                        mode=pair.mode,
                        op=op,
                        nodes=nodes,
                        concurrency=int(flight),
                        offered_per_s=0.0,
                        messages_per_op=0.0,
                        replicate_per_op=0.0,
                        vs_k1=stats.throughput / base[phase].throughput,
                    )
                )
    return rows


# ---------------------------------------------------------------------------------- the experiment


@dataclass(frozen=True)
class _Scale:
    nodes: int
    ops: int
    rate: float
    live_nodes: int = 0
    live_ops: int = 0


SCALE_SETTINGS: dict[str, _Scale] = {
    "small": _Scale(nodes=64, ops=1000, rate=20.0),
    "paper": _Scale(nodes=1000, ops=4000, rate=50.0, live_nodes=32, live_ops=1000),
}


def _find(rows: Sequence[Row], **match: Any) -> Row:
    return next(r for r in rows if all(r[key] == value for key, value in match.items()))


def replication_throughput(scale: Literal["small", "paper"], seed: int, out_dir: Path) -> ExperimentResult:
    """Run the experiment (see the module docstring); CSV + PNG in ``out_dir``."""
    from chordial.sim.experiments import Check, ExperimentResult

    settings = SCALE_SETTINGS[scale]
    rows: list[Row] = []
    for k in KS:
        for mode in MODES:
            rows += virtual_rows(k, mode, settings.nodes, settings.ops, settings.rate, seed)

    def virtual(k: int, mode: str, op: str) -> Row:
        return _find(rows, world="virtual", k=k, mode=mode, op=op)

    for row in rows:
        row["vs_k1"] = row["throughput_per_s"] / virtual(1, row["mode"], row["op"])["throughput_per_s"]
    if settings.live_nodes:
        phases = ((1, settings.live_ops, 50), (LIVE_CONCURRENCY, settings.live_ops, 250))
        rows += live_rows(asyncio.run(live_pairs(settings.live_nodes, seed, phases)), settings.live_nodes)

    checks: list[Check] = []
    for k in KS[1:]:
        grown = virtual(k, "linearizable", "put")["lat_mean_ms"] - virtual(1, "linearizable", "put")["lat_mean_ms"]
        checks.append(
            Check.within(f"linearizable put: added ms per replica, k={k}", grown / (k - 1), RTT_MS, 0.15 * RTT_MS)
        )
    top = KS[-1]
    for mode, op in (("eventual", "put"), ("linearizable", "get"), ("eventual", "get")):
        diff = virtual(top, mode, op)["lat_mean_ms"] - virtual(1, mode, op)["lat_mean_ms"]
        checks.append(Check.within(f"{mode} {op}: mean ms k={top} minus k=1", diff, 0.0, 0.1 * RTT_MS))
    for mode in MODES:
        checks.append(
            Check.within(
                f"{mode}: Replicate messages per put, k={top}",
                virtual(top, mode, "put")["replicate_per_op"],
                top - 1,
                0.01,
            )
        )
    served = min(r["throughput_per_s"] / r["offered_per_s"] for r in rows if r["world"] == "virtual")
    checks.append(Check.within("virtual: completed / offered load, worst config", served, 1.0, 0.1))
    failed = sum(r["ops"] - r["ok"] for r in rows)
    checks.append(Check.at_most("operations that failed (a get: found nothing), all configs", failed, 0, 0))

    csv_path, png_path = out_dir / f"{NAME}.csv", out_dir / f"{NAME}.png"
    _write_csv(csv_path, rows)
    _plot(png_path, rows, scale, seed, settings)
    summary = [
        f"virtual, N = {settings.nodes}, {settings.rate:g} ops/s offered, one-way 25–75 ms, mean latency "
        "linearizable / eventual: "
        + "; ".join(f"k={k}: put {_pair(virtual, k, 'put')}, get {_pair(virtual, k, 'get')} ms" for k in KS)
    ]
    for mode in MODES if settings.live_nodes else ():

        def live(k: int, op: str, mode: str = mode) -> Row:
            return _find(rows, world="live", k=k, mode=mode, op=op, concurrency=LIVE_CONCURRENCY)

        parts = [
            f"k={k}: put {live(k, 'put')['throughput_per_s']:.0f} ops/s ({live(k, 'put')['vs_k1']:.2f}×), "
            f"get {live(k, 'get')['throughput_per_s']:.0f} ops/s ({live(k, 'get')['vs_k1']:.2f}×)"
            for k in KS[1:]
        ]
        summary.append(
            f"live gRPC, N = {settings.live_nodes}, {LIVE_CONCURRENCY} in flight, {mode}, against a k = 1 ring "
            "beside it: " + "; ".join(parts)
        )
    return ExperimentResult(NAME, csv_path, png_path, summary, checks)


def _pair(virtual: Callable[[int, str, str], Row], k: int, op: str) -> str:
    return " / ".join(f"{virtual(k, mode, op)['lat_mean_ms']:.0f}" for mode in MODES)


def _write_csv(path: Path, rows: Sequence[Row]) -> None:
    with path.open("w", newline="") as fh:
        for line in CSV_COMMENTS:
            fh.write(f"# {line}\n")
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for row in rows:
            part = {"part": f"{row['world']} {row['mode']} {row['op']}"}
            writer.writerow([_cell({**row, **part}[column]) for column in COLUMNS])


def _cell(value: object) -> object:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.6g}"
    return value


def _plot(path: Path, rows: Sequence[Row], scale: str, seed: int, settings: _Scale) -> None:
    from matplotlib.figure import Figure

    live = [r for r in rows if r["world"] == "live"]
    fig = Figure(figsize=(16 if not live else 21, 5.4), layout="constrained")
    axes = fig.subplots(1, 3 if not live else 4)
    colours = {"linearizable": "tab:blue", "eventual": "tab:orange"}
    ks = list(KS)
    for ax, op in zip(axes[:2], ("put", "get"), strict=True):
        for mode in MODES:
            chosen = [_find(rows, world="virtual", k=k, mode=mode, op=op) for k in ks]
            mean = [r["lat_mean_ms"] for r in chosen]
            low = [r["lat_p50_ms"] for r in chosen]
            high = [r["lat_p99_ms"] for r in chosen]
            ax.plot(ks, mean, "o-", color=colours[mode], label=f"{mode}: mean")
            ax.plot(ks, low, "v:", color=colours[mode], alpha=0.7, label=f"{mode}: p50")
            ax.plot(ks, high, "^--", color=colours[mode], alpha=0.7, label=f"{mode}: p99")
        if op == "put":
            base = _find(rows, world="virtual", k=1, mode="linearizable", op="put")["lat_mean_ms"]
            ax.plot(ks, [base + (k - 1) * RTT_MS for k in ks], "k:", lw=1, label="k=1 mean + (k−1) round trips")
        ax.set_xticks(ks)
        ax.set_xlabel("replication factor k")
        ax.set_ylabel("latency, virtual ms")
        ax.set_title(f"({'a' if op == 'put' else 'b'}) virtual {op} latency, N = {settings.nodes}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    ax = axes[2]
    styles = {"linearizable": {"lw": 5, "alpha": 0.45, "ms": 11}, "eventual": {"lw": 1.5, "alpha": 1.0, "ms": 6}}
    for mode in MODES:
        for op, marker in (("put", "o-"), ("get", "s--")):
            chosen = [_find(rows, world="virtual", k=k, mode=mode, op=op) for k in ks]
            ax.plot(
                ks,
                [r["messages_per_op"] for r in chosen],
                marker,
                color=colours[mode],
                label=f"{mode} {op}",
                **styles[mode],
            )
    ax.plot(ks, [k - 1 for k in ks], "k:", lw=1, label="k − 1 (Replicate per put)")
    ax.set_xticks(ks)
    ax.set_xlabel("replication factor k")
    ax.set_ylabel("node-to-node messages per operation")
    ax.set_title(f"(c) messages per op (both modes alike), {settings.rate:g} ops/s offered")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    if live:
        ax = axes[3]
        for mode in MODES:
            for op, marker in (("put", "o-"), ("get", "s--")):
                chosen = [_find(rows, world="live", k=k, mode=mode, op=op, concurrency=LIVE_CONCURRENCY) for k in ks]
                ax.plot(ks, [r["vs_k1"] for r in chosen], marker, color=colours[mode], label=f"{mode} {op}")
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_xticks(ks)
        ax.set_xlabel("replication factor k")
        ax.set_ylabel("ops/s against a k = 1 ring measured beside it")
        ax.set_title(f"(d) live gRPC, N = {settings.live_nodes}, {LIVE_CONCURRENCY} in flight, this machine")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Replication: throughput and latency for k = 1, 3, 5 — {scale} scale, seed {seed}")
    fig.savefig(path, dpi=110)


_experiment: Experiment | None = None


def __getattr__(name: str) -> Experiment:
    """``REPLICATION_THROUGHPUT``, the :class:`~chordial.sim.experiments.Experiment`, made on
    first use (``chordial.sim.experiments`` may be importing this module at that moment)."""
    global _experiment
    if name != "REPLICATION_THROUGHPUT":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _experiment is None:
        from chordial.sim.experiments import Experiment

        _experiment = Experiment(NAME, DESCRIPTION, replication_throughput)
    return _experiment


__all__ = [  # noqa: F822 (REPLICATION_THROUGHPUT comes from __getattr__)
    "CANDIDATES",
    "DESCRIPTION",
    "KS",
    "NAME",
    "REPLICATION_THROUGHPUT",
    "LivePair",
    "OpStats",
    "live_pairs",
    "live_rows",
    "measure_live",
    "replication_throughput",
    "side_by_side",
    "start_live_ring",
    "stop_live_ring",
    "virtual_rows",
]
