"""Joins and key handoffs in schedules that the random simulator rarely produces, step by step."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from chordial.core import ChordError
from chordial.core.config import ChordConfig
from chordial.core.events import KeysTransferred
from chordial.core.ids import key_id
from chordial.core.messages import Entry, NodeRef, Request, Response, TransferKeys
from chordial.core.node import ChordNode
from chordial.core.replication import SYNC_CHUNK
from tests.core.harness import SyncNet

CONFIG = ChordConfig(id_bits=8, successors=2, replicas=2)


def key_in(lo: int, hi: int) -> tuple[str, int]:
    """A key whose id lies in (lo, hi]."""
    for i in range(10_000):
        kid = key_id(f"key-{i}", CONFIG.id_bits)
        if lo < kid <= hi:
            return f"key-{i}", kid
    raise AssertionError("no key in range")


def test_a_restarted_node_that_is_still_its_successors_predecessor_gets_its_keys() -> None:
    """Chord §4.4 handoff when the successor still names the old incarnation of the same id:
    the notify says the node waits for its keys, so they are handed over again. Without that
    the successor answers as for a known predecessor, the node takes the reply for its handoff,
    and serves its range from an empty store."""
    net = SyncNet(CONFIG)
    a = net.create(10)
    b = net.join(100, via=a)
    net.rounds(3)
    assert a.predecessor is not None and a.predecessor.id == 100
    key, kid = key_in(10, 100)
    for node in (b, a):  # b owns it, a holds the replica
        node.store.apply(Entry(key, kid, b"kept", 1))
    net.fail(b)
    net.dead.discard(b.ref.address)
    again = net.add(100)  # the same address and id, fresh state; a still names the old one
    again.status = "active"  # as a join through a (which still lists 100) would leave it
    again.predecessor, again.successors, again.awaiting_handoff = a.ref, [a.ref], True
    net.run(again, again.stabilize())
    assert not again.awaiting_handoff
    held = again.store.get(kid, key)
    assert held is not None and held.value == b"kept"
    assert again.owns(kid)


@pytest.mark.parametrize("other", [{"replicas": 1}, {"consistency": "eventual"}])
def test_a_node_with_other_replication_settings_is_refused_at_join(other: dict[str, object]) -> None:
    net = SyncNet(CONFIG)
    a = net.create(10)
    stranger = ChordNode("n99", replace(CONFIG, **other), rng=random.Random(1), node_id=99)  # type: ignore[arg-type]
    net.nodes[stranger.ref.address] = stranger
    with pytest.raises(ChordError, match="wrong ring: n10 keeps 2 copies"):
        net.run(stranger, stranger.join(a.ref.address))
    assert stranger.status == "new" and a.successors == []


class CountingNet(SyncNet):
    """Counts the TransferKeys messages and the entries they carry."""

    def __init__(self, config: ChordConfig) -> None:
        super().__init__(config)
        self.transfers: list[int] = []

    def deliver(self, target: NodeRef, request: Request) -> Response:
        if isinstance(request, TransferKeys):
            self.transfers.append(len(request.entries))
        return super().deliver(target, request)


@pytest.mark.parametrize("replicas", [1, 2])
def test_a_large_handoff_moves_in_chunks_and_completes_at_the_last(replicas: int) -> None:
    net = CountingNet(replace(CONFIG, id_bits=16, replicas=replicas))
    a = net.create(100)
    b = net.join(40_000, via=a)
    net.rounds(3)
    keys = [f"key-{i}" for i in range(2_000)]
    for key in keys:
        kid = key_id(key, 16)
        owner = b if 100 < kid <= 40_000 else a
        owner.store.apply(Entry(key, kid, b"v", 1))
    mine = [k for k in keys if 100 < key_id(k, 16) <= 20_000]
    net.transfers.clear()
    c = net.join(20_000, via=a)
    net.rounds(3)
    assert not c.awaiting_handoff
    assert all(c.store.get(key_id(k, 16), k) is not None for k in mine)
    assert len(net.transfers) >= 2 and max(net.transfers) <= SYNC_CHUNK  # chunks, not one call per key
    assert sum(net.transfers) < 2 * len(keys)
    done = [e for e in net.events if isinstance(e, KeysTransferred) and not e.outgoing and e.node.id == c.id]
    assert [e.count for e in done][-1] >= len(mine)  # one event for the whole transfer
