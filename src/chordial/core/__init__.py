"""The Chord protocol as a pure state machine: no networking code, no clocks, no global random.

Drivers (``chordial.runtime`` over asyncio, ``chordial.sim`` on virtual time) feed it requests
and timer ticks with the current time, and perform the remote calls its procedures yield.
"""

from chordial.core.config import ChordConfig
from chordial.core.effects import Call, ChordError, PeerFailed, Procedure, RemoteError, Sleep
from chordial.core.ids import between, between_right_incl, key_id, node_id_for
from chordial.core.messages import Entry, NodeRef
from chordial.core.node import ChordNode, LookupResult

__all__ = [
    "Call",
    "ChordConfig",
    "ChordError",
    "ChordNode",
    "Entry",
    "LookupResult",
    "NodeRef",
    "PeerFailed",
    "Procedure",
    "RemoteError",
    "Sleep",
    "between",
    "between_right_incl",
    "key_id",
    "node_id_for",
]
