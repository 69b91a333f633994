"""Churn and workload models: rates, floors, Zipf skew, datasets and their errors."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from pathlib import Path

import pytest

from chordial.core.config import ChordConfig
from chordial.sim import Simulation
from chordial.sim.metrics import convergence_time
from chordial.sim.models import (
    JOIN_GRACE,
    Dataset,
    DatasetError,
    LifetimeChurn,
    PoissonChurn,
    ScriptedChurn,
    Workload,
    ZipfSampler,
    keeps_live_successors,
)

CONFIG = ChordConfig(
    id_bits=32,
    successors=4,
    stabilize_period=5.0,
    fix_fingers_period=5.0,
    check_predecessor_period=5.0,
    rpc_timeout=0.5,
)


def ring(nodes: int, seed: int = 1) -> Simulation:
    sim = Simulation(CONFIG, seed=seed, record_events=False)
    sim.build_ideal(nodes)
    return sim


def within(count: int, expected: float, sigmas: float = 4.0) -> bool:
    """A Poisson count lies within ``sigmas`` standard deviations of its mean."""
    return abs(count - expected) <= sigmas * math.sqrt(expected)


# ------------------------------------------------------------------------------------------ churn


def test_poisson_churn_produces_about_the_rates() -> None:
    sim = ring(60)
    churn = PoissonChurn(sim, join_rate=0.4, leave_rate=0.2, crash_rate=0.1, min_nodes=10)
    sim.run(1000)
    c = churn.counts
    assert within(c["join"], 400), c
    assert within(c["leave"] + c["leave_skipped"], 200), c
    assert within(c["crash"] + c["crash_skipped"], 100), c
    assert c["leave_skipped"] == c["crash_skipped"] == 0  # far above the floor
    # Joins and departures balance out to about 60 + 400 - 300 members.
    assert abs(len(sim.members) - (60 + c["join"] - c["join_failed"] - c["leave"] - c["crash"])) <= 5


def test_poisson_churn_stops_at_its_stop_time() -> None:
    sim = ring(30)
    churn = PoissonChurn(sim, join_rate=1.0, stop=50.0)
    sim.run(200)
    assert within(churn.counts["join"], 50)
    churn_after = sum(churn.counts.values())
    sim.run(400)
    assert sum(churn.counts.values()) == churn_after


@pytest.mark.parametrize(("min_nodes", "floor"), [(12, 12), (0, CONFIG.successors + 1)])
def test_min_nodes_is_respected(min_nodes: int, floor: int) -> None:
    sim = ring(25)
    churn = PoissonChurn(sim, leave_rate=2.0, crash_rate=2.0, min_nodes=min_nodes)
    lowest = [len(sim.members)]

    def probe() -> None:
        lowest[0] = min(lowest[0], len(sim.members))
        sim.scheduler.after(0.05, probe)

    probe()
    sim.run(120)
    assert lowest[0] == floor == len(sim.members)
    assert churn.counts["leave_skipped"] + churn.counts["crash_skipped"] > 0


def test_respect_zave_never_leaves_a_member_without_a_live_successor() -> None:
    sim = ring(12)
    PoissonChurn(sim, crash_rate=1.0, join_rate=0.5, respect_zave=True)
    bad: list[float] = []

    def probe() -> None:
        live = set(sim.members)
        if any(n.successors and not any(s.id in live for s in n.successors) for n in sim.live()):
            bad.append(sim.now)
        sim.scheduler.after(0.1, probe)

    probe()
    sim.run(200)
    assert not bad


def test_keeps_live_successors() -> None:
    sim = Simulation(ChordConfig(id_bits=8, successors=2), seed=3, record_events=False)
    a, b, c, d = sim.build_ideal(4, ids=[10, 20, 30, 40])
    assert keeps_live_successors(sim, b)
    sim.crash(c)  # a lists (b, c) and b lists (c, d): b and d are now their only live successors
    assert not keeps_live_successors(sim, b)
    assert not keeps_live_successors(sim, d)
    assert keeps_live_successors(sim, a)  # d lists (a, b)


def test_lifetime_churn_keeps_the_ring_size_steady() -> None:
    sim = ring(30)
    churn = LifetimeChurn(sim, "exponential", mean_lifetime=100.0, leave_fraction=0.5)
    sim.run(500)
    ended = churn.counts["crash"] + churn.counts["leave"]
    assert within(ended, 30 * 500 / 100, 5)
    assert churn.counts["leave"] > 0 and churn.counts["crash"] > 0
    assert 26 <= len(sim.members) <= 30  # replacements may still be joining


@pytest.mark.parametrize("distribution", ["exponential", "pareto"])
def test_lifetime_distributions(distribution: str) -> None:
    sim = ring(5)
    churn = LifetimeChurn(sim, distribution, mean_lifetime=100.0, alpha=2.5)  # type: ignore[arg-type]
    draws = sorted(churn.draw() for _ in range(40000))
    median = draws[len(draws) // 2]
    if distribution == "exponential":
        assert abs(sum(draws) / len(draws) - 100.0) < 3.0
        assert abs(median - 100.0 * math.log(2)) < 3.0
    else:
        scale = 100.0 * 1.5 / 2.5
        assert draws[0] >= scale
        assert abs(median - scale * 2 ** (1 / 2.5)) < 2.0
        assert abs(sum(draws) / len(draws) - 100.0) < 5.0


def test_lifetime_churn_rejects_bad_parameters() -> None:
    sim = ring(5)
    with pytest.raises(ValueError, match="alpha"):
        LifetimeChurn(sim, "pareto", mean_lifetime=10.0, alpha=1.0)
    with pytest.raises(ValueError, match="distribution"):
        LifetimeChurn(sim, "weibull", mean_lifetime=10.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rate"):
        PoissonChurn(sim, join_rate=-1.0)


def test_scripted_churn_runs_every_action() -> None:
    sim = ring(8)
    victim = sim.live()[3].ref.address
    script = ScriptedChurn(
        sim,
        [
            (10.0, "join", None),
            (12.0, "join", "newcomer"),
            (20.0, "crash", victim),
            (30.0, "restart", victim),
            (40.0, "leave", 0),
            (50.0, "partition", [["sim-1", "sim-2"]]),
            (60.0, "heal", None),
            (70.0, "partition", 0.25),
            (80.0, "heal", None),
            (90.0, "crash", "no-such-node"),
        ],
    )
    sim.run(45)
    assert sim.nodes["newcomer"].id in sim.members
    assert sim.nodes[victim].status == "active"  # restarted and joined again
    assert len(sim.members) == 8 + 2 - 1
    sim.run(55)
    assert sim.network.partitioned and sim.network.cut_off("sim-1", "sim-3")
    sim.run(65)
    assert not sim.network.partitioned
    sim.run(100)
    assert dict(script.counts) == {
        "join": 2,
        "crash": 1,
        "restart": 1,
        "leave": 1,
        "partition": 2,
        "heal": 2,
        "crash_skipped": 1,
    }


def test_failed_joins_are_counted_and_retried() -> None:
    sim = ring(10)
    sim.network.isolate("sim-11")  # the next node: its Ping to the bootstrap is lost
    script = ScriptedChurn(sim, [(1.0, "join", None)], retry_joins=True)
    sim.run(1.0)
    took = convergence_time(sim, until=200.0)
    assert took is not None and took < JOIN_GRACE  # the failed join ends at once, no grace wait needed
    assert script.counts["join"] == 2 and script.counts["join_failed"] == 1
    assert len(sim.members) == 11 and sim.nodes["sim-12"].id in sim.members


def test_scripted_churn_rejects_unknown_actions() -> None:
    sim = ring(5)
    with pytest.raises(ValueError, match="unknown churn action"):
        ScriptedChurn(sim, [(1.0, "explode", None)])
    with pytest.raises(ValueError, match="time"):
        ScriptedChurn(sim, [(-1.0, "join", None)])


def test_models_draw_from_their_own_generator() -> None:
    """A model takes one draw from sim.rng when built and none afterwards, so adding a model
    does not change the choices of the simulation or of the other models."""
    sim = ring(20)
    expected = random.Random()
    expected.setstate(sim.rng.getstate())
    expected.getrandbits(64)
    churn = PoissonChurn(sim, crash_rate=0.2, leave_rate=0.1)
    assert sim.rng.getstate() == expected.getstate()
    expected.getrandbits(64)
    Workload(sim, 5.0, {"lookup": 1, "get": 1})
    assert sim.rng.getstate() == expected.getstate()
    sim.run(60)  # crashes, leaves and lookups happen; only a join would draw (the new node's generator)
    assert churn.counts["crash"] + churn.counts["leave"] > 0
    assert sim.rng.getstate() == expected.getstate()


# ------------------------------------------------------------------------------------------ Zipf and workload


def test_zipf_sampler_skews_as_expected() -> None:
    zipf = ZipfSampler(1000, 1.0)
    rng = random.Random(7)
    counts = Counter(zipf.sample(rng) for _ in range(50000))
    harmonic = sum(1 / k for k in range(1, 1001))
    assert abs(counts[0] / 50000 - 1 / harmonic) < 0.01
    assert 1.7 < counts[0] / counts[1] < 2.3  # P(1) / P(2) = 2^s
    top10 = sum(counts[k] for k in range(10)) / 50000
    assert abs(top10 - sum(1 / k for k in range(1, 11)) / harmonic) < 0.015
    assert abs(zipf.probability(0) - 1 / harmonic) < 1e-12
    uniform = ZipfSampler(100, 0.0)
    flat = Counter(uniform.sample(rng) for _ in range(20000))
    assert max(flat.values()) < 1.5 * 200 and min(flat.values()) > 0.5 * 200
    steep = ZipfSampler(100, 2.0)
    assert abs(steep.probability(0) - 1 / sum(1 / k**2 for k in range(1, 101))) < 1e-12


def test_workload_zipf_concentrates_on_the_top_keys() -> None:
    sim = ring(20)
    uniform = Workload(sim, 50.0, popularity="uniform", dataset=Dataset.generated(500))
    zipf = Workload(sim, 50.0, popularity="zipf", zipf_s=1.2, dataset=Dataset.generated(500))
    sim.run(40)
    assert zipf.key_counts.most_common(1)[0][0] == 0
    zipf_top = zipf.key_counts[0] / sum(zipf.key_counts.values())
    uniform_top = uniform.key_counts.most_common(1)[0][1] / sum(uniform.key_counts.values())
    assert zipf_top > 0.15 > 5 * uniform_top


def test_workload_counts_operations_and_results() -> None:
    sim = ring(20)
    data = Dataset.generated(200)
    load = Workload(sim, 20.0, {"lookup": 1, "get": 2, "put": 1, "delete": 0.5}, dataset=data, preload=True)
    assert sum(sim.keys_per_node()) == 200
    sim.run(100)
    load.stop()
    sim.run(120)
    stats = load.stats
    assert within(load.issued, 2000)
    for op, weight in (("lookup", 1), ("get", 2), ("put", 1), ("delete", 0.5)):
        s = stats[op]
        assert within(s.issued, 2000 * weight / 4.5, 5), (op, s.issued)
        assert s.ok == s.issued and s.failed == 0 and s.wrong_owner == 0
        assert len(s.latencies) == s.ok and min(s.latencies) >= 0
    assert stats["get"].found + stats["get"].not_found == stats["get"].ok
    assert stats["get"].found > stats["get"].not_found > 0  # deletes remove some keys
    assert load.missing == load.resurrected == 0  # a still ring loses nothing
    assert sim.lookups.ok == stats["lookup"].ok
    summary = load.summary()
    assert summary["ops"]["get"]["found"] == stats["get"].found
    json.dumps(summary)


def test_workload_rejects_bad_mixes() -> None:
    sim = ring(5)
    with pytest.raises(ValueError, match="unknown operation"):
        Workload(sim, 1.0, {"scan": 1})
    with pytest.raises(ValueError, match="positive weight"):
        Workload(sim, 1.0, {"get": 0})
    with pytest.raises(ValueError, match="popularity"):
        Workload(sim, 1.0, popularity="pareto")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ datasets


def test_generated_dataset() -> None:
    data = Dataset.generated(1500)
    assert len(data) == 1500
    assert data.keys[123] == "key-000123"
    assert data.values[123] == b"value of key-000123"
    assert Dataset.parse("generated:3").keys == ("key-000000", "key-000001", "key-000002")
    with pytest.raises(DatasetError, match="positive integer"):
        Dataset.parse("generated:lots")
    with pytest.raises(DatasetError, match="at least one"):
        Dataset.generated(0)


def test_dataset_from_text_lines(tmp_path: Path) -> None:
    path = tmp_path / "quotes.txt"
    path.write_text("to be or not to be\n\n  all the world's a stage  \nnaïve café\n", encoding="utf-8")
    data = Dataset.from_file(path)
    assert data.keys == ("1", "3", "4")
    assert data.values == (b"to be or not to be", b"all the world's a stage", "naïve café".encode())
    assert Dataset.parse(str(path)) == data


def test_dataset_from_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    lines = [
        {"key": "alpha", "value": "first"},
        {"key": 7, "value": {"nested": [1, 2]}},
        {"value": "no key: the line number"},
        {"key": "bare"},
        {"key": "alpha", "value": "again"},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n{not json\n", encoding="utf-8")
    data = Dataset.from_file(path)
    assert data.keys == ("alpha", "7", "3", "bare", "6")
    assert data.values[0] == b"again"  # the last value, the first rank
    assert data.values[1] == b'{"nested":[1,2]}'
    assert data.values[2] == b"no key: the line number"
    assert data.values[3] == b'{"key": "bare"}'
    assert data.values[4] == b"{not json"


def test_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        Dataset.from_file(tmp_path / "missing.txt")
    with pytest.raises(DatasetError, match="directory"):
        Dataset.from_file(tmp_path)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(DatasetError, match="empty"):
        Dataset.from_file(empty)
    binary = tmp_path / "binary.bin"
    binary.write_bytes(b"ok\n\xff\xfe\n")
    with pytest.raises(DatasetError, match="not UTF-8"):
        Dataset.from_file(binary)
    bad_key = tmp_path / "bad.jsonl"
    bad_key.write_text('{"key": "fine"}\n{"key": [1]}\n')
    with pytest.raises(DatasetError, match="line 2"):
        Dataset.from_file(bad_key)
    sim = ring(5)
    huge = Dataset(("k",), (b"x" * (CONFIG.max_value_bytes + 1),))
    with pytest.raises(DatasetError, match="longer than"):
        Workload(sim, 1.0, dataset=huge)
