"""What only the TCP carrier has: its framing spoken by hand, its msgpack schema, backpressure,
shared connections and carrier detection. The behaviour every carrier shares is in
``test_conformance.py``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import msgpack
import pytest

from chordial.core.messages import ClientGet, DataReply, Entry, ErrorReply, FetchReply, FindStep, Ping, Pong
from chordial.transport import wire
from chordial.transport.base import TransportError, Unreachable
from chordial.transport.carriers import AutoTransport, make_transport
from chordial.transport.codec import CodecError
from chordial.transport.grpc import GrpcTransport
from chordial.transport.tcp import (
    K_ERROR,
    K_FATAL,
    K_REPLY,
    K_REQUEST,
    MAGIC,
    TcpServer,
    TcpTransport,
    WrongCarrier,
    frame,
)
from tests.transport.toy import EXCHANGES, ME, Toy


@pytest.fixture
async def tcp() -> AsyncIterator[TcpTransport]:
    transport = TcpTransport()
    yield transport
    await transport.close()


@pytest.fixture
async def server(tcp: TcpTransport) -> AsyncIterator[TcpServer]:
    toy = Toy()
    endpoint = await tcp.serve("127.0.0.1:0", toy.handle, toy.events)
    yield endpoint
    await endpoint.stop()


class Raw:
    """A hand-driven connection that speaks the framing byte by byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, address: str, handshake: bool = True) -> Raw:
        host, _, port = address.rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        raw = cls(reader, writer)
        if handshake:
            writer.write(MAGIC)
            assert await asyncio.wait_for(reader.readexactly(len(MAGIC)), 2) == MAGIC
        return raw

    async def frame(self) -> tuple[int, int, int, bytes]:
        head = await asyncio.wait_for(self.reader.readexactly(10), 2)
        length = int.from_bytes(head[:4], "big")
        body = await asyncio.wait_for(self.reader.readexactly(length - 6), 2)
        return head[4], int.from_bytes(head[5:9], "big"), head[9], body

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 2) == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


# ------------------------------------------------------------------------------------------ schema


def test_every_exchange_survives_the_msgpack_schema() -> None:
    for request, reply in EXCHANGES:
        for message in (request, reply):
            tag, body = wire.encode(message)
            assert wire.decode(tag, body) == message


def test_missing_trailing_fields_take_their_defaults() -> None:
    tag = wire.tag_of(FindStep(1))
    assert wire.decode(tag, msgpack.packb([b"\x05"])) == FindStep(5)


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ([b"\x01" * 33, []], "at most 32 bytes"),
        ([5, []], "at most 32 bytes"),
        ([b"\x01", [7]], "at most 32 bytes"),
        ([b"\x01", [], True, "extra"], "fields"),
        ([], "fields"),
        ("not a list", "fields"),
    ],
)
def test_malformed_fields_are_codec_errors(fields: object, why: str) -> None:
    with pytest.raises(CodecError, match=why):
        wire.decode(wire.tag_of(FindStep(1)), msgpack.packb(fields))


GOOD_ENTRY = ["k", b"\x05", b"v", 3, False, b"\x09"]


@pytest.mark.parametrize(
    ("index", "value", "why"),
    [
        (0, b"k", "expected a string"),
        (1, b"\x01" * 33, "at most 32 bytes"),
        (1, 5, "at most 32 bytes"),
        (2, "v", "expected bytes"),
        (3, -1, "negative version"),
        (3, 1.5, "expected an integer"),
        (4, 0, "expected a boolean"),
        (5, b"\x01" * 33, "at most 32 bytes"),
    ],
)
def test_malformed_entries_are_codec_errors(index: int, value: object, why: str) -> None:
    fields = list(GOOD_ENTRY)
    fields[index] = value
    tag = wire.tag_of(FetchReply())
    assert wire.decode(tag, msgpack.packb([GOOD_ENTRY, None])) == FetchReply(Entry("k", 5, b"v", 3, False, 9))
    with pytest.raises(CodecError, match=why):
        wire.decode(tag, msgpack.packb([fields, None]))


def test_entries_round_trip_and_refuse_ids_out_of_range() -> None:
    for entry in (Entry("k", 0, b"", 0), Entry("é" * 40, 2**256 - 1, b"\x00" * 300, 2**40, True, 2**63 - 1)):
        tag, body = wire.encode(FetchReply(entry))
        assert wire.decode(tag, body) == FetchReply(entry)
    assert wire.decode(*wire.encode(FetchReply(Entry("k", 1, b"", 1)))) == FetchReply(Entry("k", 1, b"", 1))
    with pytest.raises(CodecError, match="out of range"):
        wire.encode(FetchReply(Entry("k", 2**256, b"", 1)))
    with pytest.raises(CodecError, match="out of range"):
        wire.encode(FetchReply(Entry("k", 1, b"", 1, request_id=-1)))


def test_bytes_that_are_not_msgpack_are_codec_errors() -> None:
    with pytest.raises(CodecError, match="malformed"):
        wire.decode(wire.tag_of(Ping()), b"\xc1")
    with pytest.raises(CodecError, match="unknown message type"):
        wire.decode(250, b"\x90")


def test_values_out_of_range_are_refused_on_encoding() -> None:
    with pytest.raises(CodecError, match="out of range"):
        wire.encode(FindStep(2**256))


# ------------------------------------------------------------------------------------------ framing


async def test_a_hand_made_request_is_answered(server: TcpServer) -> None:
    raw = await Raw.open(server.address)
    try:
        tag, body = wire.encode(Ping())
        raw.writer.write(frame(K_REQUEST, 77, tag, body))
        kind, rid, rtag, rbody = await raw.frame()
        assert (kind, rid) == (K_REPLY, 77)
        assert wire.decode(rtag, rbody) == Pong(ME, 160)
    finally:
        await raw.close()


async def test_undecodable_requests_get_an_invalid_error_and_the_connection_serves_on(server: TcpServer) -> None:
    raw = await Raw.open(server.address)
    try:
        tag = wire.tag_of(FindStep(1))
        raw.writer.write(frame(K_REQUEST, 1, tag, msgpack.packb([b"\x01" * 40, []])))
        raw.writer.write(frame(K_REQUEST, 2, 200, b"\x90"))  # no such type
        raw.writer.write(frame(K_REQUEST, 3, wire.tag_of(Pong(ME, 1)), wire.encode(Pong(ME, 1))[1]))  # a reply
        raw.writer.write(frame(42, 4, 0, b""))  # no such frame kind
        for rid in (1, 2, 3, 4):
            kind, got, _, body = await raw.frame()
            assert (kind, got) == (K_ERROR, rid)
            code, message = msgpack.unpackb(body)
            assert code == "invalid" and message
        tag, body = wire.encode(Ping())
        raw.writer.write(frame(K_REQUEST, 5, tag, body))
        assert (await raw.frame())[:2] == (K_REPLY, 5)
    finally:
        await raw.close()


async def test_an_oversized_frame_gets_a_reason_then_the_connection_closes(
    tcp: TcpTransport, server: TcpServer
) -> None:
    raw = await Raw.open(server.address)
    try:
        raw.writer.write((2**31).to_bytes(4, "big") + b"\x01" * 16)
        kind, _, _, body = await raw.frame()
        assert kind == K_FATAL
        assert b"frame of 2147483648 bytes" in body
        assert await raw.closed()
    finally:
        await raw.close()
    assert await tcp.call(server.address, Ping(), 2) == Pong(ME, 160)


async def test_a_connection_without_the_handshake_is_told_and_closed(server: TcpServer) -> None:
    raw = await Raw.open(server.address, handshake=False)
    try:
        raw.writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        assert await asyncio.wait_for(raw.reader.readexactly(len(MAGIC)), 2) == MAGIC
        kind, _, _, body = await raw.frame()
        assert kind == K_FATAL and b"handshake" in body
        assert await raw.closed()
    finally:
        await raw.close()


async def test_a_server_that_breaks_the_protocol_fails_the_calls_on_that_connection() -> None:
    async def liar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(len(MAGIC))
        writer.write(MAGIC + (2**30).to_bytes(4, "big") + b"\x02")
        await writer.drain()
        await reader.read()
        writer.close()

    listener = await asyncio.start_server(liar, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    transport = TcpTransport()
    try:
        with pytest.raises(TransportError, match="frame of"):
            await transport.call(f"127.0.0.1:{port}", Ping(), 2)
    finally:
        await transport.close()
        listener.close()
        await listener.wait_closed()


# ------------------------------------------------------------------------------------------ flow


async def test_in_flight_calls_per_peer_are_bounded(server: TcpServer) -> None:
    transport = TcpTransport(max_in_flight=4)
    try:
        began = time.monotonic()
        replies = await asyncio.gather(*(transport.call(server.address, ClientGet("sleep:0.2"), 5) for _ in range(12)))
        assert all(isinstance(r, DataReply) for r in replies)
        assert time.monotonic() - began >= 0.55  # three waves of four
        calls = (transport.call(server.address, ClientGet("sleep:0.5"), 0.3) for _ in range(8))
        failures = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(f, TransportError) for f in failures)
        assert sum("too many calls in flight" in str(f) for f in failures) == 4  # never sent
    finally:
        await transport.close()


async def test_one_transport_serves_many_nodes_over_shared_connections(tcp: TcpTransport) -> None:
    toys = [Toy() for _ in range(20)]
    servers = [await tcp.serve("127.0.0.1:0", toy.handle) for toy in toys]
    try:
        for _ in range(2):
            for a in servers:
                assert await tcp.call(a.address, Ping(), 2) == Pong(ME, 160)
        assert len(tcp._connections) == len(servers)  # one per peer, reused
    finally:
        for endpoint in servers:
            await endpoint.stop()


async def test_pipelined_calls_get_their_own_replies(tcp: TcpTransport, server: TcpServer) -> None:
    requests: list[FindStep | Ping] = [FindStep(2**160 - 1, (2**160 - 1, 0, 7)), FindStep(0), Ping()] * 200
    replies = await asyncio.gather(*(tcp.call(server.address, r, 5) for r in requests))
    expected = {req: rep for req, rep in EXCHANGES if isinstance(req, FindStep | Ping)}
    assert replies == [expected[r] for r in requests]


# ------------------------------------------------------------------------------------------ carriers


async def test_tcp_to_a_grpc_node_fails_at_once_with_a_hint() -> None:
    toy = Toy()
    grpc_side = GrpcTransport()
    endpoint = await grpc_side.serve("127.0.0.1:0", toy.handle)
    tcp = TcpTransport()
    try:
        with pytest.raises(WrongCarrier, match="does not speak chordial-tcp"):
            await tcp.call(endpoint.address, Ping(), 2)
    finally:
        await tcp.close()
        await endpoint.stop(0)
        await grpc_side.close()


async def test_auto_transport_speaks_each_nodes_carrier() -> None:
    toy = Toy()
    grpc_side, tcp_side = make_transport("grpc"), make_transport("tcp")
    a = await grpc_side.serve("127.0.0.1:0", toy.handle)
    b = await tcp_side.serve("127.0.0.1:0", toy.handle)
    auto = AutoTransport()
    try:
        for _ in range(2):
            assert await auto.call(a.address, Ping(), 2) == Pong(ME, 160)
            assert await auto.call(b.address, Ping(), 2) == Pong(ME, 160)
        assert (auto.carrier_of(a.address), auto.carrier_of(b.address)) == ("grpc", "tcp")
        reply = await auto.call(b.address, ClientGet("invalid"), 2)
        assert isinstance(reply, ErrorReply) and reply.code == "invalid"
        with pytest.raises(Unreachable):
            await auto.call("127.0.0.1:1", Ping(), 1)
    finally:
        await auto.close()
        await a.stop()
        await b.stop()
        await grpc_side.close()
        await tcp_side.close()


def test_unknown_carriers_are_refused() -> None:
    with pytest.raises(ValueError, match="transport must be one of"):
        make_transport("carrier-pigeon")


def test_the_carrier_runs_on_uvloop() -> None:
    """Nodes started by the CLI and the benchmarks run on uvloop, whose transports differ."""
    uvloop = pytest.importorskip("uvloop")

    async def exchange() -> list[object]:
        transport = TcpTransport()
        toy = Toy()
        endpoint = await transport.serve("127.0.0.1:0", toy.handle, toy.events)
        try:
            replies: list[object] = [await transport.call(endpoint.address, request, 2) for request, _ in EXCHANGES]
            return replies
        finally:
            await endpoint.stop()
            await transport.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(exchange()) == [reply for _, reply in EXCHANGES]
