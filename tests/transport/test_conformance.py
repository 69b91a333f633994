"""One conformance suite for every carrier (tcp and gRPC), on real sockets on 127.0.0.1.

What a node relies on from its carrier, whichever it is: every message type arrives intact in
both directions, refusals come back as ``ErrorReply``, every call ends by its deadline, a peer
that dies mid-call fails the call promptly, a peer that comes back is reachable again, and bytes
that are not the protocol (garbage, oversized frames) get a clear error without hurting the
server, which keeps serving everybody else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import get_args

import pytest

from chordial.core.events import KeyWritten, NodeLeft, SuccessorChanged
from chordial.core.messages import (
    ClientGet,
    ClientPut,
    DataReply,
    ErrorCode,
    ErrorReply,
    Ping,
    Pong,
    Response,
)
from chordial.transport.base import Server, Transport, TransportError, Unreachable
from chordial.transport.carriers import CARRIERS, make_transport
from chordial.transport.codec import event_to_dict
from tests.transport.toy import EXCHANGES, ME, PEER, Toy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=CARRIERS)
def carrier(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def toy() -> Toy:
    return Toy()


@pytest.fixture
async def transport(carrier: str) -> AsyncIterator[Transport]:
    endpoint = make_transport(carrier)
    yield endpoint
    await endpoint.close()


@pytest.fixture
async def server(transport: Transport, toy: Toy) -> AsyncIterator[Server]:
    endpoint = await transport.serve("127.0.0.1:0", toy.handle, toy.events)
    yield endpoint
    await endpoint.stop()


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


async def reachable_again(transport: Transport, address: str) -> Response:
    """Ping a peer that came back (gRPC retries a failed channel with up to a second of back-off;
    the tcp carrier reconnects on the next call)."""
    deadline = time.monotonic() + 5
    while True:
        try:
            return await transport.call(address, Ping(), 2)
        except TransportError:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)


# ------------------------------------------------------------------------------------------ round trips


async def test_every_message_type_round_trips(transport: Transport, server: Server, toy: Toy) -> None:
    for request, reply in EXCHANGES:
        assert await transport.call(server.address, request, 2) == reply, request
    assert toy.seen == [request for request, _ in EXCHANGES]


async def test_large_values_round_trip(transport: Transport, server: Server) -> None:
    value = bytes(range(256)) * (6 * 4096)  # 6 MiB, above gRPC's default limit of 4 MiB
    reply = await transport.call(server.address, ClientPut("echo", value), 10)
    assert isinstance(reply, DataReply) and reply.entry is not None
    assert reply.entry.value == value


@pytest.mark.parametrize("code", get_args(ErrorCode))
async def test_refusals_come_back_as_error_replies(transport: Transport, server: Server, code: str) -> None:
    assert await transport.call(server.address, ClientGet(code), 2) == ErrorReply(code, f"refused with {code} ✗")  # type: ignore[arg-type]


async def test_handler_crash_is_internal_and_the_server_keeps_serving(
    transport: Transport, server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    reply = await transport.call(server.address, ClientGet("boom"), 2)
    assert isinstance(reply, ErrorReply) and reply.code == "internal"
    assert "the handler broke" in reply.message and "Traceback" not in reply.message
    assert "handler failed" in caplog.text
    assert await transport.call(server.address, Ping(), 2) == Pong(ME, 160)


async def test_reply_of_the_wrong_type_is_internal(transport: Transport, server: Server) -> None:
    reply = await transport.call(server.address, ClientGet("wrong-type"), 2)
    assert isinstance(reply, ErrorReply) and reply.code == "internal" and "Ack" in reply.message


async def test_concurrent_calls_complete_out_of_order(transport: Transport, server: Server) -> None:
    """Slow and fast calls share the peer: the fast ones are not held up behind the slow ones."""
    began = time.monotonic()
    slow = [asyncio.ensure_future(transport.call(server.address, ClientGet("sleep:0.5"), 5)) for _ in range(5)]
    fast = await asyncio.gather(*(transport.call(server.address, Ping(), 5) for _ in range(100)))
    fast_done = time.monotonic() - began
    assert fast == [Pong(ME, 160)] * 100
    assert all(isinstance(r, DataReply) for r in await asyncio.gather(*slow))
    assert fast_done < 0.45


# ------------------------------------------------------------------------------------------ deadlines


async def test_slow_handler_fails_at_the_deadline(transport: Transport, server: Server) -> None:
    began = time.monotonic()
    with pytest.raises(TransportError) as failure:
        await transport.call(server.address, ClientGet("sleep:10"), 0.3)
    assert 0.25 <= time.monotonic() - began < 1.5
    assert server.address in str(failure.value)
    assert not isinstance(failure.value, Unreachable)
    assert await transport.call(server.address, Ping(), 2) == Pong(ME, 160)  # the connection still serves


async def test_closed_port_fails_within_the_deadline(transport: Transport) -> None:
    began = time.monotonic()
    with pytest.raises(TransportError, match=r"127\.0\.0\.1:"):
        await transport.call(f"127.0.0.1:{closed_port()}", Ping(), 2.0)
    assert time.monotonic() - began < 2.5


async def test_silent_peer_fails_at_the_deadline(transport: Transport) -> None:
    """A peer whose kernel accepts connections but whose process never says a word (hung)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # never accepted: connections complete in the backlog, then silence
        port = listener.getsockname()[1]
        began = time.monotonic()
        with pytest.raises(TransportError):
            await transport.call(f"127.0.0.1:{port}", Ping(), 0.5)
        assert time.monotonic() - began < 1.5
        await transport.close()


async def test_malformed_address_is_unreachable(transport: Transport) -> None:
    with pytest.raises(Unreachable, match="malformed address"):
        await transport.call("no-port", Ping(), 1)


async def test_busy_port_cannot_be_served(transport: Transport, server: Server, toy: Toy) -> None:
    with pytest.raises(TransportError, match="cannot listen"):
        await transport.serve(server.address, toy.handle)


async def test_stopped_server_is_unreachable_and_its_port_reusable(transport: Transport, toy: Toy) -> None:
    endpoint = await transport.serve("127.0.0.1:0", toy.handle)
    assert await transport.call(endpoint.address, Ping(), 2) == Pong(ME, 160)
    await endpoint.stop()
    await endpoint.stop()
    with pytest.raises(TransportError):
        await transport.call(endpoint.address, Ping(), 1)
    again = await transport.serve(endpoint.address, toy.handle)
    try:
        assert await reachable_again(transport, again.address) == Pong(ME, 160)
    finally:
        await again.stop()


# ------------------------------------------------------------------------------------------ peer death


class Peer:
    """The toy server in its own process, so that it can die for real (SIGKILL)."""

    def __init__(self, carrier: str, port: int = 0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.transport.toy", carrier, str(port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.process.stdout is not None
        self.address = self.process.stdout.readline().strip()
        assert self.address, "the toy server did not start"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


async def test_peer_death_mid_call_fails_the_call_promptly_then_it_comes_back(
    transport: Transport, carrier: str
) -> None:
    peer = await asyncio.to_thread(Peer, carrier)
    try:
        assert await transport.call(peer.address, Ping(), 5) == Pong(ME, 160)
        calls = [asyncio.ensure_future(transport.call(peer.address, ClientGet("sleep:30"), 8)) for _ in range(3)]
        await asyncio.sleep(0.3)
        began = time.monotonic()
        peer.kill()
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(r, TransportError) for r in results), results
        assert time.monotonic() - began < 3.0  # not the 8 s deadline: the broken connection tells
        with pytest.raises(TransportError):
            await transport.call(peer.address, Ping(), 1)
        port = int(peer.address.rpartition(":")[2])
        peer = await asyncio.to_thread(Peer, carrier, port)
        assert await reachable_again(transport, peer.address) == Pong(ME, 160)
    finally:
        peer.kill()


# ------------------------------------------------------------------------------------------ bad bytes


async def raw_exchange(address: str, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection; what came back before the server closed it (or 3 s)."""
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    received = b""
    try:
        writer.write(data)
        await writer.drain()
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(3):
                while chunk := await reader.read(1 << 16):
                    received += chunk
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
    return received


GARBAGE = [
    b"\x0f\xff\xff\xff\xff" * 20,
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x00" * 64,
    os.urandom(4096),
]


@pytest.mark.parametrize("data", GARBAGE, ids=["ff", "http", "zeros", "random"])
async def test_garbage_connections_are_dropped_and_the_server_keeps_serving(
    transport: Transport, server: Server, data: bytes
) -> None:
    await raw_exchange(server.address, data)
    assert await transport.call(server.address, Ping(), 2) == Pong(ME, 160)


async def test_oversized_requests_fail_with_a_clear_error(transport: Transport, server: Server) -> None:
    value = b"x" * (64 * 1024 * 1024 + 1)
    with pytest.raises(TransportError) as failure:
        await transport.call(server.address, ClientPut("echo", value), 10)
    text = str(failure.value).lower()
    assert "exceeds" in text or "larger than max" in text or "resource_exhausted" in text
    assert await transport.call(server.address, Ping(), 2) == Pong(ME, 160)


# ------------------------------------------------------------------------------------------ watch


async def _collect(stream: AsyncIterator[dict[str, object]], into: list[dict[str, object]]) -> None:
    async for event in stream:
        into.append(event)


async def test_watch_streams_events_until_the_server_stops(transport: Transport, toy: Toy) -> None:
    server = await transport.serve("127.0.0.1:0", toy.handle, toy.events)
    received: list[dict[str, object]] = []
    watch = getattr(transport, "watch")  # noqa: B009 - not part of the Transport port
    consumer = asyncio.create_task(_collect(watch(server.address, timeout_first=2), received))
    await eventually(lambda: len(toy.subscribers) == 1)
    events = [SuccessorChanged(1.0, ME, None, PEER, (PEER,)), KeyWritten(2.0, ME, "k", 1, False), NodeLeft(3.0, ME)]
    for event in events:
        toy.publish(event)
    await eventually(lambda: len(received) == len(events))
    assert received == [event_to_dict(e) for e in events]
    await server.stop()
    await asyncio.wait_for(consumer, 5)  # the stream ends cleanly
    await eventually(lambda: toy.subscribers == [])


async def test_watch_unsubscribes_when_the_client_goes(transport: Transport, server: Server, toy: Toy) -> None:
    stream = getattr(transport, "watch")(server.address)  # noqa: B009
    first = asyncio.ensure_future(anext(stream))
    await eventually(lambda: len(toy.subscribers) == 1)
    toy.publish(NodeLeft(1.0, ME))
    assert (await asyncio.wait_for(first, 5))["kind"] == "left"
    await stream.aclose()
    await eventually(lambda: toy.subscribers == [])
    assert await transport.call(server.address, Ping(), 2) == Pong(ME, 160)


async def test_watch_of_a_closed_port_fails_within_the_deadline(transport: Transport) -> None:
    began = time.monotonic()
    with pytest.raises(TransportError):
        await anext(getattr(transport, "watch")(f"127.0.0.1:{closed_port()}", timeout_first=2))  # noqa: B009
    assert time.monotonic() - began < 2.5
