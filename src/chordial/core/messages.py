"""Messages exchanged by Chord nodes and their clients: frozen values, no behaviour.

Every request type has exactly one reply type (or :class:`ErrorReply`). Carriers (gRPC, the
in-memory network, the simulator) move these values; the core never sees bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True, order=True)
class NodeRef:
    """A node as others know it: its ring id and the address it serves on."""

    id: int
    address: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored key. ``version`` grows by one at every write; deletes leave a tombstone."""

    key: str
    key_id: int
    value: bytes
    version: int
    deleted: bool = False
    # The client request that wrote this version (0: unknown). Replicas keep it so that a head
    # that takes over still recognises a write retried after a lost reply.
    request_id: int = 0


# ----------------------------------------------------------------------------------------- node to node


@dataclass(frozen=True, slots=True)
class Ping:
    """Liveness probe; the reply also tells the ring's id size (Zave: failure detection)."""


@dataclass(frozen=True, slots=True)
class Pong:
    node: NodeRef
    id_bits: int
    # The ring-wide replication settings, so that a joiner with other ones is refused.
    replicas: int = 0
    consistency: str = ""


@dataclass(frozen=True, slots=True)
class GetNeighbours:
    """Ask a node for its predecessor and successor list (the query of Zave's stabilize)."""


@dataclass(frozen=True, slots=True)
class Neighbours:
    node: NodeRef
    predecessor: NodeRef | None
    successors: tuple[NodeRef, ...]


@dataclass(frozen=True, slots=True)
class Notify:
    """``node`` believes it is the receiver's predecessor (Zave's rectify).

    The reply is the receiver's :class:`Neighbours` after rectify and after it handed the
    notifier the keys that are now the notifier's.
    """

    node: NodeRef
    # The notifier joined and has not received its keys yet: hand them over even if the
    # receiver already took it as predecessor (it may be a restarted node with the same id).
    awaiting_keys: bool = False


@dataclass(frozen=True, slots=True)
class Ack:
    pass


@dataclass(frozen=True, slots=True)
class FindStep:
    """One step of an iterative lookup for ``key_id`` (Chord §4.3 find_predecessor).

    ``avoid`` lists ids the asker found dead, so the answer routes around them.
    """

    key_id: int
    avoid: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class StepReply:
    """``done``: the key lies in (answerer, answerer's successor]; ``nodes`` is the answerer's
    successor list, owner first. Otherwise ``nodes`` holds the next node to ask."""

    done: bool
    nodes: tuple[NodeRef, ...]


@dataclass(frozen=True, slots=True)
class TransferKeys:
    """Hand stored entries to the receiver.

    Sent by a node to its new predecessor after rectify (the predecessor's share of the keys),
    and by a leaving node to its successor with ``leaving=True`` and its own predecessor, which
    the successor adopts in the same step.
    """

    sender: NodeRef
    entries: tuple[Entry, ...]
    leaving: bool = False
    predecessor: NodeRef | None = None
    # Large stores move in chunks: every chunk but the last says ``more``; the receiver adopts
    # each chunk's entries at once and acts on the transfer (predecessor, handoff done) at the last.
    more: bool = False


@dataclass(frozen=True, slots=True)
class LeaveNotice:
    """Sent by a leaving node to its predecessor: splice me out, here is my successor list."""

    leaving: NodeRef
    successors: tuple[NodeRef, ...]


@dataclass(frozen=True, slots=True)
class Store:
    """Write (or delete, with ``delete=True``) one key at the node that owns it."""

    key: str
    value: bytes = b""
    delete: bool = False
    # Unique per client operation, kept across retries: the head applies each id once.
    request_id: int = 0


@dataclass(frozen=True, slots=True)
class StoreReply:
    """``redirect`` is set when the receiver does not own the key: try that node instead."""

    ok: bool
    entry: Entry | None = None
    redirect: NodeRef | None = None


@dataclass(frozen=True, slots=True)
class Fetch:
    """Read one key at the node that owns it; with ``replica=True`` at a replica, which
    answers from what it holds without checking ownership (eventual-mode reads)."""

    key: str
    replica: bool = False


@dataclass(frozen=True, slots=True)
class FetchReply:
    entry: Entry | None = None
    redirect: NodeRef | None = None


@dataclass(frozen=True, slots=True)
class Replicate:
    """Apply ``entries`` as a replica, then pass them on along ``chain`` (chain replication:
    the reply comes once every live node of the chain applied them).

    ``overwrite``: a chain write from the head replaces whatever the replica holds; repairs
    (``overwrite=False``) keep the higher version of each key.
    """

    sender: NodeRef
    entries: tuple[Entry, ...]
    chain: tuple[NodeRef, ...] = ()
    overwrite: bool = True


@dataclass(frozen=True, slots=True)
class SyncRange:
    """Anti-entropy from the head of a range (lo, hi] to one of its replicas.

    First with ``digest`` only; on a mismatch again with every ``(key, version)`` the head
    holds, and the replica answers what it lacks and what it holds newer.
    """

    sender: NodeRef
    lo: int
    hi: int
    digest: bytes
    versions: tuple[tuple[str, int], ...] | None = None


@dataclass(frozen=True, slots=True)
class SyncReply:
    match: bool
    wanted: tuple[str, ...] = ()
    newer: tuple[Entry, ...] = ()


# ----------------------------------------------------------------------------------------- client to node


@dataclass(frozen=True, slots=True)
class ClientPut:
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class ClientGet:
    """``consistency``: ``"eventual"`` lets a linearizable ring answer from any replica;
    empty means the ring's own mode."""

    key: str
    consistency: str = ""


@dataclass(frozen=True, slots=True)
class ClientDelete:
    key: str


@dataclass(frozen=True, slots=True)
class ClientLookup:
    key: str


@dataclass(frozen=True, slots=True)
class DataReply:
    """Answer to a client put/get/delete/lookup.

    ``path`` is every node the request visited, from the node the client called to the owner;
    ``hops == len(path) - 1``: one hop per RPC to another node, the final hop to the owner
    included. ``entry`` is the key's entry after the operation (``None`` when it never existed);
    ``found`` tells whether a live value was there for get and delete.
    """

    key_id: int
    owner: NodeRef
    path: tuple[NodeRef, ...]
    found: bool = False
    entry: Entry | None = None
    timeouts: int = 0

    @property
    def hops(self) -> int:
        return len(self.path) - 1


@dataclass(frozen=True, slots=True)
class GetState:
    """Ask a node for its whole routing state (the overlay view)."""


@dataclass(frozen=True, slots=True)
class NodeState:
    node: NodeRef
    predecessor: NodeRef | None
    successors: tuple[NodeRef, ...]
    fingers: tuple[NodeRef | None, ...]
    key_count: int
    id_bits: int
    status: str
    replica_count: int = 0


@dataclass(frozen=True, slots=True)
class ListKeys:
    """Ask a node for the live entries it owns (and with ``include_replicas`` the copies it
    holds for others)."""

    include_deleted: bool = False
    include_replicas: bool = False


@dataclass(frozen=True, slots=True)
class KeyList:
    node: NodeRef
    entries: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class Leave:
    """Ask the node to leave the ring gracefully (hand keys over, tell its neighbours, stop)."""


ErrorCode = Literal["invalid", "not_found", "unavailable", "failed_precondition", "internal"]


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """A request that could not be served, with a reason meant for people."""

    code: ErrorCode
    message: str


Request = (
    Ping
    | GetNeighbours
    | Notify
    | FindStep
    | TransferKeys
    | LeaveNotice
    | Store
    | Fetch
    | Replicate
    | SyncRange
    | ClientPut
    | ClientGet
    | ClientDelete
    | ClientLookup
    | GetState
    | ListKeys
    | Leave
)
Response = (
    Pong
    | Neighbours
    | Ack
    | StepReply
    | StoreReply
    | FetchReply
    | SyncReply
    | DataReply
    | NodeState
    | KeyList
    | ErrorReply
)

__all__ = [
    "Ack",
    "ClientDelete",
    "ClientGet",
    "ClientLookup",
    "ClientPut",
    "DataReply",
    "Entry",
    "ErrorCode",
    "ErrorReply",
    "Fetch",
    "FetchReply",
    "FindStep",
    "GetNeighbours",
    "GetState",
    "KeyList",
    "Leave",
    "LeaveNotice",
    "ListKeys",
    "Neighbours",
    "NodeRef",
    "NodeState",
    "Notify",
    "Ping",
    "Pong",
    "Replicate",
    "Request",
    "Response",
    "StepReply",
    "Store",
    "StoreReply",
    "SyncRange",
    "SyncReply",
    "TransferKeys",
]
