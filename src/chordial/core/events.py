"""Typed events a core node emits as its state changes (the feed behind ``Watch``).

Every event carries the time the driver gave the core and the node it happened at. ``kind`` is
a stable snake_case name used on the wire and in logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from chordial.core.messages import NodeRef


@dataclass(frozen=True, slots=True)
class Event:
    kind: ClassVar[str] = "event"
    time: float
    node: NodeRef


@dataclass(frozen=True, slots=True)
class NodeJoined(Event):
    kind: ClassVar[str] = "joined"
    successor: NodeRef | None


@dataclass(frozen=True, slots=True)
class SuccessorChanged(Event):
    kind: ClassVar[str] = "successor_changed"
    old: NodeRef | None
    new: NodeRef | None
    successors: tuple[NodeRef, ...]


@dataclass(frozen=True, slots=True)
class PredecessorChanged(Event):
    kind: ClassVar[str] = "predecessor_changed"
    old: NodeRef | None
    new: NodeRef | None


@dataclass(frozen=True, slots=True)
class FingerUpdated(Event):
    kind: ClassVar[str] = "finger_updated"
    index: int
    finger: NodeRef | None


@dataclass(frozen=True, slots=True)
class KeysTransferred(Event):
    kind: ClassVar[str] = "keys_transferred"
    peer: NodeRef
    count: int
    outgoing: bool
    reason: str


@dataclass(frozen=True, slots=True)
class LookupCompleted(Event):
    kind: ClassVar[str] = "lookup_completed"
    key_id: int
    path: tuple[NodeRef, ...]
    timeouts: int
    purpose: str

    @property
    def hops(self) -> int:
        return len(self.path) - 1


@dataclass(frozen=True, slots=True)
class LookupFailed(Event):
    kind: ClassVar[str] = "lookup_failed"
    key_id: int
    reason: str
    purpose: str


@dataclass(frozen=True, slots=True)
class KeyWritten(Event):
    kind: ClassVar[str] = "key_written"
    key: str
    version: int
    deleted: bool


@dataclass(frozen=True, slots=True)
class ReplicasWritten(Event):
    """The head of a key's replica group had a write applied on ``replicas`` (in chain order)."""

    kind: ClassVar[str] = "replicas_written"
    key: str
    version: int
    replicas: tuple[NodeRef, ...]


@dataclass(frozen=True, slots=True)
class ReplicasRepaired(Event):
    """Anti-entropy sent ``count`` entries to ``peer`` (and took ``pulled`` newer ones back)."""

    kind: ClassVar[str] = "replicas_repaired"
    peer: NodeRef
    count: int
    pulled: int


@dataclass(frozen=True, slots=True)
class StaleRead(Event):
    """A read returned an older version than the last acknowledged write (found by checkers)."""

    kind: ClassVar[str] = "stale_read"
    key: str
    version: int
    latest: int


@dataclass(frozen=True, slots=True)
class NodeLeft(Event):
    kind: ClassVar[str] = "left"


@dataclass(frozen=True, slots=True)
class PeerFailedEvent(Event):
    kind: ClassVar[str] = "peer_failed"
    peer: NodeRef
    during: str


@dataclass(frozen=True, slots=True)
class InvariantViolated(Event):
    """A checker (simulator or test) found one of Zave's invariants broken; ``node`` is the
    first offending node, ``node_ids`` all of them."""

    kind: ClassVar[str] = "invariant_violated"
    invariant: str
    node_ids: tuple[int, ...]
    detail: str


EVENT_TYPES: tuple[type[Event], ...] = (
    NodeJoined,
    SuccessorChanged,
    PredecessorChanged,
    FingerUpdated,
    KeysTransferred,
    LookupCompleted,
    LookupFailed,
    KeyWritten,
    ReplicasWritten,
    ReplicasRepaired,
    StaleRead,
    NodeLeft,
    PeerFailedEvent,
    InvariantViolated,
)
