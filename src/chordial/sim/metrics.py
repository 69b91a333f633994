"""Figures of a simulation run: lookups, messages, load, ring correctness, checks, speed.

:func:`summarize` gathers them in one JSON-able dict (what ``chordial sim run --json`` prints).
Everything in it is a function of the seed except the ``simulator`` section's wall-clock
figures (``wall_seconds``, ``events_per_second``, ``virtual_per_wall``).
:func:`convergence_time` runs a simulation until its successors and predecessors are all right.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from chordial.core.invariants import is_ideal
from chordial.sim.models import JOIN_GRACE
from chordial.sim.world import Simulation

if TYPE_CHECKING:
    from chordial.sim.models import Workload

__all__ = ["convergence_time", "distribution", "percentile", "ring_right", "summarize"]


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an already sorted sequence (``None`` when empty)."""
    if not ordered:
        return None
    rank = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return float(ordered[rank])


def distribution(values: Iterable[float], quantiles: Sequence[float] = (0.01, 0.5, 0.99)) -> dict[str, Any]:
    """``count``, ``mean``, ``min``, ``max`` and ``p<q>`` for each quantile (``None`` when empty)."""
    ordered = sorted(values)
    out: dict[str, Any] = {"count": len(ordered)}
    out["mean"] = sum(ordered) / len(ordered) if ordered else None
    out["min"] = float(ordered[0]) if ordered else None
    out["max"] = float(ordered[-1]) if ordered else None
    for q in quantiles:
        out[f"p{q * 100:g}"] = percentile(ordered, q)
    return out


def _round(value: Any, digits: int = 6) -> Any:
    """Floats rounded for stable, readable JSON (recursively)."""
    if isinstance(value, float):
        return round(value, digits) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _round(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v, digits) for v in value]
    return value


def summarize(
    sim: Simulation,
    workload: Workload | None = None,
    wall_seconds: float | None = None,
    *,
    churn: Any = None,
) -> dict[str, Any]:
    """Every figure of the run so far, as a JSON-able dict.

    * ``lookups``: workload lookups (``sim.lookups``): ok / failed / wrong owner / timeouts, hop
      histogram, mean / p1 / p50 / p99 hops, latency in virtual ms (mean / p50 / p99);
    * ``messages``: requests sent, per type, and per live node per virtual second;
    * ``keys_per_node``: mean / min / max / p1 / p99 over live members;
    * ``ring``: fractions of right successors, predecessors and fingers, and whether the ring is
      Ideal (Zave);
    * ``invariants``: checks made, checks that found violations, counts per invariant, the first;
    * ``simulator``: scheduler events, their rate and the virtual/wall time ratio;
    * ``workload`` / ``churn``: their own counters when given (``churn`` needs ``.counts``).
    """
    elapsed = sim.now
    live = sim.live()
    members = len(live)
    stats = sim.lookups
    hop_count = sum(stats.hops.values())
    latency = distribution((x * 1000 for x in stats.latencies), (0.5, 0.99))
    lookups = {
        "total": stats.total,
        "ok": stats.ok,
        "failed": stats.failed,
        "wrong_owner": stats.wrong_owner,
        "timeouts": stats.timeouts,
        "success_rate": stats.ok / stats.total if stats.total else None,
        "hops": {
            "histogram": {str(h): stats.hops[h] for h in sorted(stats.hops)},
            "mean": stats.mean_hops() if hop_count else None,
            "p1": stats.hop_percentile(0.01) if hop_count else None,
            "p50": stats.hop_percentile(0.5) if hop_count else None,
            "p99": stats.hop_percentile(0.99) if hop_count else None,
        },
        "latency_ms": {"mean": latency["mean"], "p50": latency["p50"], "p99": latency["p99"]},
    }
    sent = sim.network.sent_by_name()
    total_sent = sum(sent.values())
    node_seconds = members * elapsed
    messages = {
        "total": total_sent,
        "dropped": sim.network.dropped,
        "per_node_per_second": total_sent / node_seconds if node_seconds else None,
        "by_type": dict(sent),
        "by_type_per_node_per_second": {k: v / node_seconds for k, v in sent.items()} if node_seconds else {},
    }
    keys = distribution((float(k) for k in sim.keys_per_node()), (0.01, 0.99))
    keys["total"] = int(sum(sim.keys_per_node()))
    ring: dict[str, Any] = dict(sim.correctness()) if live else {}
    ring["ideal"] = is_ideal(live, sim.config.successors) if live else False
    by_invariant: Counter[str] = Counter()
    for _, found in sim.violations:
        by_invariant.update(v.invariant for v in found)
    first = sim.violations[0] if sim.violations else None
    invariants = {
        "checks": sim.invariant_checks,
        "checks_with_violations": len(sim.violations),
        "by_invariant": dict(sorted(by_invariant.items())),
        "first": None if first is None else {"time": first[0], "violations": [str(v) for v in first[1]]},
    }
    events_run = sim.scheduler.events_run
    simulator: dict[str, Any] = {
        "scheduler_events": events_run,
        "recorded_events": len(sim.events),
        "wall_seconds": wall_seconds,
        "events_per_second": events_run / wall_seconds if wall_seconds else None,
        "virtual_per_wall": elapsed / wall_seconds if wall_seconds else None,
    }
    statuses = Counter(n.status for n in sim.nodes.values())
    out: dict[str, Any] = {
        "seed": sim.seed,
        "virtual_seconds": elapsed,
        "nodes": {
            "live": members,
            "started": len(sim.nodes),
            "stopped": statuses["stopped"],
            "joining": statuses["joining"],
        },
        "lookups": lookups,
        "messages": messages,
        "keys_per_node": keys,
        "ring": ring,
        "invariants": invariants,
        "simulator": simulator,
    }
    if sim.record_events:
        out["digest"] = sim.digest()
    if workload is not None:
        out["workload"] = workload.summary()
    if churn is not None:
        out["churn"] = dict(sorted(churn.counts.items()))
    rounded: dict[str, Any] = _round(out)
    return rounded


def ring_right(sim: Simulation, ignore: Collection[str] = ()) -> bool:
    """Every member's successor and predecessor are the true ones and no node is mid-join (the
    successor/predecessor part of :meth:`Simulation.correctness`, without the fingers). Nodes
    whose address is in ``ignore`` do not count as mid-join."""
    if any(n.status == "joining" and n.ref.address not in ignore for n in sim.nodes.values()):
        return False
    ids = list(sim.members)
    size = len(ids)
    if size <= 1:
        return True
    for i, node in enumerate(sim.live()):
        if node.successor.id != ids[(i + 1) % size]:
            return False
        if node.predecessor is None or node.predecessor.id != ids[i - 1]:
            return False
    return True


def convergence_time(sim: Simulation, until: float, poll: float = 1.0) -> float | None:
    """Run ``sim`` (polling every ``poll`` virtual seconds) until every successor and predecessor
    is right and no join is still under way, as after a burst of joins; returns the virtual
    seconds that took, or ``None`` when the ring is not right by virtual time ``until``.

    Call it once the joins have started (joins scheduled for later are not waited for). A node
    still ``joining`` :data:`~chordial.sim.models.JOIN_GRACE` seconds after it was first seen
    is taken for a failed join and no longer waited for.
    """
    if not poll > 0:
        raise ValueError(f"poll interval must be positive, got {poll}")
    start = sim.now
    sim.run(start)  # whatever is due now (joins scheduled for now start, and count as pending)
    first_seen: dict[str, float] = {}
    given_up: set[str] = set()
    while True:
        for node in sim.nodes.values():
            if node.status == "joining" and node.ref.address not in given_up:
                seen = first_seen.setdefault(node.ref.address, sim.now)
                if sim.now - seen >= JOIN_GRACE:
                    given_up.add(node.ref.address)
        if ring_right(sim, given_up):
            return sim.now - start
        if sim.now >= until:
            return None
        sim.run(min(until, sim.now + poll))
