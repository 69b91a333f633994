"""Random join / leave / crash / stabilize schedules keep Zave's invariants and converge.

Reference: Zave 2015 §5 (inductive invariant OneLiveSuccessor ∧ SufficientPrincipals; the
others follow) and §6 (progress: a churn-free period reaches Ideal). Failures respect her
assumptions (a) and (b) (see ``may_fail``).
Data is checked too (Chord §4.4): graceful leaves and joins move keys, and no key is lost.
"""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chordial.core import ChordConfig, ChordError, ChordNode, key_id
from chordial.core.invariants import MemberView, assert_ring, is_ideal, principals
from chordial.core.messages import ClientGet, ClientPut, DataReply
from tests.core.harness import SyncNet

R = 3
Action = tuple[str, int]
actions = st.lists(
    st.tuples(
        st.sampled_from(["join", "join", "crash", "leave", "stabilize", "stabilize", "fix"]), st.integers(0, 255)
    ),
    min_size=5,
    max_size=60,
)


def may_fail(net: SyncNet, victim: ChordNode) -> bool:
    """Zave's assumptions: (a) every other member keeps a live successor-list entry; (b) no
    principal fails while there are at most r + 1 principals."""
    alive = {n.ref.address for n in net.live()} - {victim.ref.address}
    if not all(any(s.address in alive for s in n.successors) for n in net.live() if n is not victim):
        return False
    found = principals({n.id: MemberView.of(n) for n in net.live()})
    return victim.id not in found or len(found) > R + 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions, st.integers(0, 2**32 - 1))
def test_random_schedules_keep_the_invariants_and_converge(schedule: list[Action], seed: int) -> None:
    net = SyncNet(ChordConfig(id_bits=8, successors=R), seed=seed)
    first = net.create(128)
    for node_id in (32, 64, 200):
        net.join(node_id, via=first)
        net.rounds(1)
    net.rounds(3)
    assert_ring(net.live())
    keys = [f"key-{i}" for i in range(40)]
    for k in keys:
        assert isinstance(net.deliver(first.ref, ClientPut(k, k.encode())), DataReply)
    lost: set[str] = set()
    for verb, arg in schedule:
        live = net.live()
        target = live[arg % len(live)]
        if verb == "join" and f"n{arg}" not in net.nodes:
            # A join routed through a node whose list holds only dead nodes waits (fails here).
            with contextlib.suppress(ChordError):
                net.join(arg, via=target)
        elif verb == "crash" and len(live) > R + 2 and may_fail(net, target):
            net.fail(target)
            # A key is lost only when no live node holds a copy any more (k consecutive failures).
            lost |= {k for k in keys if not any(n.store.get(key_id(k, 8), k) for n in net.live())}
        elif verb == "leave" and len(live) > R + 2 and may_fail(net, target):
            # Only the predecessor is told of a leave; for everybody else it looks like a failure.
            net.run(target, target.leave())
            net.dead.add(target.ref.address)
        elif verb == "stabilize":
            net.check_predecessor(target)
            net.stabilize(target)
        elif verb == "fix":
            net.fix_fingers(target)
        assert_ring(net.live(), r=R)
    net.rounds(len(net.live()) + 2, fingers=True)
    assert_ring(net.live())
    assert is_ideal(net.live(), r=R)
    entry = net.live()[0]
    for k in keys:
        reply = net.deliver(entry.ref, ClientGet(k))
        assert isinstance(reply, DataReply), reply
        if k not in lost:
            assert reply.found and reply.entry is not None and reply.entry.value == k.encode(), k
