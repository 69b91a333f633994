"""Zave's invariants hold at every moment of random churn on the simulator, and the ring
becomes Ideal once churn stops (Zave 2015 §5–§6), with real, overlapping latencies.

Failures respect Zave's assumptions (``chordial.sim.models.may_fail``): a node is crashed or made
to leave only if (a) every other member keeps a live entry in its successor list (checked through
node.successors against sim.members) and (b) it is not a principal while there are at most r + 1
principals; never below r + 1 members. Invariants are checked every 0.1–0.25 virtual seconds.

* Explicit schedules: Hypothesis draws (gap, action, target) lists, replayed by ScriptedChurn;
  a failure prints the seed and the schedule (see :func:`replay_schedule`).
* Poisson churn: Hypothesis draws the parameters of a ``chordial sim run`` and the test builds
  the run exactly as the CLI does; a failure prints the command that replays it.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chordial.core.config import ChordConfig
from chordial.core.invariants import is_ideal
from chordial.sim import LatencyModel, Simulation
from chordial.sim.cli import RunSpec, build_run
from chordial.sim.models import ScriptedChurn

R = 3
CONFIG = ChordConfig(
    id_bits=16,
    successors=R,
    stabilize_period=0.5,
    fix_fingers_period=0.5,
    check_predecessor_period=0.5,
    rpc_timeout=0.4,
)
LATENCY = LatencyModel("uniform", low=0.005, high=0.15)  # overlaps the 0.5 s periods: real concurrency
QUIET = 60.0
MAX_NODES = 30

Step = tuple[int, str, int]  # (gap in tenths of a second, action, target / node id)


def schedules(actions: list[str]) -> st.SearchStrategy[list[Step]]:
    return st.lists(
        st.tuples(st.integers(0, 30), st.sampled_from(actions), st.integers(0, 2**16)), min_size=1, max_size=25
    )


def replay_schedule(seed: int, initial: int, schedule: list[Step]) -> tuple[Simulation, ScriptedChurn]:
    """Build and run one explicit schedule; returns the simulation after the quiet period."""
    sim = Simulation(CONFIG, seed=seed, latency=LATENCY, record_events=False)
    sim.build_ideal(initial)
    entries: list[tuple[float, str, int | None]] = []
    when = 0.0
    joins = 0
    for gap, action, target in schedule:
        when += gap / 10
        if action == "join":
            if initial + joins >= MAX_NODES:
                continue
            joins += 1
            entries.append((when, "join", target))  # target: the new node's id
        else:
            entries.append((when, action, target))  # target: a ring position
    churn = ScriptedChurn(sim, entries, respect_zave=True)
    sim.check_every(0.1)
    sim.run(when + 5.0)  # churn, then at least ten stabilize rounds under continuous checks
    deadline = sim.now + QUIET
    while sim.now < deadline and not (is_ideal(sim.live(), R) and not _joining(sim)):
        sim.run_for(1.0)
    return sim, churn


def _joining(sim: Simulation) -> bool:
    return any(n.status == "joining" for n in sim.nodes.values())


def _first_violation(sim: Simulation) -> str:
    when, found = sim.violations[0]
    return f"at t={when:.2f}: {found[0]}"


def check_schedule(seed: int, initial: int, schedule: list[Step]) -> None:
    sim, churn = replay_schedule(seed, initial, schedule)
    replay = f"replay: replay_schedule(seed={seed}, initial={initial}, schedule={schedule!r})"
    assert sim.invariant_checks > 0
    assert not sim.violations, f"{len(sim.violations)} checks failed, first {_first_violation(sim)}; {replay}"
    assert len(sim.members) > R, replay
    assert is_ideal(sim.live(), R), f"not Ideal {QUIET:g} s after the churn ({dict(churn.counts)}); {replay}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    initial=st.integers(R + 1, 16),
    schedule=schedules(["join", "join", "crash", "crash", "crash"]),
)
def test_random_joins_and_crashes_keep_the_invariants_and_converge(
    seed: int, initial: int, schedule: list[Step]
) -> None:
    check_schedule(seed, initial, schedule)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    initial=st.integers(R + 1, 16),
    schedule=schedules(["join", "join", "leave", "leave", "crash"]),
)
def test_random_joins_leaves_and_crashes_keep_the_invariants_and_converge(
    seed: int, initial: int, schedule: list[Step]
) -> None:
    check_schedule(seed, initial, schedule)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    nodes=st.integers(R + 1, 24),
    join_rate=st.sampled_from([0.0, 0.2, 0.5]),
    leave_rate=st.sampled_from([0.0, 0.2]),
    crash_rate=st.sampled_from([0.1, 0.3, 0.6]),
    latency=st.sampled_from(["constant", "uniform", "wan"]),
)
def test_poisson_churn_keeps_the_invariants_and_converges(
    seed: int, nodes: int, join_rate: float, leave_rate: float, crash_rate: float, latency: str
) -> None:
    churn_until = 20.0
    spec = RunSpec(
        nodes=nodes,
        seed=seed,
        duration=churn_until + QUIET,
        id_bits=CONFIG.id_bits,
        successors=R,
        stabilize=CONFIG.stabilize_period,
        fix_fingers=CONFIG.fix_fingers_period,
        check_predecessor=CONFIG.check_predecessor_period,
        rpc_timeout=CONFIG.rpc_timeout,
        latency=latency,
        latency_ms=40.0,
        churn="poisson",
        join_rate=join_rate,
        leave_rate=leave_rate,
        crash_rate=crash_rate,
        min_nodes=R + 1,
        safe_failures=True,
        churn_until=churn_until,
        workload_rate=2.0,
        check_invariants=0.25,
    )
    run = build_run(spec)
    run.run(steps=1)
    sim = run.sim
    replay = f"seed {seed}; replay with: {spec.command()}"
    assert sim.invariant_checks > 0
    assert not sim.violations, f"{len(sim.violations)} checks failed, first {_first_violation(sim)}; {replay}"
    assert is_ideal(sim.live(), R), f"not Ideal {QUIET:g} s after the churn; {replay}"
    assert sim.lookups.wrong_owner == 0 or sim.lookups.ok > 0, replay


def test_no_failure_lands_inside_a_join() -> None:
    """Found by Hypothesis: three consecutive nodes crashed between a joiner's check of its new
    successor list and its adoption, leaving it (a member from then on) with no live successor.
    Zave's join is atomic, so the failure model waits for joins in flight."""
    schedule: list[Step] = [
        (0, "join", 1), (1, "join", 3), (0, "join", 0), (0, "join", 0), (12, "crash", 0),
        (1, "join", 0), (9, "crash", 1), (0, "crash", 1), (0, "crash", 1),
    ]  # fmt: skip
    check_schedule(1, 8, schedule)
