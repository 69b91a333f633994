"""The codec: every message survives dataclass → protobuf → bytes → protobuf → dataclass."""

from __future__ import annotations

import json
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chordial.core.events import (
    EVENT_TYPES,
    Event,
    FingerUpdated,
    InvariantViolated,
    KeysTransferred,
    KeyWritten,
    LookupCompleted,
    LookupFailed,
    NodeJoined,
    NodeLeft,
    PeerFailedEvent,
    PredecessorChanged,
    ReplicasRepaired,
    ReplicasWritten,
    StaleRead,
    SuccessorChanged,
)
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
from chordial.transport.codec import (
    METHODS,
    CodecError,
    decode_id,
    encode_id,
    entry_from_proto,
    entry_to_proto,
    event_from_proto,
    event_to_dict,
    event_to_proto,
    method_for,
    noderef_from_proto,
    noderef_to_proto,
    parse_message,
    request_from_bytes,
    request_from_proto,
    request_to_proto,
    response_from_bytes,
    response_from_proto,
    response_to_proto,
)

# ------------------------------------------------------------------------------------------ strategies

ids_160 = st.integers(min_value=0, max_value=2**160 - 1)
ids = st.one_of(ids_160, st.integers(min_value=0, max_value=2**256 - 1), st.integers(0, 255))
addresses = st.builds(
    lambda host, port: f"{host}:{port}",
    st.sampled_from(["127.0.0.1", "localhost", "[::1]", "node-7.example.org"]),
    st.integers(0, 65535),
)
keys = st.text(max_size=40)
values = st.binary(max_size=64)
node_refs = st.builds(NodeRef, ids, addresses)
maybe_refs = st.none() | node_refs
ref_tuples = st.lists(node_refs, max_size=5).map(tuple)
entries = st.builds(
    Entry, keys, ids, values, st.integers(0, 2**64 - 1), st.booleans()
) | st.builds(  # tombstones as the store makes them
    lambda key, key_id, version: Entry(key, key_id, b"", version, deleted=True), keys, ids, st.integers(1, 99)
)
maybe_entries = st.none() | entries
entry_tuples = st.lists(entries, max_size=4).map(tuple)
small = st.integers(0, 2**32 - 1)

requests: st.SearchStrategy[Request] = st.one_of(
    st.just(Ping()),
    st.just(GetNeighbours()),
    st.builds(Notify, node_refs),
    st.builds(FindStep, ids, st.lists(ids, max_size=4).map(tuple)),
    st.builds(TransferKeys, node_refs, entry_tuples, st.booleans(), maybe_refs),
    st.builds(LeaveNotice, node_refs, ref_tuples),
    st.builds(Store, keys, values, st.booleans()),
    st.builds(Fetch, keys, st.booleans()),
    st.builds(Replicate, node_refs, entry_tuples, ref_tuples, st.booleans()),
    st.builds(
        SyncRange,
        node_refs,
        ids,
        ids,
        st.binary(max_size=20),
        st.none() | st.lists(st.tuples(keys, st.integers(0, 2**40)), max_size=4).map(tuple),
    ),
    st.builds(ClientPut, keys, values),
    st.builds(ClientGet, keys, st.sampled_from(["", "eventual", "linearizable"])),
    st.builds(ClientDelete, keys),
    st.builds(ClientLookup, keys),
    st.just(GetState()),
    st.builds(ListKeys, st.booleans(), st.booleans()),
    st.just(Leave()),
)

responses: st.SearchStrategy[Response] = st.one_of(
    st.builds(Pong, node_refs, st.integers(1, 256)),
    st.builds(Neighbours, node_refs, maybe_refs, ref_tuples),
    st.just(Ack()),
    st.builds(StepReply, st.booleans(), ref_tuples),
    st.builds(StoreReply, st.booleans(), maybe_entries, maybe_refs),
    st.builds(FetchReply, maybe_entries, maybe_refs),
    st.builds(SyncReply, st.booleans(), st.lists(keys, max_size=4).map(tuple), entry_tuples),
    st.builds(DataReply, ids, node_refs, ref_tuples, st.booleans(), maybe_entries, small),
    st.builds(
        NodeState,
        node_refs,
        maybe_refs,
        ref_tuples,
        st.lists(maybe_refs, max_size=8).map(tuple),
        st.integers(0, 2**64 - 1),
        st.integers(1, 256),
        st.sampled_from(["new", "joining", "active", "leaving", "stopped"]),
        st.integers(0, 2**64 - 1),
    ),
    st.builds(KeyList, node_refs, entry_tuples),
)

ME = NodeRef(2**159 + 12345, "127.0.0.1:7000")
PEER = NodeRef(0, "[::1]:7001")


# ------------------------------------------------------------------------------------------ ids


@given(ids)
def test_id_round_trip(value: int) -> None:
    data = encode_id(value)
    assert decode_id(data) == value
    assert len(data) <= 32


def test_id_encoding_is_minimal_big_endian() -> None:
    assert encode_id(0) == b""
    assert encode_id(1) == b"\x01"
    assert encode_id(256) == b"\x01\x00"
    assert encode_id(2**160 - 1) == b"\xff" * 20
    assert decode_id(b"\x00\x00\x01") == 1  # leading zeros are accepted


@pytest.mark.parametrize("value", [-1, 2**256, 2**300])
def test_id_out_of_range_is_refused(value: int) -> None:
    with pytest.raises(CodecError, match="out of range"):
        encode_id(value)


def test_id_longer_than_32_bytes_is_malformed() -> None:
    with pytest.raises(CodecError, match="33 bytes"):
        decode_id(b"\x01" * 33, "x")


# ------------------------------------------------------------------------------------------ round trips


@given(requests)
def test_request_round_trip(request: Request) -> None:
    method = method_for(request)
    message = request_to_proto(request)
    assert isinstance(message, method.request_pb)
    assert request_from_proto(message) == request
    assert request_from_bytes(method, message.SerializeToString()) == request


@given(responses)
def test_response_round_trip(response: Response) -> None:
    message = response_to_proto(response)
    assert response_from_proto(message) == response
    assert response_from_proto(parse_message(type(message), message.SerializeToString())) == response


@given(node_refs)
def test_noderef_round_trip(ref: NodeRef) -> None:
    assert noderef_from_proto(noderef_to_proto(ref)) == ref


@given(entries)
def test_entry_round_trip(entry: Entry) -> None:
    assert entry_from_proto(entry_to_proto(entry)) == entry


def test_160_bit_ids_none_predecessor_and_tombstones() -> None:
    tombstone = Entry("gone", 2**160 - 1, b"", 7, deleted=True)
    live = Entry("here", 2**159, b"\x00\xff", 1)
    state = NodeState(ME, None, (PEER,), (None, PEER, None), 1, 160, "active")
    transfer = TransferKeys(ME, (tombstone, live), leaving=True, predecessor=None)
    assert response_from_proto(response_to_proto(state)) == state
    assert request_from_proto(request_to_proto(transfer)) == transfer
    wire = response_to_proto(Neighbours(ME, None, ()))
    assert isinstance(wire, pb.Neighbours)
    assert not wire.HasField("predecessor")
    decoded = response_from_proto(wire)
    assert isinstance(decoded, Neighbours)
    assert decoded.predecessor is None
    reply = DataReply(2**160 - 1, PEER, (ME, PEER), found=False, entry=tombstone, timeouts=1)
    back = response_from_proto(response_to_proto(reply))
    assert back == reply
    assert isinstance(back, DataReply)
    assert back.hops == 1


def test_every_request_type_has_one_method() -> None:
    request_types = set(get_args(Request))
    assert {m.request_type for m in METHODS.values()} == request_types
    assert len(METHODS) == len(request_types)
    response_types = set(get_args(Response)) - {ErrorReply}
    assert {m.reply_type for m in METHODS.values()} == response_types


# ------------------------------------------------------------------------------------------ malformed input


def _ref(id_bytes: bytes = b"\x01", address: str = "h:1") -> pb.NodeRef:
    return pb.NodeRef(id=id_bytes, address=address)


@pytest.mark.parametrize(
    ("message", "needle"),
    [
        (pb.NotifyRequest(), "Notify.node is missing"),
        (pb.TransferKeysRequest(), "TransferKeys.sender is missing"),
        (pb.LeaveNoticeRequest(), "LeaveNotice.leaving is missing"),
        (pb.FindStepRequest(key_id=b"\x01" * 33), "FindStep.key_id"),
        (pb.FindStepRequest(avoid=[b"", b"\x02" * 40]), r"FindStep.avoid\[1\]"),
        (pb.NotifyRequest(node=_ref(id_bytes=b"\x01" * 33)), "Notify.node.id"),
        (pb.NotifyRequest(node=_ref(address="")), "empty address"),
        (
            pb.TransferKeysRequest(sender=_ref(), entries=[pb.Entry(key="k", key_id=b"\x00" * 33)]),
            r"TransferKeys.entries\[0\].key_id",
        ),
        (pb.Pong(), "not a request"),
    ],
)
def test_malformed_requests_raise_codec_error(message: pb.NotifyRequest, needle: str) -> None:
    with pytest.raises(CodecError, match=needle):
        request_from_proto(message)


@pytest.mark.parametrize(
    ("message", "needle"),
    [
        (pb.Pong(), "Pong.node is missing"),
        (pb.Neighbours(), "Neighbours.node is missing"),
        (pb.Neighbours(node=_ref(), successors=[_ref(address="")]), r"Neighbours.successors\[0\]"),
        (pb.DataReply(key_id=b"\x01"), "DataReply.owner is missing"),
        (pb.DataReply(owner=_ref(), key_id=b"\x01" * 33), "DataReply.key_id"),
        (pb.NodeState(), "NodeState.node is missing"),
        (pb.NodeState(node=_ref(), fingers=[pb.FingerSlot(node=_ref(address=""))]), r"fingers\[0\]"),
        (pb.KeyList(), "KeyList.node is missing"),
        (pb.StoreReply(redirect=_ref(id_bytes=b"\x07" * 64)), "StoreReply.redirect.id"),
        (pb.PingRequest(), "not a reply"),
    ],
)
def test_malformed_responses_raise_codec_error(message: pb.Pong, needle: str) -> None:
    with pytest.raises(CodecError, match=needle):
        response_from_proto(message)


def test_garbage_bytes_raise_codec_error() -> None:
    with pytest.raises(CodecError, match="malformed FindStepRequest"):
        request_from_bytes(METHODS["FindStep"], b"\x0f\xff\xff\xff")
    with pytest.raises(CodecError, match="malformed Pong"):
        response_from_bytes(METHODS["Ping"], b"\x0a\xff")


def test_codec_error_is_a_value_error() -> None:
    assert issubclass(CodecError, ValueError)


@pytest.mark.parametrize(
    "value",
    [
        ClientGet("\ud800"),  # not encodable as UTF-8
        FindStep(-1),
        FindStep(1, (2**256,)),
        TransferKeys(ME, (Entry("k", 1, b"", -1),)),
        TransferKeys(ME, (Entry("k", 1, b"", 2**64),)),
    ],
)
def test_unencodable_requests_raise_codec_error(value: Request) -> None:
    with pytest.raises(CodecError):
        request_to_proto(value)


def test_error_reply_has_no_message_form() -> None:
    with pytest.raises(CodecError, match="status"):
        response_to_proto(ErrorReply("invalid", "no"))


# ------------------------------------------------------------------------------------------ events

EVENTS: list[Event] = [
    NodeJoined(1.5, ME, PEER),
    NodeJoined(0.0, ME, None),
    SuccessorChanged(2.0, ME, None, PEER, (PEER, ME)),
    PredecessorChanged(3.0, ME, PEER, None),
    FingerUpdated(4.0, ME, 159, None),
    FingerUpdated(4.5, ME, 3, PEER),
    KeysTransferred(5.0, ME, PEER, 12, True, "leave"),
    LookupCompleted(6.0, ME, 2**160 - 1, (ME, PEER), 1, "get"),
    LookupFailed(7.0, ME, 2**159, "no route", "put"),
    KeyWritten(8.0, ME, "clé", 3, False),
    NodeLeft(9.0, ME),
    PeerFailedEvent(10.0, ME, PEER, "stabilize"),
    InvariantViolated(11.0, ME, "OrderedRing", (2**159, 5), "5 lies between"),
    ReplicasWritten(12.0, ME, "k", 4, (PEER,)),
    ReplicasRepaired(13.0, ME, PEER, 3, 1),
    StaleRead(14.0, ME, "k", 2, 3),
]


def test_every_event_type_is_covered() -> None:
    assert {type(e) for e in EVENTS} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.kind)
def test_event_round_trip(event: Event) -> None:
    form = event_to_dict(event)
    assert json.loads(json.dumps(form)) == form  # JSON-able as is
    assert list(form)[:3] == ["kind", "time", "node"]
    assert form["kind"] == event.kind
    assert form["time"] == event.time
    message = event_to_proto(event)
    assert message.kind == event.kind
    assert message.time == event.time
    assert event_from_proto(parse_message(pb.WatchEvent, message.SerializeToString())) == form


def test_event_dict_shapes() -> None:
    lookup = event_to_dict(LookupCompleted(6.0, ME, 2**160 - 1, (ME, PEER), 1, "get"))
    me = {"id": str(ME.id), "address": ME.address}
    peer = {"id": "0", "address": PEER.address}
    assert lookup == {
        "kind": "lookup_completed",
        "time": 6.0,
        "node": me,
        "key_id": str(2**160 - 1),
        "path": [me, peer],
        "timeouts": 1,
        "purpose": "get",
    }
    changed = event_to_dict(SuccessorChanged(2.0, ME, None, PEER, (PEER,)))
    assert changed["old"] is None
    assert changed["new"] == peer
    assert changed["successors"] == [peer]
    assert event_to_dict(FingerUpdated(4.0, ME, 7, None))["index"] == 7
    assert json.loads(event_to_proto(NodeLeft(1.0, ME)).fields_json) == {}


@given(st.floats(allow_nan=False, allow_infinity=False), node_refs, ids_160, st.lists(node_refs, max_size=4))
def test_lookup_event_round_trip(time: float, node: NodeRef, key_id: int, path: list[NodeRef]) -> None:
    event = LookupCompleted(time, node, key_id, tuple(path), 0, "lookup")
    assert event_from_proto(event_to_proto(event)) == event_to_dict(event)


@pytest.mark.parametrize(
    ("message", "needle"),
    [
        (pb.WatchEvent(kind="left"), "WatchEvent.node is missing"),
        (pb.WatchEvent(node=_ref()), "kind is empty"),
        (pb.WatchEvent(kind="left", node=_ref(), fields_json="{"), "not JSON"),
        (pb.WatchEvent(kind="left", node=_ref(), fields_json="[1]"), "not an object"),
        (pb.WatchEvent(kind="left", node=_ref(), fields_json='{"time": 1}'), "reserved"),
    ],
)
def test_malformed_events_raise_codec_error(message: pb.WatchEvent, needle: str) -> None:
    with pytest.raises(CodecError, match=needle):
        event_from_proto(message)
