"""The linearizability checker: classic histories, unknown outcomes, speed, and two properties —
histories of a real sequential register always pass, and verdicts agree with brute force."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chordial.sim.linearizability import Operation, OpKind, check_key, check_linearizable

WEIGHTED_KINDS: list[OpKind] = ["put", "put", "get", "get", "delete"]


def put(
    client: int, value: bytes, invoked: float, returned: float | None, ok: bool = True, key: str = "k"
) -> Operation:
    return Operation(client, key, "put", value, invoked, returned, ok)


def get(client: int, result: bytes | None, invoked: float, returned: float | None, key: str = "k") -> Operation:
    return Operation(client, key, "get", None, invoked, returned, True, result)


def delete(client: int, invoked: float, returned: float | None, ok: bool = True, key: str = "k") -> Operation:
    return Operation(client, key, "delete", None, invoked, returned, ok)


# ------------------------------------------------------------------------------------------ classics


def test_sequential_history_is_linearizable() -> None:
    history = [
        get(1, None, 0, 1),
        put(1, b"a", 2, 3),
        get(2, b"a", 4, 5),
        put(2, b"b", 6, 7),
        get(1, b"b", 8, 9),
    ]
    result = check_linearizable(history)
    assert result.ok and result
    assert result.keys_checked == 1 and result.operations_checked == 5
    assert "linearizable" in str(result)


def test_stale_read_after_an_acknowledged_write_is_caught() -> None:
    history = [
        put(1, b"a", 0, 1),
        put(1, b"b", 2, 3),  # acknowledged at 3
        get(2, b"a", 4, 5),  # invoked after that, still sees a
    ]
    result = check_linearizable(history)
    assert not result.ok and not result
    assert result.key == "k" and result.failed_keys == ("k",)
    text = str(result)
    assert "not linearizable" in text
    assert "get('k') [4.0000 → 5.0000] -> b'a'" in text
    assert "put('k', b'b')" in text, "the explanation shows the write the read missed"
    assert history[2] in result.operations


def test_concurrent_write_and_read_may_go_either_way() -> None:
    for seen in (None, b"a"):
        history = [put(1, b"a", 0, 10), get(2, seen, 1, 2)]
        assert check_linearizable(history).ok, seen
    # ...but once the read saw the new value, a later read may not see the old one
    history = [put(1, b"a", 0, 10), get(2, b"a", 1, 2), get(3, None, 3, 4)]
    assert not check_linearizable(history).ok


def test_two_readers_seeing_concurrent_writes_in_opposite_orders_are_caught() -> None:
    history = [
        put(1, b"a", 0, 10),
        put(2, b"b", 0, 10),
        get(3, b"a", 1, 2),
        get(3, b"b", 3, 4),
        get(4, b"b", 1, 2),
        get(4, b"a", 3, 4),
    ]
    result = check_linearizable(history)
    assert not result.ok and "overlap" in result.explanation  # a and b both held during (2, 3)
    assert check_linearizable(history[:4]).ok  # one reader alone is fine
    # the same with a delete in place of b: "empty" has many writers, so only the search can tell
    history = [
        put(1, b"a", 0, 10),
        delete(2, 0, 10),
        get(3, b"a", 1, 2),
        get(3, None, 3, 4),
        get(4, None, 1, 2),
        get(4, b"a", 3, 4),
    ]
    result = check_linearizable(history, {"k": b"z"})
    assert not result.ok and result.states_explored > 0
    assert "cannot take effect" in result.explanation and "The longest valid order ends with" in result.explanation
    assert check_linearizable(history[:4], {"k": b"z"}).ok


def test_read_of_a_value_never_written_is_caught() -> None:
    history = [put(1, b"a", 0, 1), get(2, b"zzz", 2, 3)]
    result = check_linearizable(history)
    assert not result.ok
    assert "which no put of this key wrote" in result.explanation
    assert result.operations[0] == history[1]


def test_unknown_outcome_writes_may_take_effect_any_time_later() -> None:
    history = [
        put(1, b"a", 0, 1),
        put(2, b"x", 2, None),  # never answered
        get(3, b"a", 3, 4),  # not yet
        put(4, b"y", 5, 6, ok=False),  # failed: unknown too
        get(3, b"y", 7, 8),
        get(3, b"x", 50, 51),  # x lands long after its client gave up
        get(3, b"x", 52, 53),
    ]
    assert check_linearizable(history).ok


def test_unknown_outcome_write_that_never_happened_is_fine_but_cannot_happen_twice() -> None:
    assert check_linearizable([put(1, b"a", 0, 1), put(2, b"x", 2, None), get(3, b"a", 3, 4)]).ok
    history = [put(1, b"a", 0, 1), put(2, b"x", 2, None), get(3, b"x", 3, 4), get(3, b"a", 5, 6)]
    assert not check_linearizable(history).ok  # a was overwritten for good by x


def test_unknown_outcome_write_cannot_take_effect_before_it_was_invoked() -> None:
    history = [put(1, b"a", 0, 1), get(2, b"x", 2, 3), put(3, b"x", 4, None)]
    assert not check_linearizable(history).ok


def test_delete_then_get_finds_nothing() -> None:
    ok = [put(1, b"a", 0, 1), delete(1, 2, 3), get(2, None, 4, 5)]
    assert check_linearizable(ok).ok
    resurrected = [put(1, b"a", 0, 1), delete(1, 2, 3), get(2, b"a", 4, 5)]
    result = check_linearizable(resurrected)
    assert not result.ok and "certainly overwritten" in result.explanation
    assert result.operations == (resurrected[2], resurrected[0], resurrected[1])
    # an unknown-outcome delete may or may not have happened
    assert check_linearizable([put(1, b"a", 0, 1), delete(1, 2, None), get(2, b"a", 4, 5)]).ok
    assert check_linearizable([put(1, b"a", 0, 1), delete(1, 2, None), get(2, None, 4, 5)]).ok


def test_failed_or_unanswered_gets_are_ignored() -> None:
    history = [
        put(1, b"a", 0, 1),
        Operation(2, "k", "get", None, 2, 3, ok=False, result=b"garbage"),
        Operation(2, "k", "get", None, 4, None, result=b"garbage"),
    ]
    result = check_linearizable(history)
    assert result.ok and result.operations_checked == 1


def test_a_clients_own_operations_are_ordered_even_at_equal_times() -> None:
    # The simulator's clock does not move between one answer and the same client's next request.
    same_client = [put(1, b"a", 0, 1), put(1, b"b", 2, 3), get(1, b"a", 3, 4)]
    assert not check_linearizable(same_client).ok
    # Another client invoked at the very instant of the acknowledgement is concurrent with it.
    other_client = [put(1, b"a", 0, 1), put(1, b"b", 2, 3), get(2, b"a", 3, 4)]
    assert check_linearizable(other_client).ok


def test_initial_values_and_independent_keys() -> None:
    history = [get(1, b"seed", 0, 1, key="x"), get(1, None, 0, 1, key="y"), put(2, b"v", 2, 3, key="y")]
    assert check_linearizable(history, {"x": b"seed"}).ok
    assert not check_linearizable(history).ok  # x would start empty
    bad = [*history, get(3, b"old", 5, 6, key="z"), put(3, b"old", 0, 1, key="z"), put(3, b"new", 2, 3, key="z")]
    result = check_linearizable(bad, {"x": b"seed"})
    assert not result.ok and result.key == "z" and result.failed_keys == ("z",)
    assert result.keys_checked == 3


def test_check_key_refuses_other_keys_and_operations_are_validated() -> None:
    with pytest.raises(ValueError, match="history of"):
        check_key("a", [put(1, b"v", 0, 1, key="b")])
    with pytest.raises(ValueError, match="before it was invoked"):
        put(1, b"v", 2, 1)
    with pytest.raises(ValueError, match="needs a value"):
        Operation(1, "k", "put", None, 0, 1)
    with pytest.raises(ValueError, match="kind"):
        Operation(1, "k", "cas", b"v", 0, 1)  # type: ignore[arg-type]
    assert "unknown outcome" in put(1, b"v", 0, None).describe()
    assert "failed" in delete(1, 0, 1, ok=False).describe()


# ------------------------------------------------------------------------------------------ speed


def _register_history(
    rng: random.Random, keys: int, ops: int, concurrency: float, unknown: float = 0.02
) -> tuple[list[Operation], dict[str, bytes | None]]:
    """A history of a real register per key: operations take effect at increasing instants, and
    each is invoked before and returns after its instant, overlapping up to ``concurrency`` others."""
    state: dict[str, bytes | None] = {}
    history: list[Operation] = []
    for i in range(ops):
        key = f"k{rng.randrange(keys)}"
        point = float(i)
        invoked = point - rng.uniform(0, concurrency)
        returned: float | None = point + rng.uniform(0, concurrency)
        kind = rng.choices(["put", "get", "delete"], [0.4, 0.5, 0.1])[0]
        client = i  # one operation per client: no program order to respect
        if kind == "put":
            value = f"v{i}".encode()
            state[key] = value
            ok = True
            if rng.random() < unknown:
                returned, ok = (None, True) if rng.random() < 0.5 else (returned, False)
            history.append(Operation(client, key, "put", value, invoked, returned, ok))
        elif kind == "delete":
            state[key] = None
            history.append(Operation(client, key, "delete", None, invoked, returned))
        else:
            history.append(Operation(client, key, "get", None, invoked, returned, True, state.get(key)))
    rng.shuffle(history)
    return history, state


@pytest.mark.parametrize(("keys", "concurrency"), [(20, 20 * 20), (1, 20), (1, 40)])
def test_thousands_of_operations_are_checked_well_under_a_second(keys: int, concurrency: float) -> None:
    """About ``concurrency / keys`` operations of a key overlap at any time (20 to 40 here)."""
    history, _ = _register_history(random.Random(5), keys=keys, ops=4000, concurrency=concurrency, unknown=0.03)
    started = time.perf_counter()
    result = check_linearizable(history)
    elapsed = time.perf_counter() - started
    assert result.ok, str(result)
    assert elapsed < 1.0, f"{elapsed:.2f} s for 4000 operations on {keys} key(s)"


def test_a_violation_in_a_large_history_is_found_quickly() -> None:
    history, final = _register_history(random.Random(6), keys=20, ops=4000, concurrency=100)
    index = next(i for i, op in enumerate(history) if op.kind == "get" and op.result not in (None, final[op.key]))
    victim = history[index]
    # the same read, long after its value was overwritten
    history[index] = Operation(victim.client, victim.key, "get", None, 10_000.0, 10_001.0, True, victim.result)
    started = time.perf_counter()
    result = check_linearizable(history)
    elapsed = time.perf_counter() - started
    assert not result.ok and result.key == victim.key
    assert elapsed < 2.0, f"{elapsed:.2f} s to find the violation"


def test_a_violation_only_the_search_finds_is_found_in_a_long_concurrent_history() -> None:
    rng = random.Random(43)
    history, _ = _register_history(rng, keys=1, ops=2000, concurrency=20, unknown=0.03)
    index = rng.choice([i for i, op in enumerate(history) if op.kind == "get"])
    read = history[index]
    nearby = [op for op in history if op.kind == "put" and abs(op.invoked - read.invoked) < 60]
    history[index] = Operation(
        read.client, read.key, "get", None, read.invoked, read.returned, True, rng.choice(nearby).value
    )  # a read of a value written near it, but out of order
    started = time.perf_counter()
    result = check_linearizable(history)
    elapsed = time.perf_counter() - started
    assert not result.ok and result.states_explored > 0  # no quick pattern gave it away
    assert elapsed < 10.0, f"{elapsed:.2f} s"


# ------------------------------------------------------------------------------------------ properties


@st.composite
def register_histories(draw: st.DrawFn) -> list[Operation]:
    """Histories of real sequential registers with random overlapping intervals, program order
    respected per client, and unknown outcomes (some of which took effect, some not)."""
    count = draw(st.integers(1, 40))
    keys = draw(st.integers(1, 3))
    state: dict[str, bytes | None] = {}
    history: list[Operation] = []
    busy_until: dict[int, float] = {}
    for i in range(count):
        key = f"k{draw(st.integers(0, keys - 1))}"
        kind: OpKind = draw(st.sampled_from(WEIGHTED_KINDS))
        point = float(i)
        invoked = point - draw(st.floats(0, 6, allow_nan=False))
        returned = point + draw(st.floats(0, 6, allow_nan=False))
        # a client free since before the invocation, or a new one
        free = [c for c, until in busy_until.items() if until <= invoked]
        reuse = bool(free) and draw(st.booleans())
        client = draw(st.sampled_from(free)) if reuse else len(busy_until)
        outcome = draw(st.sampled_from(["ok", "ok", "ok", "failed", "unanswered", "lost"]))
        if kind == "get":
            if outcome == "ok":
                history.append(Operation(client, key, "get", None, invoked, returned, True, state.get(key)))
            else:
                history.append(Operation(client, key, "get", None, invoked, None, True, b"whatever"))
        else:
            value = f"v{i}".encode() if kind == "put" else None
            if outcome != "lost":  # "lost": the write never took effect (its answer was an error)
                state[key] = value
            ok = outcome in ("ok", "unanswered")
            answered: float | None = None if outcome == "unanswered" else returned
            history.append(Operation(client, key, kind, value, invoked, answered, ok))
        busy_until[client] = returned if outcome == "ok" else invoked  # a client gives up at once on errors
    return history


@settings(max_examples=300, deadline=None)
@given(register_histories())
def test_histories_of_a_real_register_are_linearizable(history: list[Operation]) -> None:
    result = check_linearizable(history)
    assert result.ok, str(result)


def _brute_force(ops: Sequence[Operation]) -> bool:
    """Every order of every admissible subset: the definition, for tiny histories of one key."""
    inf = float("inf")
    kept = [op for op in ops if op.kind != "get" or op.completed]
    required = [op for op in kept if op.completed]
    optional = [op for op in kept if not op.completed]

    def end(op: Operation) -> float:
        return op.returned if op.completed and op.returned is not None else inf

    def before(a: Operation, b: Operation) -> bool:
        if end(a) < b.invoked:
            return True
        return a.client == b.client and a.completed and end(a) <= b.invoked

    for size in range(len(optional) + 1):
        for extra in itertools.combinations(optional, size):
            for order in itertools.permutations([*required, *extra]):
                if any(before(order[j], order[i]) for i in range(len(order)) for j in range(i + 1, len(order))):
                    continue
                state: bytes | None = None
                good = True
                for op in order:
                    if op.kind == "put":
                        state = op.value
                    elif op.kind == "delete":
                        state = None
                    elif op.result != state:
                        good = False
                        break
                if good:
                    return True
    return False


@st.composite
def arbitrary_histories(draw: st.DrawFn) -> list[Operation]:
    """Tiny one-key histories with random intervals and random read results."""
    count = draw(st.integers(1, 6))
    history = []
    for i in range(count):
        kind = draw(st.sampled_from(["put", "get", "delete"]))
        invoked = float(draw(st.integers(0, 8)))
        returned = invoked + draw(st.integers(0, 4)) if draw(st.integers(0, 4)) else None
        ok = draw(st.integers(0, 5)) > 0
        client = draw(st.integers(0, 2))
        if kind == "put":
            history.append(Operation(client, "k", "put", draw(st.sampled_from([b"a", b"b"])), invoked, returned, ok))
        elif kind == "delete":
            history.append(Operation(client, "k", "delete", None, invoked, returned, ok))
        else:
            result = draw(st.sampled_from([None, b"a", b"b"]))
            history.append(Operation(client, "k", "get", None, invoked, returned, ok, result))
        del i
    # program order: a client's operations may not overlap (it waits for each answer)
    by_client: dict[int | str, float] = {}
    ordered = []
    for op in sorted(history, key=lambda o: o.invoked):
        if by_client.get(op.client, -1.0) >= op.invoked:
            continue
        by_client[op.client] = op.returned if op.completed and op.returned is not None else op.invoked
        ordered.append(op)
    return ordered


@settings(max_examples=400, deadline=None)
@given(arbitrary_histories())
def test_verdicts_agree_with_brute_force(history: list[Operation]) -> None:
    assert check_linearizable(history).ok == _brute_force(history), "\n".join(op.describe() for op in history)
