"""The conductor ⇄ browser protocol, version 1: every message as a pydantic model.

These models are the source of truth of the wire format: the conductor validates what browsers
send with them and serialises what it sends through them, ``scripts/gen_ts_types.py`` writes
``web/src/protocol.ts`` from their JSON schema (so the TypeScript side cannot drift), and
``docs/conductor-protocol.md`` is the human summary.

Ids can be 160-bit integers, beyond JavaScript's exact range: on the wire an id is a decimal
string, and every id a renderer must place comes with ``pos`` (id / 2^m, a float in [0, 1)).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

PROTOCOL_VERSION = 1

World = Literal["virtual", "live"]
Status = Literal["idle", "running", "paused", "stopped"]
NodeStateName = Literal["joining", "live", "leaving", "crashed", "left"]
Consistency = Literal["linearizable", "eventual"]
Popularity = Literal["uniform", "zipf"]
DatasetKind = Literal["builtin", "generated", "uploaded"]
LatencyKind = Literal["constant", "uniform", "lognormal"]
Speed = Annotated[float, Field(ge=0.1, le=1000.0)] | Literal["max"]

DETAIL_LIMIT = 2000
"""Above this many nodes snapshots and deltas carry no fingers and only the first successor."""
LIVE_NODE_LIMIT = 1000
"""Most nodes the live world starts on one machine (each is a gRPC server)."""


def _unit(unit: str) -> dict[str, Any]:
    return {"unit": unit}


class _Model(BaseModel):
    """Unknown fields are refused, so a typo in a command is an error rather than a default."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


# ------------------------------------------------------------------------------------------ parameters


class Params(_Model):
    """Everything a simulation is started with. Every field has a default; ranges, units and
    help texts travel in the JSON schema (``GET /api/params``) so forms need no copy of them."""

    world: World = Field(
        default="virtual",
        description="virtual: the simulator in-process on virtual time; live: real node processes over gRPC",
    )
    nodes: int = Field(default=64, ge=1, le=100_000, description="Nodes at the start", json_schema_extra=_unit("nodes"))
    id_bits: int = Field(
        default=32,
        ge=3,
        le=160,
        description="m: ids live on a ring of 2^m; 3…8 shows every id position (teaching mode)",
        json_schema_extra=_unit("bits"),
    )
    seed: int = Field(
        default=0, ge=0, le=2**32 - 1, description="Seed of every random choice (virtual runs replay exactly)"
    )
    stabilize_period: float = Field(
        default=1.0, ge=0.05, le=600, description="How often each node runs stabilize", json_schema_extra=_unit("s")
    )
    fix_fingers_period: float = Field(
        default=1.0,
        ge=0.05,
        le=600,
        description="How often each node refreshes one finger",
        json_schema_extra=_unit("s"),
    )
    check_predecessor_period: float = Field(
        default=2.0,
        ge=0.05,
        le=600,
        description="How often each node pings its predecessor",
        json_schema_extra=_unit("s"),
    )
    successors: int = Field(
        default=4, ge=1, le=32, description="r: length of each node's successor list", json_schema_extra=_unit("nodes")
    )
    replicas: int = Field(
        default=3, ge=1, le=33, description="k: copies of each key (k = 1: no replication; at most r + 1)"
    )
    consistency: Consistency = Field(
        default="linearizable",
        description="linearizable: chain replication, reads at the head; eventual: background pushes",
    )
    repair_period: float = Field(
        default=5.0,
        ge=0.1,
        le=600,
        description="Anti-entropy period bringing keys back to k copies",
        json_schema_extra=_unit("s"),
    )
    workload_rate: float = Field(
        default=5.0,
        ge=0,
        le=10_000,
        description="Client operations started per second",
        json_schema_extra=_unit("ops/s"),
    )
    mix_get: float = Field(default=1.0, ge=0, le=1000, description="Relative weight of gets in the workload")
    mix_put: float = Field(default=1.0, ge=0, le=1000, description="Relative weight of puts in the workload")
    mix_delete: float = Field(default=0.0, ge=0, le=1000, description="Relative weight of deletes in the workload")
    mix_lookup: float = Field(default=0.0, ge=0, le=1000, description="Relative weight of bare lookups in the workload")
    popularity: Popularity = Field(default="uniform", description="How keys are chosen: uniformly or by Zipf rank")
    zipf_exponent: float = Field(default=1.0, ge=0, le=5, description="Zipf exponent s: P(rank k) ∝ 1/k^s")
    dataset: DatasetKind = Field(
        default="builtin",
        description="builtin: short text records shipped with Chordial; generated: key-000000…; uploaded: your file",
    )
    dataset_size: int = Field(
        default=1000, ge=1, le=1_000_000, description="Keys of a generated dataset", json_schema_extra=_unit("keys")
    )
    preload: bool = Field(default=True, description="Place every dataset key on its owner before the run (virtual)")
    join_rate: float = Field(
        default=0.0, ge=0, le=1000, description="Churn: nodes joining per second", json_schema_extra=_unit("1/s")
    )
    leave_rate: float = Field(
        default=0.0, ge=0, le=1000, description="Churn: graceful leaves per second", json_schema_extra=_unit("1/s")
    )
    crash_rate: float = Field(
        default=0.0, ge=0, le=1000, description="Churn: crashes per second", json_schema_extra=_unit("1/s")
    )
    latency: LatencyKind = Field(
        default="lognormal", description="One-way message delay model (virtual): constant, uniform (±50 %), lognormal"
    )
    latency_ms: float = Field(
        default=20.0, ge=0, le=10_000, description="Median one-way delay (virtual)", json_schema_extra=_unit("ms")
    )
    loss: float = Field(default=0.0, ge=0, le=0.5, description="Probability that a message is lost (virtual)")
    rpc_timeout: float = Field(
        default=0.5, ge=0.01, le=60, description="Deadline of every node-to-node call", json_schema_extra=_unit("s")
    )
    check_invariants: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="Check Zave's invariants every … (virtual; 0: never)",
        json_schema_extra=_unit("s"),
    )
    speed: Speed = Field(default=1.0, description="Virtual seconds per wall second (0.1 … 1000), or max (virtual)")

    @model_validator(mode="after")
    def _coherent(self) -> Params:
        if self.replicas > self.successors + 1:
            raise ValueError(
                f"replicas (k = {self.replicas}) must be at most successors + 1 (r + 1 = {self.successors + 1})"
            )
        if self.nodes > (1 << self.id_bits) // 2:
            raise ValueError(f"{self.nodes} nodes do not fit a ring of 2^{self.id_bits} ids (at most half of it)")
        if self.world == "live" and self.nodes > LIVE_NODE_LIMIT:
            raise ValueError(f"the live world runs at most {LIVE_NODE_LIMIT} nodes on one machine, got {self.nodes}")
        if self.workload_rate > 0 and self.mix_get + self.mix_put + self.mix_delete + self.mix_lookup <= 0:
            raise ValueError("the workload mix needs at least one positive weight")
        return self


# ------------------------------------------------------------------------------------------ views


class FingerRef(_Model):
    """A distinct finger: ``index`` is the first table index of a run of equal entries."""

    index: int
    node: str


class NodeView(_Model):
    """One node as the ring renderer draws it."""

    id: str
    pos: float = Field(description="id / 2^m in [0, 1): angle = pos · 2π, 0 at the top, clockwise")
    address: str
    state: NodeStateName
    predecessor: str | None
    successors: list[str]
    fingers: list[FingerRef] | None = Field(description="null when the snapshot has no detail (over 2,000 nodes)")
    keys: int = Field(description="live keys this node owns")
    replicas: int = Field(description="copies held for other owners")


class EventView(_Model):
    """One protocol event, with a human summary and every node it concerns (for highlighting)."""

    kind: str
    time: float
    node: str
    nodes: list[str]
    text: str
    path: list[str] | None = None
    hops: int | None = None
    key: str | None = None
    key_id: str | None = None
    key_pos: float | None = None
    count: int | None = None


class KeysPerNode(_Model):
    min: float
    mean: float
    max: float
    p99: float


class Correctness(_Model):
    """Fractions of members whose successor, predecessor and fingers are the true ones."""

    successors: float
    predecessors: float
    fingers: float


# ------------------------------------------------------------------------------------------ server → browser


class _Message(_Model):
    v: Literal[1] = 1


class Snapshot(_Message):
    type: Literal["snapshot"] = "snapshot"
    seq: int
    time: float = Field(description="virtual seconds, or wall seconds since the start in the live world")
    world: World
    status: Status
    speed: Speed
    params: Params
    id_bits: int
    detail: bool = Field(description="false above 2,000 nodes: no fingers, first successor only")
    nodes: list[NodeView]


class Delta(_Message):
    type: Literal["delta"] = "delta"
    seq: int
    time: float
    upserts: list[NodeView]
    removed: list[str]
    events: list[EventView]
    dropped: int = Field(description="events of this interval left out of `events` (sampled)")


class Stats(_Message):
    type: Literal["stats"] = "stats"
    time: float
    node_count: int
    ops_per_s: float
    lookups_per_s: float
    hops_mean: float | None
    hops_p99: float | None
    latency_ms_mean: float | None
    latency_ms_p99: float | None
    failures: int
    timeouts: int
    stale_reads: int
    keys_per_node: KeysPerNode
    correctness: Correctness | None
    invariants_ok: bool
    violations: list[str]
    top_keys: list[tuple[str, int]]
    messages_per_s: dict[str, float]


class StatusMessage(_Message):
    type: Literal["status"] = "status"
    status: Status
    time: float
    speed: Speed
    world: World


class Result(_Message):
    type: Literal["result"] = "result"
    request_id: str
    ok: bool
    data: dict[str, Any] | None = None
    error: str | None = None


class ErrorMessage(_Message):
    type: Literal["error"] = "error"
    message: str
    request_id: str | None = None


ServerMessage = Annotated[
    Snapshot | Delta | Stats | StatusMessage | Result | ErrorMessage,
    Field(discriminator="type"),
]

# ------------------------------------------------------------------------------------------ browser → server


class NoArgs(_Model):
    pass


class StepArgs(_Model):
    seconds: float | None = Field(
        default=None, gt=0, le=3600, description="virtual seconds; default one stabilize period"
    )


class SpeedArgs(_Model):
    speed: Speed


class AddNodeArgs(_Model):
    id: str | None = Field(
        default=None, description="decimal id to join with (teaching mode); default the address hash"
    )


class NodeArgs(_Model):
    node: str = Field(description="decimal id of a node")


class PutArgs(_Model):
    key: str | None = Field(
        default=None, min_length=1, max_length=1024, description="the key; or leave it out and give key_id"
    )
    key_id: str | None = Field(
        default=None,
        description="teaching mode (m ≤ 20): a decimal id; the conductor picks a key name hashing to it",
    )
    value: Any = Field(default=None, description="any JSON value; strings are stored as their UTF-8 text")

    @model_validator(mode="after")
    def _one_key(self) -> PutArgs:
        if (self.key is None) == (self.key_id is None):
            raise ValueError("give either key or key_id")
        return self


class GetArgs(_Model):
    key: str = Field(min_length=1, max_length=1024)
    consistency: Consistency | None = None


class KeyArgs(_Model):
    key: str = Field(min_length=1, max_length=1024)


class PartitionArgs(_Model):
    nodes: list[str] = Field(min_length=1, description="ids cut off from the rest (together, on one side)")


class WorkloadArgs(_Model):
    rate: float | None = Field(default=None, ge=0, le=10_000)
    get: float | None = Field(default=None, ge=0, le=1000)
    put: float | None = Field(default=None, ge=0, le=1000)
    delete: float | None = Field(default=None, ge=0, le=1000)
    lookup: float | None = Field(default=None, ge=0, le=1000)
    popularity: Popularity | None = None
    zipf: float | None = Field(default=None, ge=0, le=5)


class ChurnArgs(_Model):
    join_rate: float | None = Field(default=None, ge=0, le=1000)
    leave_rate: float | None = Field(default=None, ge=0, le=1000)
    crash_rate: float | None = Field(default=None, ge=0, le=1000)


class _Command(_Model):
    type: Literal["command"] = "command"
    v: Literal[1] = 1
    request_id: str = Field(default="", max_length=200)


class StartCommand(_Command):
    action: Literal["start"]
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="a subset of Params; the rest default",
        json_schema_extra={"tsType": "Partial<Params>"},
    )


class ControlCommand(_Command):
    action: Literal["stop", "pause", "resume", "heal"]
    args: NoArgs = NoArgs()


class StepCommand(_Command):
    action: Literal["step"]
    args: StepArgs = Field(default_factory=lambda: StepArgs())


class SpeedCommand(_Command):
    action: Literal["speed"]
    args: SpeedArgs


class AddNodeCommand(_Command):
    action: Literal["add_node"]
    args: AddNodeArgs = Field(default_factory=lambda: AddNodeArgs())


class NodeCommand(_Command):
    action: Literal["leave", "crash", "inspect"]
    args: NodeArgs


class PutCommand(_Command):
    action: Literal["put"]
    args: PutArgs


class GetCommand(_Command):
    action: Literal["get"]
    args: GetArgs


class DeleteCommand(_Command):
    action: Literal["delete"]
    args: KeyArgs


class PartitionCommand(_Command):
    action: Literal["partition"]
    args: PartitionArgs


class WorkloadCommand(_Command):
    action: Literal["set_workload"]
    args: WorkloadArgs


class ChurnCommand(_Command):
    action: Literal["set_churn"]
    args: ChurnArgs


Command = Annotated[
    StartCommand
    | ControlCommand
    | StepCommand
    | SpeedCommand
    | AddNodeCommand
    | NodeCommand
    | PutCommand
    | GetCommand
    | DeleteCommand
    | PartitionCommand
    | WorkloadCommand
    | ChurnCommand,
    Field(discriminator="action"),
]
ACTIONS: tuple[str, ...] = (
    "start",
    "stop",
    "pause",
    "resume",
    "heal",
    "step",
    "speed",
    "add_node",
    "leave",
    "crash",
    "inspect",
    "put",
    "get",
    "delete",
    "partition",
    "set_workload",
    "set_churn",
)

# ------------------------------------------------------------------------------------------ result data


class KvResult(_Model):
    """What put / get / delete answer (the ``data`` of their result, and the REST KV body)."""

    key: str
    key_id: str
    key_pos: float
    owner: str | None
    owner_address: str | None
    path: list[str]
    hops: int
    found: bool
    value: Any = None
    version: int | None = None


class FingerDetail(_Model):
    index: int
    start: str
    start_pos: float
    interval_end: str
    node: str | None


class KeyHeld(_Model):
    key: str
    key_id: str
    version: int
    owned: bool


class NodeDetail(NodeView):
    """What ``inspect`` answers: the node with every finger run and the keys it holds."""

    finger_table: list[FingerDetail]
    keys_held: list[KeyHeld] = Field(description="the first 200 entries, owned and replica copies")


class ParamsInfo(_Model):
    """``GET /api/params``: the defaults and the JSON schema with ranges, units and help."""

    defaults: Params
    schema_: dict[str, Any] = Field(alias="schema")
    live_node_limit: int
    detail_limit: int


# ------------------------------------------------------------------------------------------ helpers

SERVER_MESSAGE: TypeAdapter[Snapshot | Delta | Stats | StatusMessage | Result | ErrorMessage] = TypeAdapter(
    ServerMessage
)
COMMAND: TypeAdapter[
    StartCommand
    | ControlCommand
    | StepCommand
    | SpeedCommand
    | AddNodeCommand
    | NodeCommand
    | PutCommand
    | GetCommand
    | DeleteCommand
    | PartitionCommand
    | WorkloadCommand
    | ChurnCommand
] = TypeAdapter(Command)

TS_MODELS: tuple[type[BaseModel], ...] = (
    Params,
    NodeView,
    EventView,
    Snapshot,
    Delta,
    Stats,
    StatusMessage,
    Result,
    ErrorMessage,
    StartCommand,
    ControlCommand,
    StepCommand,
    SpeedCommand,
    AddNodeCommand,
    NodeCommand,
    PutCommand,
    GetCommand,
    DeleteCommand,
    PartitionCommand,
    WorkloadCommand,
    ChurnCommand,
    KvResult,
    NodeDetail,
    ParamsInfo,
)
"""The models ``scripts/gen_ts_types.py`` writes to TypeScript (their dependencies come along)."""


def id_text(value: int) -> str:
    return str(value)


def position(value: int, bits: int) -> float:
    """``value / 2^bits`` as a float in [0, 1) (exact enough for drawing even at 160 bits)."""
    pos = value / float(1 << bits)
    return pos if pos < 1.0 else math.nextafter(1.0, 0.0)


def parse_id(text: str, bits: int) -> int:
    """A decimal id from the wire; ``ValueError`` with one line when it is not one of the ring."""
    if not isinstance(text, str) or not text.isdigit():
        raise ValueError(f"not an id: {text!r} (ids are decimal strings)")
    value = int(text)
    if value >= 1 << bits:
        raise ValueError(f"id {text} does not fit the ring of 2^{bits} ids")
    return value


def one_line_validation(exc: Exception) -> str:
    """A pydantic ValidationError (or any error) as one readable line."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:3]:
            where = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
            message = str(err["msg"]).removeprefix("Value error, ")
            parts.append(f"{where}: {message}" if where else message)
        more = f" (and {exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
        return "; ".join(parts) + more
    return " ".join(str(exc).split()) or type(exc).__name__
