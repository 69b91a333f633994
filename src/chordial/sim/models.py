"""Churn and workload models that schedule themselves on a :class:`~chordial.sim.world.Simulation`.

Every model takes the simulation first and draws all its randomness from a private
``random.Random`` seeded once, at construction, from ``sim.rng``: a run stays a pure function
of the seed, and a model's own choices (who crashes, which key is read) never consume the
simulation's stream after that one draw. Models start scheduling at construction (from
``start``, default now) and stop at ``stop`` (default: never) or when :meth:`stop` is called.

* :class:`ScriptedChurn` — a fixed list of ``(time, action, arg)``.
* :class:`PoissonChurn` — joins, leaves and crashes as Poisson processes.
* :class:`LifetimeChurn` — each node lives an exponential or Pareto lifetime, then is replaced.
* :class:`Workload` — lookups and client put/get/delete at a Poisson rate over a :class:`Dataset`.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self, cast

from chordial.core.events import Event, NodeJoined
from chordial.core.ids import key_id
from chordial.core.invariants import MemberView, principals
from chordial.core.messages import ClientDelete, ClientGet, ClientPut, DataReply, ErrorReply
from chordial.core.node import ChordNode, LookupResult
from chordial.sim.world import Simulation

__all__ = [
    "Dataset",
    "DatasetError",
    "LifetimeChurn",
    "OpStats",
    "PoissonChurn",
    "ScriptedChurn",
    "Workload",
    "ZipfSampler",
    "keeps_live_successors",
    "may_fail",
    "model_rng",
]

ChurnAction = Literal["join", "leave", "crash", "restart", "partition", "heal"]
CHURN_ACTIONS: tuple[str, ...] = ("join", "leave", "crash", "restart", "partition", "heal")
OPS: tuple[str, ...] = ("lookup", "get", "put", "delete")
JOIN_GRACE = 60.0
"""Virtual seconds after which a node still ``joining`` is taken for a failed join."""


# ------------------------------------------------------------------------------------------ helpers


def model_rng(sim: Simulation) -> random.Random:
    """A generator of a model's own, seeded once from the simulation's."""
    return random.Random(sim.rng.getrandbits(64))


def _member(sim: Simulation, nid: int) -> ChordNode:
    node = sim.node(nid)
    if node is None:
        raise KeyError(f"no node with id {nid}")
    return node


def _pick_member(sim: Simulation, rng: random.Random) -> ChordNode | None:
    members = sim.members
    if not len(members):
        return None
    return _member(sim, members[rng.randrange(len(members))])


def keeps_live_successors(sim: Simulation, victim: ChordNode) -> bool:
    """Zave's assumption (a): would every other member still have a live entry in its successor
    list if ``victim`` failed now? Members are ``sim.members`` (leaving nodes are already out).
    A member with an empty list believes it is alone and is not constrained."""
    live = set(sim.members)
    live.discard(victim.id)
    for nid in live:
        successors = _member(sim, nid).successors
        if successors and not any(s.id in live for s in successors):
            return False
    return True


def may_fail(sim: Simulation, victim: ChordNode) -> bool:
    """Zave's assumptions on failures (a crash, or a leave, which all but the predecessor see
    as one): (a) :func:`keeps_live_successors`; (b) no principal fails while there are at most
    r + 1 principals (members no successor list skips; see
    :func:`chordial.core.invariants.principals`)."""
    if any(node.status == "joining" for node in sim.nodes.values()):
        # Zave's join is atomic: a joiner adopts a successor list it checked was live a moment
        # ago, and failures in between could leave it, once a member, with none alive.
        return False
    if not keeps_live_successors(sim, victim):
        return False
    found = principals({nid: MemberView.of(_member(sim, nid)) for nid in sim.members})
    return victim.id not in found or len(found) > sim.config.successors + 1


def _check_rate(name: str, value: float) -> float:
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite rate ≥ 0 per second, got {value}")
    return value


class _Model:
    """Common plumbing: own rng, a start/stop window, action counters."""

    def __init__(self, sim: Simulation, start: float | None, stop: float | None) -> None:
        self.sim = sim
        self.rng = model_rng(sim)
        self.start_time = sim.now if start is None else max(start, sim.now)
        self.stop_time = math.inf if stop is None else stop
        if self.stop_time < self.start_time:
            raise ValueError(f"stop time {stop} is before the start {self.start_time}")
        self.counts: Counter[str] = Counter()
        self._stopped = False

    def start(self) -> Self:
        """Models start when built; this returns the model, for chaining (idempotent)."""
        return self

    def stop(self) -> None:
        """Schedule nothing more (actions already in flight finish)."""
        self._stopped = True

    def _active(self) -> bool:
        return not self._stopped and self.sim.now <= self.stop_time

    @property
    def floor(self) -> int:
        """Fewest members churn may leave: Zave's precondition needs r + 1."""
        return self.sim.config.successors + 1

    def _join(self, via: ChordNode | None = None, node_id: int | None = None, address: str | None = None) -> None:
        """Join a node through ``via`` (a member picked with this model's rng by default)."""
        sim = self.sim
        via = via or _pick_member(sim, self.rng)
        if via is None:
            self.counts["join_skipped"] += 1
            return
        self.counts["join"] += 1
        holder: list[ChordNode] = []
        node = sim.join(
            via=via, node_id=node_id, address=address, done=lambda _, failure: self._join_done(holder[0], failure)
        )
        holder.append(node)

    def _join_done(self, node: ChordNode, failure: BaseException | None) -> None:
        if failure is not None or node.status != "active":
            self.counts["join_failed"] += 1
            self._join_failed(node)

    def _join_failed(self, node: ChordNode) -> None:
        return None


# ------------------------------------------------------------------------------------------ scripted churn


ScriptArg = None | int | str | float | ChordNode | Sequence[Sequence[str]]


class ScriptedChurn(_Model):
    """Runs ``(time, action, arg)`` entries at their virtual times.

    ``arg`` by action:

    * ``join``: ``None`` (a fresh address), an ``int`` node id, or a ``str`` address;
    * ``leave`` / ``crash``: ``None`` (a random member), a ``str`` address, a node, or an
      ``int`` position in ring order (taken modulo the member count);
    * ``restart``: a ``str`` address or a node (``None``: a random stopped node);
    * ``partition``: a ``str`` address to isolate, a list of address groups (each its own side),
      or a ``float`` in (0, 1): that fraction of the members, picked at random, is cut off;
    * ``heal``: ignored.

    Entries whose target does not exist (an address never seen, nothing to restart) are counted
    under ``"<action>_skipped"`` in :attr:`counts` rather than raising mid-run. With
    ``respect_zave``, leaves and crashes that would break Zave's assumptions (:func:`may_fail`) or take the
    membership to r or fewer are skipped too; with ``retry_joins`` a join that fails (its
    bootstrap died, say) is retried with a fresh node through another member.
    """

    def __init__(
        self,
        sim: Simulation,
        events: Iterable[tuple[float, str, ScriptArg]],
        *,
        respect_zave: bool = False,
        retry_joins: bool = False,
    ) -> None:
        super().__init__(sim, None, None)
        self.respect_zave = respect_zave
        self.retry_joins = retry_joins
        entries = list(events)
        for when, action, arg in entries:
            if action not in CHURN_ACTIONS:
                raise ValueError(f"unknown churn action {action!r}; known: {', '.join(CHURN_ACTIONS)}")
            if not math.isfinite(when) or when < 0:
                raise ValueError(f"churn time must be a finite time ≥ 0, got {when}")
            if action in ("leave", "crash") and not (arg is None or isinstance(arg, int | str | ChordNode)):
                raise ValueError(f"{action} needs a member: None, a ring position, an address or a node; got {arg!r}")
        self.entries = sorted(entries, key=lambda e: e[0])  # stable: ties keep their order
        for when, action, arg in self.entries:
            sim.scheduler.at(when, self._do, action, arg)

    def _target(self, arg: ScriptArg) -> ChordNode | None:
        sim = self.sim
        if arg is None:
            return _pick_member(sim, self.rng)
        if isinstance(arg, ChordNode):
            return arg
        if isinstance(arg, str):
            return sim.nodes.get(arg)
        if isinstance(arg, int):
            if not len(sim.members):
                return None
            return _member(sim, sim.members[arg % len(sim.members)])
        raise ValueError(f"not a node: {arg!r}")

    def _do(self, action: str, arg: ScriptArg) -> None:
        if self._stopped:
            return
        sim = self.sim
        if action == "join":
            if isinstance(arg, int) and not isinstance(arg, bool):
                self._join(node_id=arg % (1 << sim.config.id_bits))
            elif isinstance(arg, str):
                self._join(address=arg)
            else:
                self._join()
        elif action in ("leave", "crash"):
            node = self._target(arg)
            gone = node is None or node.id not in sim.members or sim.nodes.get(node.ref.address) is not node
            if gone or (self.respect_zave and not self._may_fail(cast(ChordNode, node))):
                self.counts[f"{action}_skipped"] += 1
            elif node is not None:
                self.counts[action] += 1
                if action == "leave":
                    sim.leave(node)
                else:
                    sim.crash(node)
        elif action == "restart":
            node = self._restartable(arg)
            if node is None:
                self.counts["restart_skipped"] += 1
            else:
                self.counts["restart"] += 1
                holder: list[ChordNode] = []
                holder.append(sim.restart(node, done=lambda _, failure: self._join_done(holder[0], failure)))
        elif action == "partition":
            self.counts["partition"] += 1
            self._partition(arg)
        else:
            self.counts["heal"] += 1
            sim.network.heal()

    def _may_fail(self, node: ChordNode) -> bool:
        return len(self.sim.members) > self.floor and may_fail(self.sim, node)

    def _join_failed(self, node: ChordNode) -> None:
        if self.retry_joins and not self._stopped:
            self._join()

    def _restartable(self, arg: ScriptArg) -> ChordNode | None:
        sim = self.sim
        if isinstance(arg, ChordNode):
            return arg
        if isinstance(arg, str):
            return sim.nodes.get(arg)
        stopped = sorted((n for n in sim.nodes.values() if n.status == "stopped"), key=lambda n: n.ref.address)
        if not stopped:
            return None
        if isinstance(arg, int):
            return stopped[arg % len(stopped)]
        return stopped[self.rng.randrange(len(stopped))]

    def _partition(self, arg: ScriptArg) -> None:
        net = self.sim.network
        if isinstance(arg, str):
            net.isolate(arg)
        elif isinstance(arg, float):
            if not 0.0 < arg < 1.0:
                raise ValueError(f"partition fraction must be in (0, 1), got {arg}")
            live = self.sim.live()
            cut = self.rng.sample(live, max(1, int(len(live) * arg)))
            net.partition([n.ref.address for n in cut])
        elif isinstance(arg, Sequence):
            net.partition(*[list(group) for group in arg])
        else:
            raise ValueError(f"partition needs an address, a fraction or address groups, got {arg!r}")


# ------------------------------------------------------------------------------------------ Poisson churn


class PoissonChurn(_Model):
    """Joins, graceful leaves and crashes, each a Poisson process with a per-second rate.

    Leaves and crashes that would take the membership below ``min_nodes`` (and never below
    r + 1) are skipped and counted as ``leave_skipped`` / ``crash_skipped``. With
    ``respect_zave`` a failure is also skipped when some member would be left without a live
    entry in its successor list, or too few principals (Zave's assumptions, :func:`may_fail`).
    """

    def __init__(
        self,
        sim: Simulation,
        join_rate: float = 0.0,
        leave_rate: float = 0.0,
        crash_rate: float = 0.0,
        min_nodes: int = 0,
        *,
        respect_zave: bool = False,
        start: float | None = None,
        stop: float | None = None,
    ) -> None:
        super().__init__(sim, start, stop)
        self.rates = {
            "join": _check_rate("join rate", join_rate),
            "leave": _check_rate("leave rate", leave_rate),
            "crash": _check_rate("crash rate", crash_rate),
        }
        self.min_nodes = max(min_nodes, self.floor)
        self.respect_zave = respect_zave
        for action, rate in self.rates.items():  # fixed order: determinism
            if rate > 0:
                self._schedule(action, self.start_time)

    def _schedule(self, action: str, after: float) -> None:
        when = after + self.rng.expovariate(self.rates[action])
        if when <= self.stop_time:
            self.sim.scheduler.at(when, self._fire, action)

    def _fire(self, action: str) -> None:
        if self._stopped:
            return
        sim = self.sim
        if action == "join":
            self._join()
        else:
            victim = _pick_member(sim, self.rng)
            if victim is None or len(sim.members) - 1 < self.min_nodes or not self._may_take(victim):
                self.counts[f"{action}_skipped"] += 1
            else:
                self.counts[action] += 1
                self._taking(victim)
                if action == "leave":
                    sim.leave(victim)
                else:
                    sim.crash(victim)
        self._schedule(action, sim.now)

    def _may_take(self, victim: ChordNode) -> bool:
        """Whether ``victim`` may leave or crash now (beyond the ``min_nodes`` floor)."""
        return not self.respect_zave or may_fail(self.sim, victim)

    def _taking(self, victim: ChordNode) -> None:
        """``victim`` is about to leave or crash (a hook for models that remember failures)."""


# ------------------------------------------------------------------------------------------ lifetime churn


class LifetimeChurn(_Model):
    """Each member lives a random lifetime; when it ends the node crashes (or leaves, with
    probability ``leave_fraction``) and a replacement joins at once, keeping N about steady.

    ``exponential``: lifetimes with mean ``mean_lifetime``. ``pareto``: heavy-tailed with shape
    ``alpha`` (> 1) and the scale that gives the same mean, as measured in deployed P2P
    systems. Nodes present at construction draw a full lifetime from then on.
    """

    def __init__(
        self,
        sim: Simulation,
        distribution: Literal["exponential", "pareto"] = "exponential",
        mean_lifetime: float = 3600.0,
        alpha: float = 2.0,
        *,
        leave_fraction: float = 0.0,
        respect_zave: bool = False,
        start: float | None = None,
        stop: float | None = None,
    ) -> None:
        super().__init__(sim, start, stop)
        if distribution not in ("exponential", "pareto"):
            raise ValueError(f"lifetime distribution must be exponential or pareto, got {distribution!r}")
        if not (mean_lifetime > 0 and math.isfinite(mean_lifetime)):
            raise ValueError(f"mean lifetime must be positive, got {mean_lifetime}")
        if distribution == "pareto" and not alpha > 1:
            raise ValueError(f"pareto alpha must be > 1 for a finite mean, got {alpha}")
        if not 0.0 <= leave_fraction <= 1.0:
            raise ValueError(f"leave fraction must be in [0, 1], got {leave_fraction}")
        self.distribution = distribution
        self.mean_lifetime = mean_lifetime
        self.alpha = alpha
        self.leave_fraction = leave_fraction
        self.respect_zave = respect_zave
        self.lifetimes: list[float] = []
        sim.listeners.append(self._on_event)
        for node in sim.live():
            self._arm(node, self.start_time)

    def draw(self) -> float:
        """One lifetime, in seconds."""
        if self.distribution == "exponential":
            return self.rng.expovariate(1.0 / self.mean_lifetime)
        scale = self.mean_lifetime * (self.alpha - 1.0) / self.alpha
        return scale * self.rng.paretovariate(self.alpha)

    def _arm(self, node: ChordNode, born: float) -> None:
        life = self.draw()
        self.lifetimes.append(life)
        when = born + life
        if when <= self.stop_time:
            self.sim.scheduler.at(when, self._expire, node)

    def _on_event(self, event: Event) -> None:
        # A replacement (or any other join) gets its lifetime when it becomes a member.
        if isinstance(event, NodeJoined) and event.successor is not None and self._active():
            node = self.sim.nodes.get(event.node.address)
            if node is not None and node.id == event.node.id:
                self._arm(node, self.sim.now)

    def _expire(self, node: ChordNode) -> None:
        sim = self.sim
        if self._stopped or sim.nodes.get(node.ref.address) is not node or node.id not in sim.members:
            return
        if len(sim.members) - 1 < self.floor or (self.respect_zave and not may_fail(sim, node)):
            self.counts["expire_postponed"] += 1
            self._arm(node, sim.now)
            return
        if self.leave_fraction and self.rng.random() < self.leave_fraction:
            self.counts["leave"] += 1
            sim.leave(node)
        else:
            self.counts["crash"] += 1
            sim.crash(node)
        self._join()

    def _join_failed(self, node: ChordNode) -> None:
        if self._active():
            self._join()  # keep N steady: try another replacement


# ------------------------------------------------------------------------------------------ datasets


class DatasetError(ValueError):
    """A dataset file that cannot be used, with the reason (and line) meant for people."""


@dataclass(frozen=True)
class Dataset:
    """Keys and values a workload draws from; a key's rank is its position (0 = most popular)."""

    keys: tuple[str, ...]
    values: tuple[bytes, ...]
    source: str = "generated"

    def __post_init__(self) -> None:
        if not self.keys:
            raise DatasetError(f"dataset {self.source} has no keys")
        if len(self.keys) != len(self.values):
            raise DatasetError("a dataset needs one value per key")

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def generated(cls, count: int) -> Dataset:
        """``count`` keys ``key-000000``, ``key-000001``, … with short text values."""
        if count < 1:
            raise DatasetError(f"a generated dataset needs at least one key, got {count}")
        width = max(6, len(str(count - 1)))
        keys = tuple(f"key-{i:0{width}d}" for i in range(count))
        return cls(keys, tuple(f"value of {k}".encode() for k in keys), f"generated:{count}")

    @classmethod
    def from_file(cls, path: str | Path) -> Dataset:
        """One entry per non-blank line.

        A line holding a JSON object takes its ``"key"`` field as key (default: the line number)
        and its ``"value"`` field as value (strings as UTF-8, other JSON as JSON text; default:
        the line). Any other line is a value whose key is its line number (1-based). A key seen
        twice keeps its first rank and its last value.
        """
        where = str(path)
        try:
            text = Path(path).read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise DatasetError(f"cannot read dataset {where}: no such file") from None
        except IsADirectoryError:
            raise DatasetError(f"cannot read dataset {where}: it is a directory") from None
        except UnicodeDecodeError as exc:
            raise DatasetError(f"dataset {where} is not UTF-8 text (byte {exc.start})") from None
        except OSError as exc:
            raise DatasetError(f"cannot read dataset {where}: {exc.strerror or exc}") from None
        values: dict[str, bytes] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line:
                continue
            key, value = str(number), line.encode("utf-8")
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except ValueError:
                    obj = None
                if isinstance(obj, dict):
                    key, value = _json_entry(obj, number, where, value)
            values[key] = value
        if not values:
            raise DatasetError(f"dataset {where} is empty (no non-blank lines)")
        return cls(tuple(values), tuple(values.values()), where)

    @classmethod
    def parse(cls, spec: str) -> Dataset:
        """``generated:N`` or a file path (the CLI's ``--dataset``)."""
        if spec.startswith("generated:"):
            count = spec.removeprefix("generated:")
            try:
                return cls.generated(int(count))
            except ValueError:
                raise DatasetError(f"generated dataset size must be a positive integer, got {count!r}") from None
        return cls.from_file(spec)


def _json_entry(obj: Mapping[str, Any], number: int, where: str, line: bytes) -> tuple[str, bytes]:
    key: Any = obj.get("key", number)
    if isinstance(key, bool) or not isinstance(key, str | int):
        raise DatasetError(f'{where} line {number}: "key" must be a string or an integer, got {key!r}')
    key = str(key)
    if not key:
        raise DatasetError(f'{where} line {number}: "key" is empty')
    if "value" not in obj:
        return key, line
    value = obj["value"]
    if isinstance(value, str):
        return key, value.encode("utf-8")
    return key, json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# ------------------------------------------------------------------------------------------ Zipf


class ZipfSampler:
    """Ranks 0..n-1 with P(rank k) ∝ 1 / (k + 1)^s: a precomputed CDF and a bisect."""

    def __init__(self, n: int, s: float = 1.0) -> None:
        if n < 1:
            raise ValueError(f"zipf needs at least one rank, got {n}")
        if not (s >= 0 and math.isfinite(s)):
            raise ValueError(f"zipf exponent must be ≥ 0, got {s}")
        self.n = n
        self.s = s
        self.cdf = list(itertools.accumulate((k + 1) ** -s for k in range(n)))
        self.total = self.cdf[-1]

    def probability(self, rank: int) -> float:
        return float((rank + 1) ** -self.s / self.total)

    def sample(self, rng: random.Random) -> int:
        return min(bisect.bisect_right(self.cdf, rng.random() * self.total), self.n - 1)


# ------------------------------------------------------------------------------------------ workload


@dataclass
class OpStats:
    """Outcomes of one kind of workload operation (latencies in virtual seconds)."""

    issued: int = 0
    ok: int = 0
    failed: int = 0
    wrong_owner: int = 0
    found: int = 0
    not_found: int = 0
    latencies: list[float] = field(default_factory=list)
    hops: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def pending(self) -> int:
        return self.issued - self.ok - self.failed


class Workload(_Model):
    """Client operations at Poisson arrivals of ``rate`` per second, from random members.

    ``mix`` weighs the kinds (lookup, get, put, delete); keys come from ``dataset`` (default
    ``Dataset.generated(1000)``) uniformly or by Zipf popularity over their ranks. Lookups go
    through :meth:`Simulation.lookup` (and so also count in ``sim.lookups``); the others are
    served by :meth:`Simulation.request`. Besides the per-kind :class:`OpStats`, gets are
    checked against what the workload last wrote: ``missing`` counts gets that found nothing
    though a put had been acknowledged before they started (and no write was in flight),
    ``resurrected`` gets that found a key acknowledged as deleted.
    """

    def __init__(
        self,
        sim: Simulation,
        rate: float,
        mix: Mapping[str, float] | None = None,
        popularity: Literal["uniform", "zipf"] = "uniform",
        zipf_s: float = 1.0,
        dataset: Dataset | None = None,
        *,
        preload: bool = False,
        start: float | None = None,
        stop: float | None = None,
    ) -> None:
        super().__init__(sim, start, stop)
        self.rate = _check_rate("workload rate", rate)
        weights = dict(mix) if mix is not None else {"lookup": 1.0}
        unknown = sorted(set(weights) - set(OPS))
        if unknown:
            raise ValueError(f"unknown operation(s) in the mix: {', '.join(unknown)}; known: {', '.join(OPS)}")
        if any(not (w >= 0 and math.isfinite(w)) for w in weights.values()):
            raise ValueError("mix weights must be finite and ≥ 0")
        self.mix = {op: float(weights.get(op, 0.0)) for op in OPS}
        total = sum(self.mix.values())
        if rate > 0 and total <= 0:
            raise ValueError("the mix needs at least one operation with a positive weight")
        self._ops = [op for op in OPS if self.mix[op] > 0]
        self._op_cdf = list(itertools.accumulate(self.mix[op] for op in self._ops))
        if popularity not in ("uniform", "zipf"):
            raise ValueError(f"popularity must be uniform or zipf, got {popularity!r}")
        self.popularity = popularity
        self.dataset = dataset or Dataset.generated(1000)
        self._check_sizes()
        self.zipf = ZipfSampler(len(self.dataset), zipf_s) if popularity == "zipf" else None
        self.stats: dict[str, OpStats] = {op: OpStats() for op in OPS}
        self.key_counts: Counter[int] = Counter()  # rank -> times chosen
        self.missing = 0
        self.resurrected = 0
        self.preloaded = 0
        self._present: dict[str, bool] = {}  # what the last acknowledged write left
        self._generation: Counter[str] = Counter()  # writes started per key
        self._in_flight: Counter[str] = Counter()
        self._ids = [key_id(k, sim.config.id_bits) for k in self.dataset.keys]
        if preload:
            self.preload()
        if self.rate > 0:
            self._schedule(self.start_time)

    def _check_sizes(self) -> None:
        cfg = self.sim.config
        for key, value in zip(self.dataset.keys, self.dataset.values, strict=True):
            if len(key.encode("utf-8")) > cfg.max_key_bytes:
                raise DatasetError(f"key {key[:40]!r}… is longer than {cfg.max_key_bytes} bytes")
            if len(value) > cfg.max_value_bytes:
                raise DatasetError(f"the value of {key!r} is longer than {cfg.max_value_bytes} bytes")

    def preload(self) -> int:
        """Place every dataset key on its true owner directly, as if put before the run (the data
        counterpart of ``build_ideal``: no messages, no events). Returns the count placed."""
        sim = self.sim
        if not len(sim.members):
            raise ValueError("preload needs a ring: no members yet")
        for key, value, kid in zip(self.dataset.keys, self.dataset.values, self._ids, strict=True):
            _member(sim, sim.owner_of(kid)).store.put(kid, key, value)
            self._present[key] = True
        self.preloaded = len(self.dataset)
        return self.preloaded

    # -------------------------------------------------------------------------------- arrivals

    def _schedule(self, after: float) -> None:
        when = after + self.rng.expovariate(self.rate)
        if when <= self.stop_time:
            self.sim.scheduler.at(when, self._arrive)

    def _arrive(self) -> None:
        if self._stopped:
            return
        self.issue()
        self._schedule(self.sim.now)

    def choose_rank(self) -> int:
        if self.zipf is not None:
            return self.zipf.sample(self.rng)
        return self.rng.randrange(len(self.dataset))

    def choose_op(self) -> str:
        if len(self._ops) == 1:
            return self._ops[0]
        return self._ops[bisect.bisect_right(self._op_cdf, self.rng.random() * self._op_cdf[-1])]

    def issue(self, op: str | None = None, rank: int | None = None) -> None:
        """Start one operation now (random kind and key unless given)."""
        sim = self.sim
        op = op or self.choose_op()
        rank = self.choose_rank() if rank is None else rank
        node = _pick_member(sim, self.rng)
        stats = self.stats[op]
        if node is None:
            stats.issued += 1
            stats.failed += 1
            stats.errors["no members"] += 1
            return
        self.key_counts[rank] += 1
        key, kid = self.dataset.keys[rank], self._ids[rank]
        stats.issued += 1
        started = sim.now
        if op == "lookup":

            def looked_up(result: LookupResult | None, failure: BaseException | None) -> None:
                if failure is not None or result is None:
                    stats.failed += 1
                    stats.errors[type(failure).__name__ if failure else "no result"] += 1
                    return
                stats.ok += 1
                stats.latencies.append(sim.now - started)
                stats.hops[result.hops] += 1
                if result.owner.id != sim.owner_of(kid):
                    stats.wrong_owner += 1

            sim.lookup(node, kid, looked_up)
            return
        if op == "get":
            request: ClientGet | ClientPut | ClientDelete = ClientGet(key)
            expect = None if self._in_flight[key] else self._present.get(key, False)
        elif op == "put":
            request, expect = ClientPut(key, self.dataset.values[rank]), None
        else:
            request, expect = ClientDelete(key), None
        writing = op != "get"
        generation = self._generation[key]
        if writing:
            self._generation[key] += 1
            self._in_flight[key] += 1

        def replied(reply: Any, _: BaseException | None) -> None:
            if writing:
                self._in_flight[key] -= 1
            if not isinstance(reply, DataReply):
                stats.failed += 1
                stats.errors[reply.code if isinstance(reply, ErrorReply) else type(reply).__name__] += 1
                if writing:
                    self._present.pop(key, None)  # unknown outcome: stop checking this key
                return
            stats.ok += 1
            stats.latencies.append(sim.now - started)
            stats.hops[reply.hops] += 1
            if reply.owner.id != sim.owner_of(kid):
                stats.wrong_owner += 1
            if op == "put":
                self._present[key] = True
            elif op == "delete":
                self._present[key] = False
            if op != "put":
                stats.found += reply.found
                stats.not_found += not reply.found
            if op == "get" and expect is not None and self._generation[key] == generation:
                if expect and not reply.found:
                    self.missing += 1
                elif not expect and reply.found and key in self._present:
                    self.resurrected += 1

        sim.request(node, request, replied)

    # -------------------------------------------------------------------------------- results

    @property
    def issued(self) -> int:
        return sum(s.issued for s in self.stats.values())

    def summary(self) -> dict[str, Any]:
        """JSON-able outcome counts per kind (see :func:`chordial.sim.metrics.summarize`)."""
        from chordial.sim.metrics import distribution

        ops: dict[str, Any] = {}
        for op, s in self.stats.items():
            if not s.issued:
                continue
            entry: dict[str, Any] = {
                "issued": s.issued,
                "ok": s.ok,
                "failed": s.failed,
                "pending": s.pending,
                "wrong_owner": s.wrong_owner,
                "latency_ms": distribution([x * 1000 for x in s.latencies], (0.5, 0.99)),
                "mean_hops": _mean_of(s.hops),
            }
            if op in ("get", "delete"):
                entry["found"] = s.found
                entry["not_found"] = s.not_found
            if s.errors:
                entry["errors"] = dict(sorted(s.errors.items()))
            ops[op] = entry
        hottest = self.key_counts.most_common(1)
        return {
            "rate": self.rate,
            "mix": {op: w for op, w in self.mix.items() if w},
            "popularity": self.popularity if self.zipf is None else f"zipf(s={self.zipf.s})",
            "dataset": {"source": self.dataset.source, "keys": len(self.dataset), "preloaded": self.preloaded},
            "issued": self.issued,
            "ops": ops,
            "get_missing": self.missing,
            "get_resurrected": self.resurrected,
            "distinct_keys": len(self.key_counts),
            "hottest_key_share": hottest[0][1] / max(1, sum(self.key_counts.values())) if hottest else 0.0,
        }


def _mean_of(hist: Counter[int]) -> float | None:
    count = sum(hist.values())
    return sum(h * c for h, c in hist.items()) / count if count else None
