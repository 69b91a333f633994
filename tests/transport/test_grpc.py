"""The gRPC carrier against real gRPC on 127.0.0.1 (port 0)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import get_args

import grpc
import grpc.aio
import pytest

from chordial.core.events import Event, KeyWritten, NodeLeft, SuccessorChanged
from chordial.core.messages import (
    Ack,
    ClientGet,
    ClientPut,
    DataReply,
    Entry,
    ErrorCode,
    ErrorReply,
    FindStep,
    GetState,
    KeyList,
    ListKeys,
    Neighbours,
    NodeRef,
    NodeState,
    Notify,
    Ping,
    Pong,
    Request,
    Response,
    StepReply,
)
from chordial.proto import chordial_pb2 as pb
from chordial.transport.base import Server, Transport, TransportError, Unreachable
from chordial.transport.codec import METHODS, WATCH_PATH, event_to_dict
from chordial.transport.grpc import ERROR_METADATA_KEY, STATUS_FOR_ERROR, GrpcServer, GrpcTransport
from tests.transport.toy import EventFeed

ME = NodeRef(2**160 - 3, "127.0.0.1:7000")
PEER = NodeRef(42, "127.0.0.1:7001")
ENTRY = Entry("k", 2**159 + 1, b"v", 2)
TOMBSTONE = Entry("gone", 5, b"", 3, deleted=True)


class Toy(EventFeed):
    """A handler with canned answers, and an event feed."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Request] = []

    async def handle(self, request: Request) -> Response:
        self.seen.append(request)
        match request:
            case Ping():
                return Pong(ME, 160)
            case FindStep(key_id=key_id, avoid=avoid):
                return StepReply(key_id in avoid, (PEER, ME))
            case ClientPut(key=key, value=value):
                entry = Entry(key, 2**159 + 1, value, 1)
                return DataReply(entry.key_id, PEER, (ME, PEER), entry=entry)
            case ClientGet(key="boom"):
                raise RuntimeError("the handler broke")
            case ClientGet(key="wrong-type"):
                return Ack()
            case ClientGet(key="slow"):
                await asyncio.sleep(10)
                return Ack()
            case ClientGet(key=key) if key in get_args(ErrorCode):
                return ErrorReply(key, f"refused with {key} ✗")  # type: ignore[arg-type]
            case GetState():
                return NodeState(ME, None, (PEER,), (None, PEER), 1, 160, "active")
            case ListKeys():
                return KeyList(ME, (ENTRY, TOMBSTONE))
            case Notify():
                return Neighbours(ME, PEER, (PEER,))
        return ErrorReply("invalid", f"unexpected {type(request).__name__}")


@pytest.fixture
def toy() -> Toy:
    return Toy()


@pytest.fixture
async def transport() -> AsyncIterator[GrpcTransport]:
    carrier = GrpcTransport()
    yield carrier
    await carrier.close()


@pytest.fixture
async def server(transport: GrpcTransport, toy: Toy) -> AsyncIterator[GrpcServer]:
    endpoint = await transport.serve("127.0.0.1:0", toy.handle, toy.events)
    yield endpoint
    await endpoint.stop(0)


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def raw_call(address: str, method: str, payload: bytes) -> grpc.aio.AioRpcError:
    """Call ``method`` with raw bytes on a plain channel; return the error status it ends with."""
    async with grpc.aio.insecure_channel(address) as channel:
        multicallable: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await multicallable(payload, timeout=5)
    return failure.value


# ------------------------------------------------------------------------------------------ basics


def test_grpc_transport_is_a_transport() -> None:
    carrier: Transport = GrpcTransport()
    assert carrier is not None


async def test_serve_reports_the_real_port(server: GrpcServer) -> None:
    endpoint: Server = server
    host, _, port = endpoint.address.rpartition(":")
    assert host == "127.0.0.1"
    assert int(port) > 0
    assert server.port == int(port)


async def test_round_trips(transport: GrpcTransport, server: GrpcServer, toy: Toy) -> None:
    address = server.address
    assert await transport.call(address, Ping(), 2) == Pong(ME, 160)
    assert await transport.call(address, FindStep(2**160 - 1, (2**160 - 1, 0)), 2) == StepReply(True, (PEER, ME))
    reply = await transport.call(address, ClientPut("k", b"\x00value"), 2)
    assert isinstance(reply, DataReply)
    assert reply.owner == PEER
    assert reply.hops == 1
    assert reply.entry == Entry("k", 2**159 + 1, b"\x00value", 1)
    assert await transport.call(address, GetState(), 2) == NodeState(ME, None, (PEER,), (None, PEER), 1, 160, "active")
    assert await transport.call(address, ListKeys(True), 2) == KeyList(ME, (ENTRY, TOMBSTONE))
    assert await transport.call(address, Notify(PEER), 2) == Neighbours(ME, PEER, (PEER,))
    assert toy.seen[1] == FindStep(2**160 - 1, (2**160 - 1, 0))
    assert toy.seen[-1] == Notify(PEER)
    assert len(transport._channels) == 1  # one channel per address, reused


async def test_concurrent_calls_share_the_channel(transport: GrpcTransport, server: GrpcServer) -> None:
    replies = await asyncio.gather(*(transport.call(server.address, Ping(), 2) for _ in range(20)))
    assert replies == [Pong(ME, 160)] * 20


async def test_close_then_call_again(transport: GrpcTransport, server: GrpcServer) -> None:
    assert await transport.call(server.address, Ping(), 2) == Pong(ME, 160)
    await transport.close()
    assert await transport.call(server.address, Ping(), 2) == Pong(ME, 160)


# ------------------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize("code", get_args(ErrorCode))
async def test_error_reply_travels_as_status(transport: GrpcTransport, server: GrpcServer, code: str) -> None:
    reply = await transport.call(server.address, ClientGet(code), 2)
    assert reply == ErrorReply(code, f"refused with {code} ✗")  # type: ignore[arg-type]

    payload = pb.GetRequest(key=code).SerializeToString()
    error = await raw_call(server.address, METHODS["Get"].path, payload)
    assert error.code() == STATUS_FOR_ERROR[code]  # type: ignore[index]
    assert (ERROR_METADATA_KEY, code) in list(error.trailing_metadata())


def test_every_error_code_has_a_status() -> None:
    assert set(STATUS_FOR_ERROR) == set(get_args(ErrorCode))
    assert STATUS_FOR_ERROR["invalid"] == grpc.StatusCode.INVALID_ARGUMENT
    assert STATUS_FOR_ERROR["not_found"] == grpc.StatusCode.NOT_FOUND
    assert STATUS_FOR_ERROR["unavailable"] == grpc.StatusCode.UNAVAILABLE
    assert STATUS_FOR_ERROR["failed_precondition"] == grpc.StatusCode.FAILED_PRECONDITION
    assert STATUS_FOR_ERROR["internal"] == grpc.StatusCode.INTERNAL


async def test_handler_crash_is_internal_without_traceback(
    transport: GrpcTransport, server: GrpcServer, caplog: pytest.LogCaptureFixture
) -> None:
    reply = await transport.call(server.address, ClientGet("boom"), 2)
    assert isinstance(reply, ErrorReply)
    assert reply.code == "internal"
    assert "the handler broke" in reply.message
    assert "Traceback" not in reply.message
    assert "handler failed" in caplog.text
    assert await transport.call(server.address, Ping(), 2) == Pong(ME, 160)


async def test_reply_of_the_wrong_type_is_internal(transport: GrpcTransport, server: GrpcServer) -> None:
    reply = await transport.call(server.address, ClientGet("wrong-type"), 2)
    assert isinstance(reply, ErrorReply)
    assert reply.code == "internal"
    assert "Ack" in reply.message


# ------------------------------------------------------------------------------------------ failures


async def test_closed_port_raises_within_the_deadline(transport: GrpcTransport) -> None:
    start = time.monotonic()
    with pytest.raises(TransportError) as failure:
        await transport.call(f"127.0.0.1:{closed_port()}", Ping(), 2.0)
    assert time.monotonic() - start < 2.5
    assert "127.0.0.1:" in str(failure.value)
    assert "UNAVAILABLE" in str(failure.value) or "DEADLINE_EXCEEDED" in str(failure.value)


async def test_slow_handler_raises_at_the_deadline(transport: GrpcTransport, server: GrpcServer) -> None:
    start = time.monotonic()
    with pytest.raises(TransportError) as failure:
        await transport.call(server.address, ClientGet("slow"), 0.3)
    elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < 2.0
    assert server.address in str(failure.value)
    assert "DEADLINE_EXCEEDED" in str(failure.value)
    assert not isinstance(failure.value, Unreachable)


async def test_malformed_address_is_unreachable(transport: GrpcTransport) -> None:
    with pytest.raises(Unreachable, match="malformed address"):
        await transport.call("no-port", Ping(), 1)


async def test_stopped_server_is_unreachable(transport: GrpcTransport, toy: Toy) -> None:
    endpoint = await transport.serve("127.0.0.1:0", toy.handle)
    assert await transport.call(endpoint.address, Ping(), 2) == Pong(ME, 160)
    await endpoint.stop(0)
    with pytest.raises(TransportError):
        await transport.call(endpoint.address, Ping(), 1)


async def test_busy_port_cannot_be_served(transport: GrpcTransport, server: GrpcServer, toy: Toy) -> None:
    with pytest.raises(TransportError, match="cannot listen"):
        await transport.serve(server.address, toy.handle)


async def test_serve_refuses_malformed_address(transport: GrpcTransport, toy: Toy) -> None:
    with pytest.raises(ValueError, match="malformed address"):
        await transport.serve("127.0.0.1", toy.handle)


# ------------------------------------------------------------------------------------------ malformed input


@pytest.mark.parametrize("method", ["FindStep", "Notify", "Put", "TransferKeys"])
async def test_garbage_is_refused_and_the_server_keeps_serving(
    transport: GrpcTransport, server: GrpcServer, method: str
) -> None:
    error = await raw_call(server.address, f"/chordial.v1.Chord/{method}", b"\x0f\xff\xff\xff\xff")
    assert error.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL)
    assert "Traceback" not in (error.details() or "")
    assert await transport.call(server.address, Ping(), 2) == Pong(ME, 160)


async def test_well_formed_protobuf_with_bad_values_is_invalid(server: GrpcServer) -> None:
    payload = pb.FindStepRequest(key_id=b"\x01" * 33).SerializeToString()
    error = await raw_call(server.address, METHODS["FindStep"].path, payload)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "FindStep.key_id" in (error.details() or "")
    assert (ERROR_METADATA_KEY, "invalid") in list(error.trailing_metadata())

    error = await raw_call(server.address, METHODS["Notify"].path, b"")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Notify.node is missing" in (error.details() or "")


async def test_unknown_method_is_unimplemented(server: GrpcServer) -> None:
    error = await raw_call(server.address, "/chordial.v1.Chord/Teleport", b"")
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED


# ------------------------------------------------------------------------------------------ watch


async def collect(stream: AsyncIterator[dict[str, object]], into: list[dict[str, object]]) -> None:
    async for event in stream:
        into.append(event)


async def test_watch_streams_events_until_the_server_stops(
    transport: GrpcTransport, server: GrpcServer, toy: Toy
) -> None:
    received: list[dict[str, object]] = []
    consumer = asyncio.create_task(collect(transport.watch(server.address, timeout_first=2), received))
    await eventually(lambda: len(toy.subscribers) == 1)
    events: list[Event] = [
        SuccessorChanged(1.0, ME, None, PEER, (PEER,)),
        KeyWritten(2.0, ME, "k", 1, False),
        NodeLeft(3.0, ME),
    ]
    for event in events:
        toy.publish(event)
    await eventually(lambda: len(received) == len(events))
    assert received == [event_to_dict(e) for e in events]

    await server.stop(0.5)
    await asyncio.wait_for(consumer, 5)  # the stream ends cleanly
    assert toy.subscribers == []


async def test_watch_unsubscribes_when_the_client_goes(transport: GrpcTransport, server: GrpcServer, toy: Toy) -> None:
    stream = transport.watch(server.address)
    first = asyncio.ensure_future(anext(stream))
    await eventually(lambda: len(toy.subscribers) == 1)
    toy.publish(NodeLeft(1.0, ME))
    assert (await asyncio.wait_for(first, 5))["kind"] == "left"
    await stream.aclose()  # type: ignore[attr-defined]
    await eventually(lambda: toy.subscribers == [])
    assert await transport.call(server.address, Ping(), 2) == Pong(ME, 160)


async def test_two_watchers_get_the_same_events(transport: GrpcTransport, server: GrpcServer, toy: Toy) -> None:
    a: list[dict[str, object]] = []
    b: list[dict[str, object]] = []
    consumers = [
        asyncio.create_task(collect(transport.watch(server.address), a)),
        asyncio.create_task(collect(transport.watch(server.address), b)),
    ]
    await eventually(lambda: len(toy.subscribers) == 2)
    toy.publish(NodeLeft(1.0, ME))
    await eventually(lambda: len(a) == len(b) == 1)
    assert a == b
    for consumer in consumers:
        consumer.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)
    await eventually(lambda: toy.subscribers == [])


async def test_watch_without_watcher_is_refused(transport: GrpcTransport, toy: Toy) -> None:
    endpoint = await transport.serve("127.0.0.1:0", toy.handle)
    try:
        with pytest.raises(TransportError, match="UNIMPLEMENTED"):
            await anext(transport.watch(endpoint.address))
    finally:
        await endpoint.stop(0)


async def test_watch_closed_port_raises(transport: GrpcTransport) -> None:
    start = time.monotonic()
    with pytest.raises(TransportError):
        await anext(transport.watch(f"127.0.0.1:{closed_port()}", timeout_first=2))
    assert time.monotonic() - start < 2.5


async def test_watch_raw_stream_has_no_deadline_and_sends_headers(server: GrpcServer, toy: Toy) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        multicallable: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(WATCH_PATH)
        call = multicallable(pb.WatchRequest().SerializeToString())
        await asyncio.wait_for(call.initial_metadata(), 2)
        assert len(toy.subscribers) == 1  # subscribed before the headers went out
        toy.publish(NodeLeft(1.0, ME))
        data = await asyncio.wait_for(call.read(), 2)
        assert isinstance(data, bytes)
        event = pb.WatchEvent.FromString(data)
        assert (event.kind, event.time, event.fields_json) == ("left", 1.0, "{}")
        call.cancel()


async def test_messages_beyond_the_grpc_default_limit(transport: GrpcTransport, server: GrpcServer) -> None:
    value = bytes(range(256)) * (6 * 4096)  # 6 MiB, above gRPC's default 4 MiB
    reply = await transport.call(server.address, ClientPut("big", value), 10)
    assert isinstance(reply, DataReply)
    assert reply.entry is not None
    assert reply.entry.value == value


async def test_stop_twice_and_port_is_free_again(transport: GrpcTransport, toy: Toy) -> None:
    endpoint = await transport.serve("127.0.0.1:0", toy.handle)
    await endpoint.stop()
    await endpoint.stop()
    again = await transport.serve(endpoint.address, toy.handle)
    try:
        assert again.address == endpoint.address
        assert await transport.call(again.address, Ping(), 2) == Pong(ME, 160)
    finally:
        await again.stop(0)
