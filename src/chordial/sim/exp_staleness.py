"""The ``staleness`` experiment: how often a read returns the last written value, per replication mode.

Registered in :data:`chordial.sim.experiments.EXPERIMENTS`; see :func:`staleness`.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from chordial.core.config import CONSISTENCY_MODES, ChordConfig, Consistency
from chordial.core.ids import key_id
from chordial.sim.experiments import (
    ID_BITS,
    Check,
    ExperimentResult,
    Row,
    Scale,
    _finish,
    _paths,
    _percentile,
    _write_csv,
)
from chordial.sim.history import HistoryRecorder, Record
from chordial.sim.linearizability import check_linearizable
from chordial.sim.network import LatencyModel
from chordial.sim.world import Simulation

NODES = 10
REPLICAS = 3
DELAY_BINS = (0.0, 0.1, 0.2, 0.4, 0.8, 1.6)
"""Lower edges (seconds) of the read-delay bins: time from the newest acknowledged write of the
key to the read's invocation; the last bin runs to the end of the run."""
EVENTUAL_FLOOR = 0.5
"""Eventual mode must still return the last written value more often than this."""

COLUMNS = [
    "part",
    "all_delays",
    "delay_from_ms",
    "delay_to_ms",
    "reads",
    "fresh",
    "stale",
    "fresh_fraction",
    "mean_versions_behind",
    "non_replica_reads",
    "fresh_fraction_replica_reads",
    "puts",
    "inserts",
    "updates",
    "put_ms_p50",
    "get_ms_p50",
    "history_linearizable",
]


@dataclass(frozen=True)
class _Setup:
    clients: int
    keys: int
    duration: float
    runs: int
    think: float = 0.05
    put_share: float = 0.3


def _config(mode: Consistency) -> ChordConfig:
    return ChordConfig(
        id_bits=ID_BITS,
        successors=4,
        replicas=REPLICAS,
        consistency=mode,
        stabilize_period=5.0,
        fix_fingers_period=5.0,
        check_predecessor_period=5.0,
        repair_period=10.0,
        rpc_timeout=1.5,
    )


@dataclass
class _ModeRun:
    records: list[Record]
    replica_reads: dict[int, bool]  # id(record) -> answered by one of the key's k replicas
    linearizable: bool


def _run(mode: Consistency, setup: _Setup, seed: int) -> _ModeRun:
    sim = Simulation(_config(mode), seed=seed, latency=LatencyModel.wan(), record_events=False)
    sim.build_ideal(NODES)
    recorder = HistoryRecorder(
        sim,
        [f"key-{seed}-{i:03d}" for i in range(setup.keys)],
        setup.clients,
        mix={"put": setup.put_share, "get": 1.0 - setup.put_share},
        think=setup.think,
        stop=setup.duration,
    )
    sim.run(setup.duration)
    recorder.quiesce()
    members = list(sim.members)  # no churn: the ring of the whole run
    by_address = {node.ref.address: node.id for node in sim.live()}
    replica_reads: dict[int, bool] = {}
    for record in recorder.completed_gets():
        start = sim.members.bisect_left(key_id(record.key, ID_BITS))
        group = {members[(start + j) % len(members)] for j in range(REPLICAS)}
        replica_reads[id(record)] = by_address.get(record.owner) in group
    verdict = check_linearizable(recorder.history())
    return _ModeRun(recorder.records, replica_reads, verdict.ok)


def _rows(runs: list[_ModeRun], duration: float) -> list[Row]:
    records = [r for run in runs for r in run.records]
    gets = [r for r in records if r.kind == "get" and r.ok]
    puts = [r for r in records if r.kind == "put" and r.ok]
    replica = {k: v for run in runs for k, v in run.replica_reads.items()}
    common = {
        "puts": float(len(puts)),
        "inserts": float(sum(r.version == 1 for r in puts)),
        "updates": float(sum(r.version is not None and r.version > 1 for r in puts)),
        "put_ms_p50": _percentile([1000 * (r.returned or 0.0) - 1000 * r.invoked for r in puts], 0.5),
        "get_ms_p50": _percentile([1000 * (r.returned or 0.0) - 1000 * r.invoked for r in gets], 0.5),
        "history_linearizable": float(all(run.linearizable for run in runs)),
    }

    def row(selected: list[Record], overall: bool, low: float, high: float) -> Row:
        stale = [r for r in selected if r.stale]
        behind = [r.latest_acked - (r.version or 0) for r in stale]
        at_replicas = [r for r in selected if replica.get(id(r), True)]
        return {
            "all_delays": 1.0 if overall else 0.0,
            "delay_from_ms": 1000 * low,
            "delay_to_ms": 1000 * high,
            "reads": float(len(selected)),
            "fresh": float(len(selected) - len(stale)),
            "stale": float(len(stale)),
            "fresh_fraction": (len(selected) - len(stale)) / len(selected) if selected else 1.0,
            "mean_versions_behind": sum(behind) / len(behind) if behind else 0.0,
            "non_replica_reads": float(len(selected) - len(at_replicas)),
            "fresh_fraction_replica_reads": (
                sum(not r.stale for r in at_replicas) / len(at_replicas) if at_replicas else 1.0
            ),
            **common,
        }

    out: list[Row] = [row(gets, True, 0.0, duration)]
    edges = [*DELAY_BINS, duration]
    for low, high in itertools.pairwise(edges):
        chosen = [r for r in gets if r.latest_acked_at is not None and low <= r.invoked - r.latest_acked_at < high]
        out.append(row(chosen, False, low, high))
    return out


def staleness(scale: Scale, seed: int, out_dir: Path) -> ExperimentResult:
    """Fraction of reads that return the last written value, linearizable vs eventual replication.

    10 nodes on an ideal ring (random ids), k = 3 replicas, successor lists of 4, maintenance
    every 5 s, anti-entropy every 10 s, RPC timeout 1.5 s, WAN latency (log-normal one-way delay,
    median 100 ms, σ = 0.5). Clients (small: 12, paper: 32) each run one operation at a time
    from a random node, pausing 50 ms on average between operations: 30% puts of a value unique
    in the run (the first put of a key is an insert, later ones updates), 70% gets, uniformly over
    a key set that starts empty (small: 30 keys, paper: 100), for 120 s (paper: 600 s, three runs
    per mode). No churn, no loss: all staleness comes from the replication mode itself.

    A read is *fresh* when the version it returned is at least that of the newest write of the
    key acknowledged before the read was invoked (versions grow by one per write at the key's
    head, so this is exact), *stale* otherwise. Reported per mode, overall and per delay since
    that acknowledgement: reads, fresh fraction, mean versions behind of stale reads, reads
    answered by a node outside the key's replica group, put/get median latency, and the
    linearizability checker's verdict on the whole history.

    Reference: linearizable mode (chain replication, reads at the head) must return the last
    written value every time (fresh fraction 1, and the history is linearizable); eventual mode
    (acknowledge at the owner, push in the background, read any replica) may not, but must stay
    above a floor of 50%.
    """
    setup = (
        _Setup(clients=32, keys=100, duration=600.0, runs=3)
        if scale == "paper"
        else _Setup(clients=12, keys=30, duration=120.0, runs=1)
    )
    rng = random.Random(seed)
    by_mode: dict[str, list[Row]] = {}
    for mode in CONSISTENCY_MODES:
        runs = [_run(mode, setup, rng.getrandbits(32)) for _ in range(setup.runs)]
        by_mode[mode] = _rows(runs, setup.duration)
    overall = {mode: rows[0] for mode, rows in by_mode.items()}

    lin, ev = overall["linearizable"], overall["eventual"]
    lin_fresh, ev_fresh = lin["fresh_fraction"], ev["fresh_fraction"]
    checks = [
        Check.within("linearizable: fraction of reads returning the last written value", lin_fresh, 1.0, 0.0),
        Check.within(
            "linearizable: the recorded history passes the linearizability checker (1 = yes)",
            lin["history_linearizable"],
            1.0,
            0.0,
        ),
        Check.at_most("eventual: fraction of fresh reads, at most linearizable's", ev_fresh, lin_fresh, 0.0),
        Check.within(
            f"eventual: fraction of fresh reads, above the floor {EVENTUAL_FLOOR:g}",
            ev_fresh,
            (1.0 + EVENTUAL_FLOOR) / 2,
            (1.0 - EVENTUAL_FLOOR) / 2,
        ),
    ]

    name = "staleness"
    csv_path, png_path = _paths(out_dir, name)
    _write_csv(
        csv_path,
        [
            f"Reads that return the last written value, per replication mode; seed {seed}, scale {scale}",
            f"{NODES} nodes, k = {REPLICAS} replicas, WAN latency (log-normal, median 100 ms, sigma 0.5); "
            f"{setup.clients} clients, one operation at a time, mean pause {setup.think * 1000:g} ms; "
            f"{setup.put_share:.0%} puts (insert = first put of a key, update = later ones), "
            f"{1 - setup.put_share:.0%} gets over {setup.keys} keys; {setup.duration:g} s x {setup.runs} run(s) "
            "per mode; no churn, no loss",
            "part: the ring's consistency mode; all_delays = 1: every answered get; otherwise the gets invoked "
            "delay_from_ms <= t < delay_to_ms after the newest acknowledged write of their key "
            "(the last bin ends at the end of the run)",
            "fresh: gets that returned a version >= the newest acknowledged before they were invoked; stale: the "
            "others; fresh_fraction = fresh / reads (1 when a bin is empty); mean_versions_behind: over stale gets",
            "non_replica_reads: gets answered by a node outside the key's replica group (owner + k-1 successors); "
            "fresh_fraction_replica_reads: fresh_fraction over the other gets",
            "puts, inserts, updates, put_ms_p50, get_ms_p50, history_linearizable (1 = the checker accepted the "
            "whole history): per mode, repeated on every row of the mode",
            "reference: linearizable must have fresh_fraction 1 and a linearizable history; eventual at most "
            f"that, and above {EVENTUAL_FLOOR:g}",
        ],
        COLUMNS,
        [{"part": mode, **row} for mode, rows in by_mode.items() for row in rows],
    )

    fig = Figure(figsize=(15, 5.2), layout="constrained")
    axbar, axdelay, axlat = fig.subplots(1, 3)
    modes = list(CONSISTENCY_MODES)
    colours = {"linearizable": "tab:blue", "eventual": "tab:orange"}
    fractions = [overall[m]["fresh_fraction"] for m in modes]
    bars = axbar.bar(modes, fractions, color=[colours[m] for m in modes], label="Chordial: fresh reads")
    for bar, mode in zip(bars, modes, strict=True):
        row = overall[mode]
        axbar.annotate(
            f"{row['fresh_fraction']:.2%}\n{row['stale']:.0f} stale of {row['reads']:.0f}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    axbar.axhline(1.0, color="black", ls="--", lw=1, label="reference: linearizable must be 1")
    axbar.axhline(EVENTUAL_FLOOR, color="red", ls=":", lw=1, label=f"check: eventual above {EVENTUAL_FLOOR:g}")
    axbar.set_ylim(0, 1.15)
    _finish(axbar, "consistency mode", "fraction of reads returning the last written value", "(a) fresh reads")

    for mode in modes:
        binned = by_mode[mode][1:]
        centres = [math.sqrt(max(r["delay_from_ms"], 50.0) * r["delay_to_ms"]) for r in binned]
        axdelay.plot(
            centres[:-1],
            [r["fresh_fraction"] for r in binned][:-1],
            "o-",
            color=colours[mode],
            label=f"{mode}",
        )
        if mode == "eventual":
            axdelay.plot(
                centres[:-1],
                [r["fresh_fraction_replica_reads"] for r in binned][:-1],
                "^--",
                color=colours[mode],
                alpha=0.6,
                label="eventual, reads answered by one of the k replicas only",
            )
        last = binned[-1]
        axdelay.plot(
            [DELAY_BINS[-1] * 1000 * 2],
            [last["fresh_fraction"]],
            "s",
            color=colours[mode],
            mfc="none",
            label=f"{mode}: ≥ {DELAY_BINS[-1] * 1000:.0f} ms",
        )
    axdelay.axhline(1.0, color="black", ls="--", lw=1, label="reference: linearizable must be 1")
    axdelay.set_xscale("log")
    lowest = min(r["fresh_fraction"] for rows in by_mode.values() for r in rows)
    axdelay.set_ylim(max(0.0, min(0.8, lowest - 0.05)), 1.02)
    _finish(
        axdelay,
        "delay from the newest acknowledged write to the read (ms, bin centre)",
        "fraction of reads returning the last written value",
        "(b) freshness vs. read delay after the write",
    )

    x = range(len(modes))
    width = 0.38
    axlat.bar(
        [i - width / 2 for i in x],
        [overall[m]["put_ms_p50"] for m in modes],
        width,
        color="tab:green",
        label="put, median",
    )
    axlat.bar(
        [i + width / 2 for i in x],
        [overall[m]["get_ms_p50"] for m in modes],
        width,
        color="tab:purple",
        label="get, median",
    )
    axlat.set_xticks(list(x), modes)
    _finish(axlat, "consistency mode", "latency (ms, virtual)", "(c) what freshness costs: operation latency")
    fig.suptitle(
        f"Stale reads under replication: {NODES} nodes, k = {REPLICAS}, WAN latency — {scale} scale, seed {seed}"
    )
    fig.savefig(png_path, dpi=110)

    summary = [
        f"{mode}: {row['fresh_fraction']:.2%} of {row['reads']:.0f} reads returned the last written value "
        f"({row['stale']:.0f} stale, {row['mean_versions_behind']:.2f} versions behind on average, "
        f"{row['non_replica_reads']:.0f} answered outside the replica group); {row['puts']:.0f} puts "
        f"({row['inserts']:.0f} inserts); median put {row['put_ms_p50']:.0f} ms, get {row['get_ms_p50']:.0f} ms; "
        f"history {'linearizable' if row['history_linearizable'] else 'NOT linearizable'}"
        for mode, row in overall.items()
    ]
    return ExperimentResult(name, csv_path, png_path, summary, checks)


__all__ = ["staleness"]
