"""``chordial sim``: run simulations and experiments from the command line.

``chordial sim run`` builds a :class:`~chordial.sim.world.Simulation` from its options
(:class:`RunSpec`), runs it and prints :func:`~chordial.sim.metrics.summarize`. The same options
and seed give the same run, event for event; ``--events-out`` writes the events as JSON lines
behind a header that holds the parameters and the command that replays them.

``chordial sim experiment NAME`` runs one of :mod:`chordial.sim.experiments` and exits 0 when
all its checks pass.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import math
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Any, Literal, Protocol, cast

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from chordial.core.config import CONSISTENCY_MODES, ChordConfig
from chordial.core.events import Event
from chordial.sim.metrics import summarize
from chordial.sim.models import OPS, Dataset, LifetimeChurn, PoissonChurn, ScriptedChurn, Workload
from chordial.sim.network import LatencyModel
from chordial.sim.world import Simulation
from chordial.transport.codec import event_to_dict


class ExperimentCheck(Protocol):
    """What the CLI reads of one check of :mod:`chordial.sim.experiments`."""

    @property
    def name(self) -> str: ...
    @property
    def measured(self) -> Any: ...
    @property
    def reference(self) -> Any: ...
    @property
    def tolerance(self) -> Any: ...
    @property
    def passed(self) -> bool: ...


class ExperimentResult(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def csv_path(self) -> Path | str | None: ...
    @property
    def png_path(self) -> Path | str | None: ...
    @property
    def summary(self) -> Sequence[str]: ...
    @property
    def checks(self) -> Sequence[ExperimentCheck]: ...


class Experiment(Protocol):
    @property
    def description(self) -> str: ...
    def run(self, scale: Literal["small", "paper"], seed: int, out_dir: Path) -> ExperimentResult: ...


def load_experiments() -> Mapping[str, Experiment]:
    """``chordial.sim.experiments.EXPERIMENTS``, imported only when asked for."""
    module = importlib.import_module("chordial.sim.experiments")
    return cast(Mapping[str, Experiment], module.EXPERIMENTS)


EXIT_FAILURE = 1
EXIT_USAGE = 2
EVENTS_FORMAT = "chordial-sim-events"

sim_app = typer.Typer(
    name="sim",
    help="Deterministic simulation of a whole ring on virtual time: runs and experiments.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class SimUsageError(ValueError):
    """A bad parameter: reported as one line, exit code 2."""


def _fail(message: str, code: int) -> typer.Exit:
    """One line on stderr, then the exit code (chordial's convention for every failure)."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr, flush=True)
    return typer.Exit(code)


# ------------------------------------------------------------------------------------------ run spec


@dataclass(frozen=True)
class RunSpec:
    """Every parameter of ``chordial sim run``; :meth:`command` gives the command that replays it."""

    nodes: int = 100
    seed: int = 0
    duration: float = 300.0
    id_bits: int = 160
    successors: int = 4
    stabilize: float = 30.0
    fix_fingers: float = 30.0
    check_predecessor: float = 30.0
    rpc_timeout: float = 0.5
    replicas: int = 3
    consistency: str = "linearizable"
    repair_period: float = 30.0
    latency: str = "constant"
    latency_ms: float | None = None
    loss: float = 0.0
    start: str = "ideal"
    join_interval: float = 1.0
    churn: str = "none"
    join_rate: float = 0.0
    leave_rate: float = 0.0
    crash_rate: float = 0.0
    min_nodes: int | None = None
    lifetime: float = 3600.0
    lifetime_dist: str = "exponential"
    pareto_alpha: float = 2.0
    leave_fraction: float = 0.0
    safe_failures: bool = False
    churn_until: float | None = None
    workload_rate: float = 0.0
    mix: str = "lookup=1,get=0,put=0,delete=0"
    popularity: str = "uniform"
    zipf_s: float = 1.0
    dataset: str = "generated:1000"
    preload: bool | None = None
    check_invariants: float = 0.0

    def config(self) -> ChordConfig:
        return ChordConfig(
            id_bits=self.id_bits,
            successors=self.successors,
            stabilize_period=self.stabilize,
            fix_fingers_period=self.fix_fingers,
            check_predecessor_period=self.check_predecessor,
            rpc_timeout=self.rpc_timeout,
            replicas=self.replicas,
            consistency="eventual" if self.consistency == "eventual" else "linearizable",
            repair_period=self.repair_period,
        )

    def latency_model(self) -> LatencyModel:
        if self.latency == "wan":
            ms = 100.0 if self.latency_ms is None else self.latency_ms
            return LatencyModel("lognormal", median=ms / 1000, sigma=0.5)
        ms = 50.0 if self.latency_ms is None else self.latency_ms
        if self.latency == "uniform":
            return LatencyModel("uniform", median=ms / 1000, low=ms / 2000, high=ms * 3 / 2000)
        return LatencyModel("constant", median=ms / 1000)

    def parsed_mix(self) -> dict[str, float]:
        return parse_mix(self.mix)

    def wants_preload(self) -> bool:
        if self.preload is not None:
            return self.preload
        mix = self.parsed_mix()
        return self.workload_rate > 0 and (mix.get("get", 0) > 0 or mix.get("delete", 0) > 0)

    def validate(self) -> None:
        """Raise :class:`SimUsageError` naming the first bad option."""

        def positive(name: str, value: float) -> None:
            if not (value > 0 and math.isfinite(value)):
                raise SimUsageError(f"--{name} must be positive, got {value:g}")

        def non_negative(name: str, value: float) -> None:
            if not (value >= 0 and math.isfinite(value)):
                raise SimUsageError(f"--{name} must be ≥ 0, got {value:g}")

        def one_of(name: str, value: str, choices: tuple[str, ...]) -> None:
            if value not in choices:
                raise SimUsageError(f"--{name} must be one of {', '.join(choices)}, got {value!r}")

        if self.nodes < 1:
            raise SimUsageError(f"--nodes must be at least 1, got {self.nodes}")
        if not 1 <= self.id_bits <= 256:
            raise SimUsageError(f"--id-bits must be between 1 and 256, got {self.id_bits}")
        if self.nodes > 1 << self.id_bits:
            raise SimUsageError(f"--nodes {self.nodes} do not fit in a {self.id_bits}-bit ring")
        if self.successors < 1:
            raise SimUsageError(f"--successors must be at least 1, got {self.successors}")
        if self.replicas < 1:
            raise SimUsageError(f"--replicas must be at least 1, got {self.replicas}")
        if self.successors < self.replicas - 1:
            raise SimUsageError(
                f"--replicas {self.replicas} needs --successors of at least {self.replicas - 1}, got {self.successors}"
            )
        one_of("consistency", self.consistency, CONSISTENCY_MODES)
        positive("duration", self.duration)
        for name in ("stabilize", "fix-fingers", "check-predecessor", "rpc-timeout", "repair-period", "join-interval"):
            positive(name, getattr(self, name.replace("-", "_")))
        one_of("latency", self.latency, ("constant", "uniform", "wan"))
        if self.latency_ms is not None:
            non_negative("latency-ms", self.latency_ms)
        if not 0.0 <= self.loss < 1.0:
            raise SimUsageError(f"--loss must be in [0, 1), got {self.loss:g}")
        one_of("start", self.start, ("ideal", "joins"))
        one_of("churn", self.churn, ("none", "poisson", "lifetime"))
        for name in ("join-rate", "leave-rate", "crash-rate", "workload-rate", "leave-fraction"):
            non_negative(name, getattr(self, name.replace("-", "_")))
        rates = self.join_rate + self.leave_rate + self.crash_rate
        if self.churn != "poisson" and rates > 0:
            raise SimUsageError("--join-rate, --leave-rate and --crash-rate need --churn poisson")
        if self.churn == "poisson" and rates == 0:
            raise SimUsageError("--churn poisson needs a positive --join-rate, --leave-rate or --crash-rate")
        positive("lifetime", self.lifetime)
        one_of("lifetime-dist", self.lifetime_dist, ("exponential", "pareto"))
        if self.lifetime_dist == "pareto" and not self.pareto_alpha > 1:
            raise SimUsageError(f"--pareto-alpha must be > 1, got {self.pareto_alpha:g}")
        if self.leave_fraction > 1:
            raise SimUsageError(f"--leave-fraction must be in [0, 1], got {self.leave_fraction:g}")
        if self.min_nodes is not None and self.min_nodes < 0:
            raise SimUsageError(f"--min-nodes must be ≥ 0, got {self.min_nodes}")
        if self.churn_until is not None:
            non_negative("churn-until", self.churn_until)
        mix = self.parsed_mix()
        if self.workload_rate > 0 and not any(mix.values()):
            raise SimUsageError("--mix needs at least one operation with a positive weight")
        one_of("popularity", self.popularity, ("uniform", "zipf"))
        non_negative("zipf-s", self.zipf_s)
        non_negative("check-invariants", self.check_invariants)

    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def command(self) -> str:
        """The ``chordial sim run`` command line that replays this spec (non-default options)."""
        words = ["chordial", "sim", "run"]
        defaults = RunSpec()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            option = "--" + f.name.replace("_", "-")
            if f.name in ("nodes", "seed", "duration") or value != getattr(defaults, f.name):
                if isinstance(value, bool):
                    words.append(option if value else "--no-" + option[2:])
                elif value is not None:
                    words += [option, str(value)]
        return shlex.join(words)


def parse_mix(text: str) -> dict[str, float]:
    """``lookup=1,get=2`` → weights (unlisted kinds weigh 0)."""
    mix = dict.fromkeys(OPS, 0.0)
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, weight = part.partition("=")
        name = name.strip()
        if not sep or name not in OPS:
            raise SimUsageError(f"--mix: expected op=weight pairs of {', '.join(OPS)}, got {part.strip()!r}")
        try:
            value = float(weight)
        except ValueError:
            raise SimUsageError(f"--mix: weight of {name} is not a number: {weight.strip()!r}") from None
        if not (value >= 0 and math.isfinite(value)):
            raise SimUsageError(f"--mix: weight of {name} must be ≥ 0, got {weight.strip()}")
        mix[name] = value
    return mix


@dataclass
class SimRun:
    """A simulation built from a :class:`RunSpec`, with its models."""

    spec: RunSpec
    sim: Simulation
    workload: Workload | None = None
    churn: PoissonChurn | LifetimeChurn | None = None
    starter: ScriptedChurn | None = None
    event_count: int = 0
    wall_seconds: float = 0.0
    _digest: Any = field(default_factory=hashlib.sha256)

    def digest(self) -> str:
        """SHA-256 over every event (equal to ``Simulation.digest()`` with recording on)."""
        return str(self._digest.hexdigest())

    def run(self, on_progress: Callable[[float], None] | None = None, steps: int = 200) -> None:
        """Run to ``spec.duration`` in ``steps`` slices, calling ``on_progress(now)`` after each."""
        began = time.perf_counter()
        end = self.spec.duration
        for i in range(1, steps + 1):
            self.sim.run(end * i / steps)
            if on_progress is not None:
                on_progress(self.sim.now)
        self.wall_seconds += time.perf_counter() - began

    def summary(self) -> dict[str, Any]:
        out = summarize(self.sim, self.workload, self.wall_seconds, churn=self.churn)
        out["replication"] = {
            "replicas": self.spec.replicas,
            "consistency": self.spec.consistency,
            "repair_period": self.spec.repair_period,
        }
        out["digest"] = self.digest()
        out["simulator"]["recorded_events"] = self.event_count
        out["command"] = self.spec.command()
        return out


def build_run(spec: RunSpec, *, record_events: bool = False, sink: Callable[[Event], None] | None = None) -> SimRun:
    """Build the simulation ``spec`` describes (raises :class:`SimUsageError` on bad parameters).

    Events always feed the run's digest; ``sink`` also gets each one (``--events-out``).
    With ``record_events`` the simulation keeps them in ``sim.events`` too.
    """
    spec.validate()
    try:
        sim = Simulation(
            spec.config(), seed=spec.seed, latency=spec.latency_model(), loss=spec.loss, record_events=record_events
        )
    except ValueError as exc:
        raise SimUsageError(str(exc)) from None
    result = SimRun(spec, sim)

    def on_event(event: Event) -> None:
        result.event_count += 1
        result._digest.update(repr(event).encode())
        if sink is not None:
            sink(event)

    sim.listeners.append(on_event)
    if spec.start == "ideal":
        sim.build_ideal(spec.nodes)
    else:
        sim.create()
        joins = [(i * spec.join_interval, "join", None) for i in range(1, spec.nodes)]
        result.starter = ScriptedChurn(sim, joins, retry_joins=True)
    stop = spec.churn_until
    if spec.churn == "poisson":
        floor = spec.min_nodes if spec.min_nodes is not None else 0
        result.churn = PoissonChurn(
            sim,
            spec.join_rate,
            spec.leave_rate,
            spec.crash_rate,
            floor,
            respect_zave=spec.safe_failures,
            stop=stop,
        )
    elif spec.churn == "lifetime":
        result.churn = LifetimeChurn(
            sim,
            cast(Literal["exponential", "pareto"], spec.lifetime_dist),
            spec.lifetime,
            spec.pareto_alpha,
            leave_fraction=spec.leave_fraction,
            respect_zave=spec.safe_failures,
            stop=stop,
        )
    if spec.workload_rate > 0:
        try:
            dataset = Dataset.parse(spec.dataset)
            result.workload = Workload(
                sim,
                spec.workload_rate,
                spec.parsed_mix(),
                cast(Literal["uniform", "zipf"], spec.popularity),
                spec.zipf_s,
                dataset,
                preload=spec.wants_preload(),
            )
        except ValueError as exc:
            raise SimUsageError(str(exc)) from None
    if spec.check_invariants > 0:
        sim.check_every(spec.check_invariants)
    return result


# ------------------------------------------------------------------------------------------ output


def _console() -> Console:
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e6 else f"{value:.3e}"
    return str(value)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _table(title: str, *columns: str) -> Table:
    header = any(columns)
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD if header else None, show_header=header)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right", no_wrap=True)
    return table


def print_summary(summary: dict[str, Any], console: Console) -> None:
    """The summary as Rich tables."""
    sim = summary["simulator"]
    nodes = summary["nodes"]
    run = _table("run", "", "")
    run.add_row("virtual time", f"{summary['virtual_seconds']:g} s")
    run.add_row("live nodes", f"{nodes['live']} ({nodes['started']} started, {nodes['stopped']} stopped)")
    run.add_row("scheduler events", f"{sim['scheduler_events']:,}")
    run.add_row("core events", f"{sim['recorded_events']:,}")
    if sim["wall_seconds"] is not None:
        run.add_row("wall time", f"{sim['wall_seconds']:.2f} s")
        run.add_row("events / s", f"{_fmt(sim['events_per_second'])}")
        run.add_row("virtual / wall", f"{_fmt(sim['virtual_per_wall'])}×")
    replication = summary.get("replication")
    if replication is not None:
        k = replication["replicas"]
        run.add_row(
            "replication",
            "off (k = 1)"
            if k == 1
            else f"k = {k}, {replication['consistency']}, repair every {_fmt(replication['repair_period'])} s",
        )
    run.add_row("digest", summary.get("digest", "-")[:16])
    console.print(run)

    lk = summary["lookups"]
    if lk["total"]:
        hops, lat = lk["hops"], lk["latency_ms"]
        lookups = _table("workload lookups", "", "")
        lookups.add_row("ok / failed", f"{lk['ok']} / {lk['failed']}  ({_pct(lk['success_rate'])} ok)")
        lookups.add_row("wrong owner", str(lk["wrong_owner"]))
        lookups.add_row("timeouts", str(lk["timeouts"]))
        lookups.add_row("hops mean / p1 / p50 / p99", " / ".join(_fmt(hops[k]) for k in ("mean", "p1", "p50", "p99")))
        lookups.add_row("latency ms mean / p50 / p99", " / ".join(_fmt(lat[k]) for k in ("mean", "p50", "p99")))
        histogram = "  ".join(f"{h}:{c}" for h, c in hops["histogram"].items())
        lookups.add_row("hop histogram", histogram)
        console.print(lookups)

    workload = summary.get("workload")
    if workload and workload["ops"]:
        ops = _table(
            f"workload: {workload['issued']} ops at {workload['rate']:g}/s, {workload['popularity']}, "
            f"{workload['dataset']['keys']} keys",
            "op",
            "issued",
            "ok",
            "failed",
            "wrong owner",
            "found",
            "not found",
            "ms p50",
            "ms p99",
        )
        for op, s in workload["ops"].items():
            ops.add_row(
                op,
                str(s["issued"]),
                str(s["ok"]),
                str(s["failed"]),
                str(s["wrong_owner"]),
                _fmt(s.get("found")),
                _fmt(s.get("not_found")),
                _fmt(s["latency_ms"]["p50"]),
                _fmt(s["latency_ms"]["p99"]),
            )
        console.print(ops)
        if workload["get_missing"] or workload["get_resurrected"]:
            console.print(
                f"gets that missed an acknowledged put: {workload['get_missing']}; "
                f"found a deleted key: {workload['get_resurrected']}"
            )

    ring = summary["ring"]
    state = _table("ring", "", "")
    for name in ("successors", "predecessors", "fingers"):
        if name in ring:
            state.add_row(f"right {name}", _pct(ring[name]))
    state.add_row("ideal (Zave)", _fmt(ring["ideal"]))
    inv = summary["invariants"]
    state.add_row("invariant checks", f"{inv['checks']} ({inv['checks_with_violations']} with violations)")
    if inv["first"] is not None:
        state.add_row("first violation", f"t={inv['first']['time']:g}: {inv['first']['violations'][0]}")
    keys = summary["keys_per_node"]
    if keys["total"]:
        state.add_row(
            "keys per node mean/min/p1/p99/max",
            " / ".join(_fmt(keys[k]) for k in ("mean", "min", "p1", "p99", "max")) + f"  ({keys['total']} total)",
        )
    console.print(state)

    msgs = summary["messages"]
    table = _table(f"messages: {msgs['total']:,} sent, {msgs['dropped']:,} dropped", "type", "count", "/node/s")
    per = msgs["by_type_per_node_per_second"]
    for name, count in sorted(msgs["by_type"].items(), key=lambda kv: -kv[1]):
        table.add_row(name, f"{count:,}", _fmt(per.get(name)))
    table.add_row("all", f"{msgs['total']:,}", _fmt(msgs["per_node_per_second"]))
    console.print(table)
    churn = summary.get("churn")
    if churn:
        console.print("churn: " + ", ".join(f"{k} {v}" for k, v in churn.items()))
    console.print(f"replay: {summary['command']}", soft_wrap=True)


@contextmanager
def _events_file(path: Path | None, header: dict[str, Any]) -> Iterator[Callable[[Event], None] | None]:
    if path is None:
        yield None
        return
    try:
        handle: IO[str] = path.open("w", encoding="utf-8", newline="\n")
    except OSError as exc:
        raise SimUsageError(f"--events-out: cannot write {path}: {exc.strerror or exc}") from None
    with handle:
        handle.write(json.dumps(header, separators=(",", ":"), ensure_ascii=False) + "\n")
        dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

        def write(event: Event) -> None:
            handle.write(dumps(event_to_dict(event)) + "\n")

        yield write


def _run_with_progress(run: SimRun, show: bool) -> None:
    """Run; on a terminal, show a progress bar over virtual time once the run proves slow."""
    if not show:
        run.run()
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    total = run.spec.duration
    began = time.perf_counter()
    progress: Progress | None = None
    task = None

    def on_progress(now: float) -> None:
        nonlocal progress, task
        if progress is None and time.perf_counter() - began > 0.5:
            progress = Progress(
                TextColumn("[bold]simulating"),
                BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f} virtual s"),
                TimeElapsedColumn(),
                transient=True,
            )
            progress.start()
            task = progress.add_task("run", total=total)
        if progress is not None and task is not None:
            progress.update(task, completed=now)

    try:
        run.run(on_progress)
    finally:
        if progress is not None:
            progress.stop()


# ------------------------------------------------------------------------------------------ commands


@sim_app.command("run")
def run_command(
    nodes: Annotated[int, typer.Option(help="Number of nodes at the start.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of every random choice: same seed, same run.")] = 0,
    duration: Annotated[float, typer.Option(help="Virtual seconds to simulate.")] = 300.0,
    id_bits: Annotated[int, typer.Option(help="Size of ring ids in bits.")] = 160,
    successors: Annotated[int, typer.Option(help="Successor list length r.")] = 4,
    stabilize: Annotated[float, typer.Option(help="Stabilize period, virtual s.")] = 30.0,
    fix_fingers: Annotated[float, typer.Option(help="Fix-fingers period, virtual s.")] = 30.0,
    check_predecessor: Annotated[float, typer.Option(help="Check-predecessor period, virtual s.")] = 30.0,
    rpc_timeout: Annotated[float, typer.Option(help="RPC deadline, virtual s.")] = 0.5,
    replicas: Annotated[int, typer.Option(help="Replication factor k: copies of each key (1 = none).")] = 3,
    consistency: Annotated[str, typer.Option(help="Replication mode: linearizable | eventual.")] = "linearizable",
    repair_period: Annotated[float, typer.Option(help="Anti-entropy period, virtual s.")] = 30.0,
    latency: Annotated[str, typer.Option(help="constant | uniform (±50%) | wan (log-normal, σ 0.5).")] = "constant",
    latency_ms: Annotated[
        float | None, typer.Option(help="One-way delay (wan: median) in ms; default 50, wan 100.")
    ] = None,
    loss: Annotated[float, typer.Option(help="Probability that a message is lost.")] = 0.0,
    start: Annotated[str, typer.Option(help="ideal: a converged ring; joins: one node, the rest join.")] = "ideal",
    join_interval: Annotated[float, typer.Option(help="With --start joins: virtual s between joins.")] = 1.0,
    churn: Annotated[str, typer.Option(help="none | poisson | lifetime.")] = "none",
    join_rate: Annotated[float, typer.Option(help="Poisson joins per virtual s.")] = 0.0,
    leave_rate: Annotated[float, typer.Option(help="Poisson graceful leaves per virtual s.")] = 0.0,
    crash_rate: Annotated[float, typer.Option(help="Poisson crashes per virtual s.")] = 0.0,
    min_nodes: Annotated[int | None, typer.Option(help="Churn never takes the ring below this (≥ r+1).")] = None,
    lifetime: Annotated[float, typer.Option(help="Mean node lifetime, virtual s (--churn lifetime).")] = 3600.0,
    lifetime_dist: Annotated[str, typer.Option(help="exponential | pareto.")] = "exponential",
    pareto_alpha: Annotated[float, typer.Option(help="Shape of Pareto lifetimes (> 1).")] = 2.0,
    leave_fraction: Annotated[float, typer.Option(help="Share of ended lifetimes that leave, not crash.")] = 0.0,
    safe_failures: Annotated[
        bool,
        typer.Option(
            help="Skip failures Zave's proof rules out (a member left with no live successor, too few principals)."
        ),
    ] = False,
    churn_until: Annotated[float | None, typer.Option(help="Stop churn at this virtual time.")] = None,
    workload_rate: Annotated[float, typer.Option(help="Client operations per virtual s.")] = 0.0,
    mix: Annotated[str, typer.Option(help="Weights of the operations.")] = "lookup=1,get=0,put=0,delete=0",
    popularity: Annotated[str, typer.Option(help="uniform | zipf key popularity.")] = "uniform",
    zipf_s: Annotated[float, typer.Option(help="Zipf exponent.")] = 1.0,
    dataset: Annotated[str, typer.Option(help="generated:N, or a file: text lines or JSON lines.")] = "generated:1000",
    preload: Annotated[
        bool | None, typer.Option(help="Place the dataset on its owners first (default: when gets/deletes run).")
    ] = None,
    check_invariants: Annotated[float, typer.Option(help="Check Zave's invariants every S virtual s (0: off).")] = 0.0,
    events_out: Annotated[Path | None, typer.Option(help="Write every event as JSON lines to this file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Simulate a ring on virtual time and print what happened."""
    spec = RunSpec(
        nodes=nodes,
        seed=seed,
        duration=duration,
        id_bits=id_bits,
        successors=successors,
        stabilize=stabilize,
        fix_fingers=fix_fingers,
        check_predecessor=check_predecessor,
        rpc_timeout=rpc_timeout,
        replicas=replicas,
        consistency=consistency,
        repair_period=repair_period,
        latency=latency,
        latency_ms=latency_ms,
        loss=loss,
        start=start,
        join_interval=join_interval,
        churn=churn,
        join_rate=join_rate,
        leave_rate=leave_rate,
        crash_rate=crash_rate,
        min_nodes=min_nodes,
        lifetime=lifetime,
        lifetime_dist=lifetime_dist,
        pareto_alpha=pareto_alpha,
        leave_fraction=leave_fraction,
        safe_failures=safe_failures,
        churn_until=churn_until,
        workload_rate=workload_rate,
        mix=mix,
        popularity=popularity,
        zipf_s=zipf_s,
        dataset=dataset,
        preload=preload,
        check_invariants=check_invariants,
    )
    try:
        spec.validate()
        header = {
            "format": EVENTS_FORMAT,
            "version": 1,
            "seed": seed,
            "command": spec.command(),
            "params": spec.params(),
        }
        with _events_file(events_out, header) as sink:
            run = build_run(spec, sink=sink)
            _run_with_progress(run, show=sys.stdout.isatty() and not as_json)
    except SimUsageError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    summary = run.summary()
    if as_json:
        print(json.dumps(summary, indent=2, ensure_ascii=False), flush=True)
    else:
        print_summary(summary, _console())


@sim_app.command("experiment")
def experiment_command(
    name: Annotated[str | None, typer.Argument(help="The experiment (see --list).")] = None,
    scale: Annotated[str, typer.Option(help="small (quick) | paper (the paper's sizes).")] = "small",
    seed: Annotated[int, typer.Option(help="Seed of the run.")] = 0,
    out: Annotated[Path, typer.Option(help="Directory for the CSV and PNG.")] = Path("results"),
    list_: Annotated[bool, typer.Option("--list", help="List the experiments and exit.")] = False,
) -> None:
    """Reproduce one of the Chord paper's figures; exit 0 when all its checks pass."""
    try:
        experiments = load_experiments()
    except ImportError as exc:
        raise _fail(f"experiments are not available: {exc}", EXIT_FAILURE) from None
    console = _console()
    if list_:
        width = max((len(n) for n in experiments), default=0)
        for key in sorted(experiments):
            print(f"{key:<{width}}  {experiments[key].description}")
        return
    if name is None:
        raise _fail(f"name an experiment, or --list; known: {', '.join(sorted(experiments))}", EXIT_USAGE)
    if name not in experiments:
        raise _fail(f"unknown experiment {name!r}; known: {', '.join(sorted(experiments))}", EXIT_USAGE)
    if scale not in ("small", "paper"):
        raise _fail(f"--scale must be small or paper, got {scale!r}", EXIT_USAGE)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _fail(f"--out: cannot create {out}: {exc.strerror or exc}", EXIT_USAGE) from None
    experiment = experiments[name]
    console.print(f"[bold]{name}[/bold]: {experiment.description}")
    began = time.perf_counter()
    result = experiment.run(cast(Literal["small", "paper"], scale), seed, out)
    passed = print_experiment(result, console, time.perf_counter() - began)
    if not passed:
        raise typer.Exit(EXIT_FAILURE)


def print_experiment(result: ExperimentResult, console: Console, wall: float | None = None) -> bool:
    """Summary lines, the checks table and the files written; whether every check passed."""
    for line in result.summary:
        console.print(line)
    checks = list(result.checks)
    if checks:
        table = _table("checks", "check", "measured", "reference", "tolerance", "")
        for check in checks:
            at_most = getattr(check, "rule", "within") == "at_most"  # measured ≤ reference + tolerance
            table.add_row(
                str(check.name),
                _fmt(check.measured, 4),
                _fmt(check.reference, 4),
                ("+" if at_most else "±") + _fmt(check.tolerance, 4),
                "pass" if check.passed else "FAIL",
            )
        console.print(table)
    console.print(f"csv: {result.csv_path}")
    console.print(f"png: {result.png_path}")
    passed = all(check.passed for check in checks)
    failed = sum(not check.passed for check in checks)
    timing = f" in {wall:.1f} s" if wall is not None else ""
    console.print(f"{len(checks) - failed}/{len(checks)} checks passed{timing}")
    return passed


__all__ = ["RunSpec", "SimRun", "SimUsageError", "build_run", "parse_mix", "print_summary", "sim_app"]
