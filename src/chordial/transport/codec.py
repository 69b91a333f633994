"""Conversion between the core's message dataclasses and the protobuf messages of the wire.

Pure functions, no I/O. The wire format is documented in ``chordial/proto/chordial.proto``:
ids travel as minimal big-endian ``bytes`` (empty is 0, at most 32 bytes), optional node
references as message fields with presence, ``ErrorReply`` as a gRPC status (never as a
message). Decoding validates what the type system of protobuf cannot (required node
references, id sizes) and raises :class:`CodecError` on malformed input.

:data:`METHODS` is the table of RPCs: name, request and reply dataclass, request and reply
protobuf message; the gRPC transport is driven by it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from chordial.core.events import Event
from chordial.core.messages import (
    Ack,
    ClientDelete,
    ClientGet,
    ClientLookup,
    ClientPut,
    DataReply,
    Entry,
    ErrorReply,
    Fetch,
    FetchReply,
    FindStep,
    GetNeighbours,
    GetState,
    KeyList,
    Leave,
    LeaveNotice,
    ListKeys,
    Neighbours,
    NodeRef,
    NodeState,
    Notify,
    Ping,
    Pong,
    Replicate,
    Request,
    Response,
    StepReply,
    Store,
    StoreReply,
    SyncRange,
    SyncReply,
    TransferKeys,
)
from chordial.proto import chordial_pb2 as pb

SERVICE = "chordial.v1.Chord"
"""Full name of the gRPC service."""

MAX_ID_BYTES = 32
"""Ids are at most 256 bits."""

_EVENT_RESERVED = ("kind", "time", "node")

_M = TypeVar("_M", bound=Message)


class CodecError(ValueError):
    """A value that cannot be put on, or taken off, the wire."""


# ------------------------------------------------------------------------------------------ scalars


def encode_id(value: int) -> bytes:
    """An id as minimal big-endian bytes (``b""`` for 0)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise CodecError(f"id must be an int, not {type(value).__name__}")
    if value < 0 or value.bit_length() > MAX_ID_BYTES * 8:
        raise CodecError(f"id {value} out of range 0..2^{MAX_ID_BYTES * 8}-1")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def decode_id(data: bytes, where: str = "id") -> int:
    """The id in ``data`` (big-endian, leading zeros allowed, at most 32 bytes)."""
    if len(data) > MAX_ID_BYTES:
        raise CodecError(f"{where}: id of {len(data)} bytes, at most {MAX_ID_BYTES} allowed")
    return int.from_bytes(data, "big")


def parse_message(message_type: type[_M], data: bytes) -> _M:
    """Parse serialized protobuf ``data``; :class:`CodecError` when it does not decode."""
    try:
        return message_type.FromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise CodecError(f"malformed {message_type.DESCRIPTOR.name}: {exc or 'cannot decode'}") from exc


# ------------------------------------------------------------------------------------------ NodeRef, Entry


def noderef_to_proto(ref: NodeRef) -> pb.NodeRef:
    return pb.NodeRef(id=encode_id(ref.id), address=ref.address)


def noderef_from_proto(message: pb.NodeRef, where: str = "node") -> NodeRef:
    if not message.address:
        raise CodecError(f"{where}: empty address")
    return NodeRef(decode_id(message.id, f"{where}.id"), message.address)


def _required_ref(present: bool, message: pb.NodeRef, where: str) -> NodeRef:
    if not present:
        raise CodecError(f"{where} is missing")
    return noderef_from_proto(message, where)


def _optional_ref(present: bool, message: pb.NodeRef, where: str) -> NodeRef | None:
    return noderef_from_proto(message, where) if present else None


def _refs_to_proto(refs: tuple[NodeRef, ...]) -> list[pb.NodeRef]:
    return [noderef_to_proto(ref) for ref in refs]


def _refs_from_proto(messages: Iterable[pb.NodeRef], where: str) -> tuple[NodeRef, ...]:
    return tuple(noderef_from_proto(m, f"{where}[{i}]") for i, m in enumerate(messages))


def entry_to_proto(entry: Entry) -> pb.Entry:
    if entry.version < 0:
        raise CodecError(f"entry {entry.key!r}: negative version {entry.version}")
    return pb.Entry(
        key=entry.key,
        key_id=encode_id(entry.key_id),
        value=entry.value,
        version=entry.version,
        deleted=entry.deleted,
        request_id=entry.request_id,
    )


def entry_from_proto(message: pb.Entry, where: str = "entry") -> Entry:
    return Entry(
        key=message.key,
        key_id=decode_id(message.key_id, f"{where}.key_id"),
        value=message.value,
        version=message.version,
        deleted=message.deleted,
        request_id=message.request_id,
    )


def _optional_entry(present: bool, message: pb.Entry, where: str) -> Entry | None:
    return entry_from_proto(message, where) if present else None


def _entries_from_proto(messages: Iterable[pb.Entry], where: str) -> tuple[Entry, ...]:
    return tuple(entry_from_proto(m, f"{where}[{i}]") for i, m in enumerate(messages))


# ------------------------------------------------------------------------------------------ methods


@dataclass(frozen=True, slots=True)
class Method:
    """One unary RPC of the ``Chord`` service."""

    name: str
    request_type: type[Request]
    request_pb: type[Message]
    reply_type: type[Response]
    reply_pb: type[Message]

    @property
    def path(self) -> str:
        """The gRPC method path, ``/chordial.v1.Chord/<name>``."""
        return f"/{SERVICE}/{self.name}"


_METHOD_LIST: tuple[Method, ...] = (
    Method("Ping", Ping, pb.PingRequest, Pong, pb.Pong),
    Method("GetNeighbours", GetNeighbours, pb.GetNeighboursRequest, Neighbours, pb.Neighbours),
    Method("Notify", Notify, pb.NotifyRequest, Neighbours, pb.Neighbours),
    Method("FindStep", FindStep, pb.FindStepRequest, StepReply, pb.StepReply),
    Method("TransferKeys", TransferKeys, pb.TransferKeysRequest, Ack, pb.Ack),
    Method("LeaveNotice", LeaveNotice, pb.LeaveNoticeRequest, Ack, pb.Ack),
    Method("Store", Store, pb.StoreRequest, StoreReply, pb.StoreReply),
    Method("Fetch", Fetch, pb.FetchRequest, FetchReply, pb.FetchReply),
    Method("Replicate", Replicate, pb.ReplicateRequest, Ack, pb.Ack),
    Method("SyncRange", SyncRange, pb.SyncRangeRequest, SyncReply, pb.SyncReply),
    Method("Put", ClientPut, pb.PutRequest, DataReply, pb.DataReply),
    Method("Get", ClientGet, pb.GetRequest, DataReply, pb.DataReply),
    Method("Delete", ClientDelete, pb.DeleteRequest, DataReply, pb.DataReply),
    Method("Lookup", ClientLookup, pb.LookupRequest, DataReply, pb.DataReply),
    Method("GetState", GetState, pb.GetStateRequest, NodeState, pb.NodeState),
    Method("ListKeys", ListKeys, pb.ListKeysRequest, KeyList, pb.KeyList),
    Method("Leave", Leave, pb.LeaveRequest, Ack, pb.Ack),
)

METHODS: Mapping[str, Method] = {m.name: m for m in _METHOD_LIST}
"""Unary RPCs by name (``Watch``, the one streaming RPC, is not in the table)."""

_BY_REQUEST_TYPE: Mapping[type[Request], Method] = {m.request_type: m for m in _METHOD_LIST}
_BY_REQUEST_PB: Mapping[type[Message], Method] = {m.request_pb: m for m in _METHOD_LIST}

WATCH_PATH = f"/{SERVICE}/Watch"


def method_for(request: Request) -> Method:
    """The RPC that carries ``request``."""
    try:
        return _BY_REQUEST_TYPE[type(request)]
    except KeyError:
        raise CodecError(f"{type(request).__name__} is not a request") from None


# ------------------------------------------------------------------------------------------ requests


def request_to_proto(request: Request) -> Message:
    """The protobuf form of a request dataclass."""
    try:
        return _request_to_proto(request)
    except CodecError:
        raise
    except (ValueError, TypeError) as exc:
        raise CodecError(f"cannot encode {type(request).__name__}: {exc}") from exc


def _request_to_proto(request: Request) -> Message:
    match request:
        case Ping():
            return pb.PingRequest()
        case GetNeighbours():
            return pb.GetNeighboursRequest()
        case Notify(node=node, awaiting_keys=awaiting_keys):
            return pb.NotifyRequest(node=noderef_to_proto(node), awaiting_keys=awaiting_keys)
        case FindStep(key_id=key_id, avoid=avoid):
            return pb.FindStepRequest(key_id=encode_id(key_id), avoid=[encode_id(a) for a in avoid])
        case TransferKeys():
            return pb.TransferKeysRequest(
                sender=noderef_to_proto(request.sender),
                entries=[entry_to_proto(e) for e in request.entries],
                leaving=request.leaving,
                predecessor=None if request.predecessor is None else noderef_to_proto(request.predecessor),
                more=request.more,
            )
        case LeaveNotice(leaving=leaving, successors=successors):
            return pb.LeaveNoticeRequest(leaving=noderef_to_proto(leaving), successors=_refs_to_proto(successors))
        case Store(key=key, value=value, delete=delete, request_id=request_id):
            return pb.StoreRequest(key=key, value=value, delete=delete, request_id=request_id)
        case Fetch(key=key, replica=replica):
            return pb.FetchRequest(key=key, replica=replica)
        case Replicate():
            return pb.ReplicateRequest(
                sender=noderef_to_proto(request.sender),
                entries=[entry_to_proto(e) for e in request.entries],
                chain=_refs_to_proto(request.chain),
                overwrite=request.overwrite,
            )
        case SyncRange():
            return pb.SyncRangeRequest(
                sender=noderef_to_proto(request.sender),
                lo=encode_id(request.lo),
                hi=encode_id(request.hi),
                digest=request.digest,
                has_versions=request.versions is not None,
                versions=[pb.KeyVersion(key=k, version=v) for k, v in request.versions or ()],
            )
        case ClientPut(key=key, value=value):
            return pb.PutRequest(key=key, value=value)
        case ClientGet(key=key, consistency=consistency):
            return pb.GetRequest(key=key, consistency=consistency)
        case ClientDelete(key=key):
            return pb.DeleteRequest(key=key)
        case ClientLookup(key=key):
            return pb.LookupRequest(key=key)
        case GetState():
            return pb.GetStateRequest()
        case ListKeys(include_deleted=include_deleted, include_replicas=include_replicas):
            return pb.ListKeysRequest(include_deleted=include_deleted, include_replicas=include_replicas)
        case Leave():
            return pb.LeaveRequest()
    raise CodecError(f"{type(request).__name__} is not a request")


def request_from_proto(message: Message) -> Request:
    """The request dataclass a protobuf request message stands for."""
    match message:
        case pb.PingRequest():
            return Ping()
        case pb.GetNeighboursRequest():
            return GetNeighbours()
        case pb.NotifyRequest():
            return Notify(_required_ref(message.HasField("node"), message.node, "Notify.node"), message.awaiting_keys)
        case pb.FindStepRequest():
            return FindStep(
                decode_id(message.key_id, "FindStep.key_id"),
                tuple(decode_id(a, f"FindStep.avoid[{i}]") for i, a in enumerate(message.avoid)),
            )
        case pb.TransferKeysRequest():
            return TransferKeys(
                sender=_required_ref(message.HasField("sender"), message.sender, "TransferKeys.sender"),
                entries=_entries_from_proto(message.entries, "TransferKeys.entries"),
                leaving=message.leaving,
                predecessor=_optional_ref(
                    message.HasField("predecessor"), message.predecessor, "TransferKeys.predecessor"
                ),
                more=message.more,
            )
        case pb.LeaveNoticeRequest():
            return LeaveNotice(
                leaving=_required_ref(message.HasField("leaving"), message.leaving, "LeaveNotice.leaving"),
                successors=_refs_from_proto(message.successors, "LeaveNotice.successors"),
            )
        case pb.StoreRequest():
            return Store(message.key, message.value, message.delete, message.request_id)
        case pb.FetchRequest():
            return Fetch(message.key, message.replica)
        case pb.ReplicateRequest():
            return Replicate(
                sender=_required_ref(message.HasField("sender"), message.sender, "Replicate.sender"),
                entries=_entries_from_proto(message.entries, "Replicate.entries"),
                chain=_refs_from_proto(message.chain, "Replicate.chain"),
                overwrite=message.overwrite,
            )
        case pb.SyncRangeRequest():
            return SyncRange(
                sender=_required_ref(message.HasField("sender"), message.sender, "SyncRange.sender"),
                lo=decode_id(message.lo, "SyncRange.lo"),
                hi=decode_id(message.hi, "SyncRange.hi"),
                digest=message.digest,
                versions=tuple((kv.key, kv.version) for kv in message.versions) if message.has_versions else None,
            )
        case pb.PutRequest():
            return ClientPut(message.key, message.value)
        case pb.GetRequest():
            return ClientGet(message.key, message.consistency)
        case pb.DeleteRequest():
            return ClientDelete(message.key)
        case pb.LookupRequest():
            return ClientLookup(message.key)
        case pb.GetStateRequest():
            return GetState()
        case pb.ListKeysRequest():
            return ListKeys(message.include_deleted, message.include_replicas)
        case pb.LeaveRequest():
            return Leave()
    raise CodecError(f"{type(message).__name__} is not a request message")


def request_from_bytes(method: Method, data: bytes) -> Request:
    """Decode the serialized request of ``method``."""
    return request_from_proto(parse_message(method.request_pb, data))


# ------------------------------------------------------------------------------------------ replies


def response_to_proto(response: Response) -> Message:
    """The protobuf form of a reply dataclass (``ErrorReply`` has none: it travels as a status)."""
    try:
        return _response_to_proto(response)
    except CodecError:
        raise
    except (ValueError, TypeError) as exc:
        raise CodecError(f"cannot encode {type(response).__name__}: {exc}") from exc


def _response_to_proto(response: Response) -> Message:
    match response:
        case Pong(node=node, id_bits=id_bits, replicas=replicas, consistency=consistency):
            return pb.Pong(node=noderef_to_proto(node), id_bits=id_bits, replicas=replicas, consistency=consistency)
        case Neighbours(node=node, predecessor=predecessor, successors=successors):
            return pb.Neighbours(
                node=noderef_to_proto(node),
                predecessor=None if predecessor is None else noderef_to_proto(predecessor),
                successors=_refs_to_proto(successors),
            )
        case Ack():
            return pb.Ack()
        case StepReply(done=done, nodes=nodes):
            return pb.StepReply(done=done, nodes=_refs_to_proto(nodes))
        case StoreReply(ok=ok, entry=entry, redirect=redirect):
            return pb.StoreReply(
                ok=ok,
                entry=None if entry is None else entry_to_proto(entry),
                redirect=None if redirect is None else noderef_to_proto(redirect),
            )
        case FetchReply(entry=entry, redirect=redirect):
            return pb.FetchReply(
                entry=None if entry is None else entry_to_proto(entry),
                redirect=None if redirect is None else noderef_to_proto(redirect),
            )
        case SyncReply(match=match, wanted=wanted, newer=newer):
            return pb.SyncReply(match=match, wanted=list(wanted), newer=[entry_to_proto(e) for e in newer])
        case DataReply():
            return pb.DataReply(
                key_id=encode_id(response.key_id),
                owner=noderef_to_proto(response.owner),
                path=_refs_to_proto(response.path),
                found=response.found,
                entry=None if response.entry is None else entry_to_proto(response.entry),
                timeouts=response.timeouts,
            )
        case NodeState():
            return pb.NodeState(
                node=noderef_to_proto(response.node),
                predecessor=None if response.predecessor is None else noderef_to_proto(response.predecessor),
                successors=_refs_to_proto(response.successors),
                fingers=[pb.FingerSlot(node=None if f is None else noderef_to_proto(f)) for f in response.fingers],
                key_count=response.key_count,
                id_bits=response.id_bits,
                status=response.status,
                replica_count=response.replica_count,
            )
        case KeyList(node=node, entries=entries):
            return pb.KeyList(node=noderef_to_proto(node), entries=[entry_to_proto(e) for e in entries])
        case ErrorReply():
            raise CodecError("ErrorReply has no message form: it travels as a gRPC status")
    raise CodecError(f"{type(response).__name__} is not a reply")


def response_from_proto(message: Message) -> Response:
    """The reply dataclass a protobuf reply message stands for."""
    match message:
        case pb.Pong():
            return Pong(
                _required_ref(message.HasField("node"), message.node, "Pong.node"),
                message.id_bits,
                message.replicas,
                message.consistency,
            )
        case pb.Neighbours():
            return Neighbours(
                node=_required_ref(message.HasField("node"), message.node, "Neighbours.node"),
                predecessor=_optional_ref(
                    message.HasField("predecessor"), message.predecessor, "Neighbours.predecessor"
                ),
                successors=_refs_from_proto(message.successors, "Neighbours.successors"),
            )
        case pb.Ack():
            return Ack()
        case pb.StepReply():
            return StepReply(message.done, _refs_from_proto(message.nodes, "StepReply.nodes"))
        case pb.StoreReply():
            return StoreReply(
                ok=message.ok,
                entry=_optional_entry(message.HasField("entry"), message.entry, "StoreReply.entry"),
                redirect=_optional_ref(message.HasField("redirect"), message.redirect, "StoreReply.redirect"),
            )
        case pb.FetchReply():
            return FetchReply(
                entry=_optional_entry(message.HasField("entry"), message.entry, "FetchReply.entry"),
                redirect=_optional_ref(message.HasField("redirect"), message.redirect, "FetchReply.redirect"),
            )
        case pb.SyncReply():
            return SyncReply(
                message.match, tuple(message.wanted), _entries_from_proto(message.newer, "SyncReply.newer")
            )
        case pb.DataReply():
            return DataReply(
                key_id=decode_id(message.key_id, "DataReply.key_id"),
                owner=_required_ref(message.HasField("owner"), message.owner, "DataReply.owner"),
                path=_refs_from_proto(message.path, "DataReply.path"),
                found=message.found,
                entry=_optional_entry(message.HasField("entry"), message.entry, "DataReply.entry"),
                timeouts=message.timeouts,
            )
        case pb.NodeState():
            return NodeState(
                node=_required_ref(message.HasField("node"), message.node, "NodeState.node"),
                predecessor=_optional_ref(
                    message.HasField("predecessor"), message.predecessor, "NodeState.predecessor"
                ),
                successors=_refs_from_proto(message.successors, "NodeState.successors"),
                fingers=tuple(
                    _optional_ref(slot.HasField("node"), slot.node, f"NodeState.fingers[{i}]")
                    for i, slot in enumerate(message.fingers)
                ),
                key_count=message.key_count,
                id_bits=message.id_bits,
                status=message.status,
                replica_count=message.replica_count,
            )
        case pb.KeyList():
            return KeyList(
                node=_required_ref(message.HasField("node"), message.node, "KeyList.node"),
                entries=_entries_from_proto(message.entries, "KeyList.entries"),
            )
    raise CodecError(f"{type(message).__name__} is not a reply message")


def response_from_bytes(method: Method, data: bytes) -> Response:
    """Decode the serialized reply of ``method``."""
    return response_from_proto(parse_message(method.reply_pb, data))


# ------------------------------------------------------------------------------------------ events


def noderef_to_dict(ref: NodeRef) -> dict[str, object]:
    """JSON form of a node reference: ``{"id": "<decimal>", "address": "host:port"}``."""
    return {"id": str(ref.id), "address": ref.address}


def _is_id_field(name: str) -> bool:
    return name == "id" or name.endswith(("_id", "_ids"))


def _json_value(name: str, value: object) -> object:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, NodeRef):
        return noderef_to_dict(value)
    if isinstance(value, int):
        return str(value) if _is_id_field(name) else value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CodecError(f"event field {name}: {value} is not a finite number")
        return value
    if isinstance(value, tuple | list):
        return [_json_value(name, item) for item in value]
    raise CodecError(f"event field {name}: cannot encode a {type(value).__name__}")


def event_to_dict(event: Event) -> dict[str, object]:
    """JSON-able form of an event: ``kind``, ``time``, ``node``, then its other fields by name.

    Node references become ``{"id": "<decimal>", "address": ...}``, ids (fields named ``*_id``)
    decimal strings, tuples lists.
    """
    result: dict[str, object] = {
        "kind": event.kind,
        "time": event.time,
        "node": noderef_to_dict(event.node),
    }
    for field in dataclasses.fields(event):
        if field.name not in _EVENT_RESERVED:
            result[field.name] = _json_value(field.name, getattr(event, field.name))
    return result


def event_to_proto(event: Event) -> pb.WatchEvent:
    """The ``WatchEvent`` for an event; the fields beyond time, kind and node go in ``fields_json``."""
    form = event_to_dict(event)
    fields = {k: v for k, v in form.items() if k not in _EVENT_RESERVED}
    return pb.WatchEvent(
        time=event.time,
        kind=event.kind,
        node=noderef_to_proto(event.node),
        fields_json=json.dumps(fields, separators=(",", ":"), ensure_ascii=False),
    )


def event_from_proto(message: pb.WatchEvent) -> dict[str, object]:
    """The dict form (as :func:`event_to_dict` makes it) of a received ``WatchEvent``."""
    if not message.kind:
        raise CodecError("WatchEvent.kind is empty")
    node = _required_ref(message.HasField("node"), message.node, "WatchEvent.node")
    try:
        fields = json.loads(message.fields_json) if message.fields_json else {}
    except ValueError as exc:
        raise CodecError(f"WatchEvent.fields_json is not JSON: {exc}") from exc
    if not isinstance(fields, dict):
        raise CodecError(f"WatchEvent.fields_json is a {type(fields).__name__}, not an object")
    clash = sorted(set(fields) & set(_EVENT_RESERVED))
    if clash:
        raise CodecError(f"WatchEvent.fields_json repeats reserved field(s) {', '.join(clash)}")
    result: dict[str, object] = {"kind": message.kind, "time": message.time, "node": noderef_to_dict(node)}
    result.update(fields)
    return result


__all__ = [
    "MAX_ID_BYTES",
    "METHODS",
    "SERVICE",
    "WATCH_PATH",
    "CodecError",
    "Method",
    "decode_id",
    "encode_id",
    "entry_from_proto",
    "entry_to_proto",
    "event_from_proto",
    "event_to_dict",
    "event_to_proto",
    "method_for",
    "noderef_from_proto",
    "noderef_to_dict",
    "noderef_to_proto",
    "parse_message",
    "request_from_bytes",
    "request_from_proto",
    "request_to_proto",
    "response_from_bytes",
    "response_from_proto",
    "response_to_proto",
]
