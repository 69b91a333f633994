"""Zave's scenarios that break the original Chord, run against our corrected core.

Reference: Zave, "How to make Chord correct" (2015), §4 and the counterexamples of
"Using lightweight modeling to understand Chord" (2012). r = 2, ids n0 < n1 < n2 < n3.
After each schedule the invariants must hold and a quiet period must reach the Ideal state.
"""

from __future__ import annotations

import pytest

from chordial.core import ChordError
from chordial.core.invariants import MemberView, assert_ring, check_ring, is_ideal, principals
from tests.core.harness import SyncNet

N0, N1, N2, N3 = 10, 70, 130, 200


def two_node_ring(net: SyncNet) -> None:
    n0 = net.create(N0)
    n2 = net.join(N2, via=n0)
    net.rounds(3)
    assert [s.id for s in n0.successors] == [N2]
    assert [s.id for s in n2.successors] == [N0]


def test_two_rings_schedule_keeps_one_ring() -> None:
    """Original reconcile lets small rings list themselves and split into two self-loops."""
    net = SyncNet()
    two_node_ring(net)
    n0, n2 = net.nodes["n10"], net.nodes["n130"]
    n1 = net.join(N1, via=n0)
    net.stabilize(n1, n0)
    n3 = net.join(N3, via=n2)
    net.stabilize(n3, n2)
    assert_ring(net.live())
    net.fail(n1, n3)
    net.rounds(4)
    assert_ring(net.live())
    assert is_ideal(net.live(), r=2)


def test_no_ring_schedule_never_adopts_a_dead_successor() -> None:
    """Original stabilize adopts the successor's predecessor without asking it."""
    net = SyncNet()
    two_node_ring(net)
    n0, n2 = net.nodes["n10"], net.nodes["n130"]
    n1 = net.join(N1, via=n0)
    net.stabilize(n1)
    assert n2.predecessor is not None and n2.predecessor.id == N1
    net.fail(n1)
    net.stabilize(n0)
    assert n0.successor.id == N2
    assert_ring(net.live())
    net.rounds(3)
    assert is_ideal(net.live(), r=2)


def test_disconnected_appendage_schedule() -> None:
    """Original join adopts a dead successor and cuts the joiner off."""
    net = SyncNet()
    two_node_ring(net)
    n0, n2 = net.nodes["n10"], net.nodes["n130"]
    net.fail(n2)
    # n0 still lists only the dead n2: a correct join waits rather than take it unchecked.
    with pytest.raises(ChordError):
        net.join(N1, via=n0)
    assert [n.id for n in net.live()] == [N0]  # the failed joiner is not a member
    net.stabilize(n0)
    n1 = net.join(N1 + 1, via=n0)
    net.rounds(4)
    assert_ring(net.live())
    assert is_ideal(net.live(), r=2)
    assert n0.successor.id == N1 + 1 and n1.successor.id == N0


def test_checker_catches_two_self_loops() -> None:
    """The state the original protocol reaches in the two-rings schedule must be flagged."""
    split = [MemberView(N0, (), None), MemberView(N2, (), None)]
    names = {v.invariant for v in check_ring(split)}
    assert "AtMostOneRing" in names


def test_checker_catches_a_dead_only_successor_list_and_a_bad_order() -> None:
    dead_list = [MemberView(N0, (N2,), None), MemberView(N1, (N3,), None)]
    assert "OneLiveSuccessor" in {v.invariant for v in check_ring(dead_list)}
    unordered = [MemberView(N0, (N2, N1), N2), MemberView(N1, (N2, N0), N0), MemberView(N2, (N0, N1), N1)]
    names = {v.invariant for v in check_ring(unordered)}
    assert "OrderedSuccessorLists" in names
    skipping = [MemberView(N0, (N2,), N2), MemberView(N1, (N2,), N0), MemberView(N2, (N0,), N0)]
    assert {v.invariant for v in check_ring(skipping)} == set()
    skipping_ring = [MemberView(N0, (N2,), N1), MemberView(N1, (N0,), N2), MemberView(N2, (N1,), N0)]
    assert "OrderedRing" in {v.invariant for v in check_ring(skipping_ring)}


def test_principals_are_the_members_nobody_skips() -> None:
    # n1 joined between n0 and n2 but n0 still lists n2 first: n0's list skips n1.
    views = {
        N0: MemberView(N0, (N2, N3), N3),
        N1: MemberView(N1, (N2, N3), N0),
        N2: MemberView(N2, (N3, N0), N0),
        N3: MemberView(N3, (N0, N2), N2),
    }
    assert principals(views) == [N0, N2, N3]
    assert "SufficientPrincipals" in {v.invariant for v in check_ring(views.values(), r=3)}
    assert check_ring(views.values(), r=2) == []
