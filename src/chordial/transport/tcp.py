"""The TCP carrier: core messages in length-prefixed msgpack frames over one connection per peer.

Why a second carrier: a ``grpc.aio`` unary call costs ~550 µs on this machine, ~350 µs of it
server CPU, while a lookup takes ½·log₂N + 1 calls; a bare asyncio RPC costs a tenth of that.
gRPC stays (``chordial.transport.grpc``) for clients in other languages.

Wire (every integer big-endian)::

    connection   := MAGIC(client → server) MAGIC(server → client) frame*
    frame        := length:u32 kind:u8 id:u32 tag:u8 body[length - 6]

``kind`` is one of the ``K_*`` constants, ``id`` the request id the client chose (replies and
stream frames carry the id of their request, so many calls share a connection and replies may
come back in any order), ``tag`` the message type (:data:`chordial.transport.wire.TYPES`) and
``body`` its msgpack encoding. ``ErrorReply`` travels as ``K_ERROR`` with body
``[code, message]``. A frame longer than the limit, or a connection that does not open with the
handshake, is answered with one ``K_FATAL`` frame (a readable reason) and closed, because the
stream cannot be re-synchronised; a frame that parses but does not decode gets a ``K_ERROR``
``invalid`` reply for its id and the connection keeps serving.

Client side (:class:`TcpTransport`): one persistent connection per peer address, opened on
first use and again after it breaks (reconnect), shared by every node of the process that uses
the same transport (connections are stateless request/reply pipes, so sharing is safe and keeps
the file-descriptor count near one per peer). Calls are pipelined; each has a deadline (kept in
one heap per connection, with one timer for the earliest: not a timer or a task per call); at
most ``max_in_flight`` calls per peer are outstanding (the rest wait, within their deadline:
backpressure), and writes wait while the socket buffer is full.

Server side: one listening socket per node; a request is served as soon as its frame is read,
and only one whose handler has to wait (it calls other nodes, or sleeps) goes on in a task of
its own, so that it does not hold up the ones behind it. A connection stops being read while
it has more than :data:`SERVER_IN_FLIGHT` such requests outstanding, or while its peer does
not take the replies (the socket's send buffer is full), until it drains.

Built on asyncio protocols rather than streams (one ``data_received`` per read instead of two
awaited ``readexactly`` per frame); works on uvloop as well.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import logging
import socket
import struct
import types
from collections.abc import AsyncIterator, Awaitable, Coroutine, Generator
from typing import Any, Final, cast

from chordial.core.events import Event
from chordial.core.messages import ErrorCode, ErrorReply, Request, Response
from chordial.transport import wire
from chordial.transport.address import format_address, parse_address
from chordial.transport.base import Handler, TransportError, Unreachable, Watcher
from chordial.transport.codec import METHODS, CodecError, event_to_dict

log = logging.getLogger(__name__)

MAGIC: Final = b"CHRDTCP1"
"""Both ends open with these bytes: talking to a gRPC port (or anything else) fails at once."""

MAX_FRAME_BYTES: Final = 64 * 1024 * 1024
"""Largest frame accepted or sent (the gRPC carrier's message limit too)."""

MAX_IN_FLIGHT: Final = 512
"""Default bound of outstanding calls per peer (client side)."""

SERVER_IN_FLIGHT: Final = 1024
"""Requests a server connection runs at once before it stops reading from that connection."""

CONNECT_TIMEOUT: Final = 10.0
"""Upper bound of opening a connection, whatever the deadline of the call that opens it."""

K_REQUEST: Final = 1
K_REPLY: Final = 2
K_ERROR: Final = 3
K_WATCH: Final = 4
K_EVENT: Final = 5
K_END: Final = 6
K_FATAL: Final = 7
K_CANCEL: Final = 8
K_OPENED: Final = 9

_HEADER: Final = struct.Struct(">IBIB")
_LENGTH: Final = struct.Struct(">I")
_REST: Final = struct.Struct(">BIB")
_HEAD_BYTES: Final = 6  # kind, id, tag: counted in ``length``

_ERROR_CODES: Final[dict[str, ErrorCode]] = {
    "invalid": "invalid",
    "not_found": "not_found",
    "unavailable": "unavailable",
    "failed_precondition": "failed_precondition",
    "internal": "internal",
}
_REPLY_TYPE: Final[dict[type[Any], type[Any]]] = {m.request_type: m.reply_type for m in METHODS.values()}
_EVENT_QUEUE_LIMIT: Final = 10_000


class WrongCarrier(Unreachable):
    """The peer answered, but not in chordial-tcp (e.g. it is a gRPC node)."""


def frame(kind: int, rid: int, tag: int, body: bytes = b"") -> bytes:
    """One frame on the wire (exposed for tests that speak the protocol by hand)."""
    return _HEADER.pack(_HEAD_BYTES + len(body), kind, rid, tag) + body


class _Framed(asyncio.Protocol):
    """Handshake, frame parsing, flow control: what both ends of a connection share."""

    peer = "peer"

    def __init__(self, max_frame: int) -> None:
        self.transport: asyncio.Transport | None = None
        self.max_frame = max_frame
        self.handshaken = False
        self.closed = False
        self._buffer = bytearray()
        self._write_paused = False
        self._writable: list[asyncio.Future[None]] = []

    # ---- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        if not buffer and self.handshaken and len(data) >= 4:
            # The usual read: exactly one whole frame, parsed straight from ``data``.
            (length,) = _LENGTH.unpack_from(data)
            if len(data) == 4 + length and _HEAD_BYTES <= length <= self.max_frame:
                kind, rid, tag = _REST.unpack_from(data, 4)
                self.frame_received(kind, rid, tag, data[4 + _HEAD_BYTES :])
                return
        buffer += data
        if not self.handshaken:
            if len(buffer) < len(MAGIC):
                if not MAGIC.startswith(buffer):
                    self.bad_handshake(bytes(buffer))
                return
            if buffer[: len(MAGIC)] != MAGIC:
                self.bad_handshake(bytes(buffer[: len(MAGIC)]))
                return
            del buffer[: len(MAGIC)]
            self.handshaken = True
            self.handshake_done()
        pos, size = 0, len(buffer)
        while size - pos >= 4 and not self.closed:
            (length,) = _LENGTH.unpack_from(buffer, pos)
            if length < _HEAD_BYTES or length > self.max_frame:
                self.fatal(f"frame of {length} bytes: frames are {_HEAD_BYTES}..{self.max_frame} bytes")
                return
            end = pos + 4 + length
            if end > size:
                break
            kind, rid, tag = _REST.unpack_from(buffer, pos + 4)
            body = bytes(buffer[pos + 4 + _HEAD_BYTES : end])
            pos = end
            self.frame_received(kind, rid, tag, body)
        del buffer[:pos]

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiters, self._writable = self._writable, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.resume_writing()

    # ---- for subclasses

    def handshake_done(self) -> None:
        pass

    def bad_handshake(self, data: bytes) -> None:
        raise NotImplementedError

    def frame_received(self, kind: int, rid: int, tag: int, body: bytes) -> None:
        raise NotImplementedError

    def fatal(self, reason: str) -> None:
        """Tell the peer why, then close: the byte stream cannot be trusted any more."""
        self.send(K_FATAL, 0, 0, reason.encode("utf-8", "replace"))
        self.close()

    # ---- writing

    def send(self, kind: int, rid: int, tag: int, body: bytes = b"") -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(_HEADER.pack(_HEAD_BYTES + len(body), kind, rid, tag) + body)

    async def writable(self) -> None:
        """Wait while the socket's send buffer is over its high-water mark."""
        while self._write_paused and not self.closed:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._writable.append(waiter)
            await waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()  # flushes what is buffered first


# ------------------------------------------------------------------------------------------ server


class _ServerConnection(_Framed):
    def __init__(self, server: TcpServer) -> None:
        super().__init__(server.max_frame)
        self.server = server
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.streams: dict[int, asyncio.Task[None]] = {}
        self.in_flight = 0
        self._reading_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self.server.stopping:
            self.close()
            return
        self.server.connections.add(self)
        self.peer = str(transport.get_extra_info("peername"))

    def stop_reading(self) -> None:
        """For good: the server is stopping (``_resume_reading`` then never resumes)."""
        self._pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.server.connections.discard(self)
        for task in [*self.tasks.values(), *self.streams.values()]:
            task.cancel()

    def handshake_done(self) -> None:
        assert self.transport is not None
        self.transport.write(MAGIC)

    def bad_handshake(self, data: bytes) -> None:
        log.info("%s: %s did not open with the chordial-tcp handshake (%r)", self.server.address, self.peer, data)
        # Say so in our own framing (after our magic), in case the peer is a confused chordial client.
        assert self.transport is not None
        self.transport.write(MAGIC)
        self.fatal(f"expected the chordial-tcp handshake {MAGIC!r}, got {data!r}")

    def fatal(self, reason: str) -> None:
        log.info("%s: closing the connection of %s: %s", self.server.address, self.peer, reason)
        super().fatal(reason)

    def frame_received(self, kind: int, rid: int, tag: int, body: bytes) -> None:
        if kind == K_REQUEST:
            try:
                request = wire.decode(tag, body)
                if not wire.is_request_tag(tag):
                    raise CodecError(f"{type(request).__name__} is not a request")
            except CodecError as exc:
                self.send(K_ERROR, rid, 0, wire.pack(["invalid", f"malformed request: {exc}"]))
                return
            # Run the handler at once; only one that has to wait (a remote call, a sleep) gets a
            # task. Most requests (FindStep, GetNeighbours, Ping, Fetch) are answered from memory,
            # and a task per request would cost more than serving it.
            awaitable = self.server.handler(request)
            serving = awaitable if type(awaitable) is types.CoroutineType else _as_coroutine(awaitable)
            try:
                waiting_on = serving.send(None)
            except StopIteration as done:
                self._answer(rid, request, done.value)
                return
            except Exception as exc:
                self._failed(rid, request, exc)
                return
            self.in_flight += 1
            if self.in_flight >= SERVER_IN_FLIGHT:
                self._pause_reading()
            self.tasks[rid] = asyncio.get_running_loop().create_task(self._carry_on(rid, request, serving, waiting_on))
        elif kind == K_WATCH:
            if rid in self.streams:
                self.send(K_ERROR, rid, 0, wire.pack(["invalid", f"stream {rid} is already open"]))
                return
            self.streams[rid] = asyncio.get_running_loop().create_task(self._stream(rid))
        elif kind == K_CANCEL:
            stream = self.streams.pop(rid, None)
            if stream is not None:
                stream.cancel()
        else:
            self.send(K_ERROR, rid, 0, wire.pack(["invalid", f"unknown frame kind {kind}"]))

    async def _carry_on(
        self, rid: int, request: Request, serving: Coroutine[Any, Any, Response], waiting_on: Any
    ) -> None:
        """The rest of a handler that had to wait, then its answer."""
        try:
            try:
                reply = await _resume(serving, waiting_on)
            except Exception as exc:
                self._failed(rid, request, exc)
                return
            if self._write_paused:
                await self.writable()
            self._answer(rid, request, reply)
        finally:
            self.tasks.pop(rid, None)
            self.in_flight -= 1
            self._resume_reading()

    def _failed(self, rid: int, request: Request, exc: Exception) -> None:
        log.error("handler failed on %s", type(request).__name__, exc_info=exc)
        self._error(rid, "internal", f"{type(request).__name__} failed: {type(exc).__name__}: {exc}")

    def _answer(self, rid: int, request: Request, reply: Response) -> None:
        if isinstance(reply, ErrorReply):
            self._error(rid, _ERROR_CODES.get(reply.code, "internal"), reply.message)
            return
        expected = _REPLY_TYPE[type(request)]
        if type(reply) is not expected:
            log.error("handler answered %s with %s", type(request).__name__, type(reply).__name__)
            self._error(rid, "internal", f"{type(request).__name__} answered with a {type(reply).__name__}")
            return
        try:
            tag, body = wire.encode(reply)
        except CodecError as exc:
            log.error("cannot encode %s reply: %s", type(request).__name__, exc)
            self._error(rid, "internal", f"cannot encode {type(request).__name__} reply: {exc}")
            return
        if len(body) + _HEAD_BYTES > self.max_frame:
            self._error(rid, "internal", f"reply of {len(body)} bytes exceeds the frame limit")
            return
        self.send(K_REPLY, rid, tag, body)

    # A connection stops being read while it has too many requests running or while its peer
    # does not take our replies (the socket's send buffer is full): backpressure on the peer.

    def _pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None and not self.closed:
            self._reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if (
            self._reading_paused
            and not self._write_paused
            and self.in_flight < SERVER_IN_FLIGHT // 2
            and self.transport is not None
            and not self.closed
            and not self.server.stopping
        ):
            self._reading_paused = False
            self.transport.resume_reading()

    def pause_writing(self) -> None:
        super().pause_writing()
        self._pause_reading()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._resume_reading()

    def _error(self, rid: int, code: str, message: str) -> None:
        self.send(K_ERROR, rid, 0, wire.pack([code, message]))

    async def _stream(self, rid: int) -> None:
        watcher = self.server.watcher
        if watcher is None:
            self.streams.pop(rid, None)
            self._error(rid, "failed_precondition", "this node publishes no events")
            return
        events = watcher()
        pending: asyncio.Future[Event] = asyncio.ensure_future(anext(events))
        try:
            await asyncio.sleep(0)  # let the watcher subscribe before the client hears "opened"
            self.send(K_OPENED, rid, 0)
            while True:
                try:
                    event = await pending
                except StopAsyncIteration:
                    break
                pending = asyncio.ensure_future(anext(events))
                try:
                    body = wire.pack(event_to_dict(event))
                except CodecError as exc:
                    log.error("dropping an event Watch cannot encode: %s", exc)
                    continue
                await self.writable()
                self.send(K_EVENT, rid, 0, body)
            self.send(K_END, rid, 0)
        except Exception as exc:
            log.exception("event feed failed")
            self._error(rid, "internal", f"event feed failed: {type(exc).__name__}: {exc}")
        finally:
            self.streams.pop(rid, None)
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await asyncio.wait((pending,))
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()


async def _as_coroutine(awaitable: Awaitable[Response]) -> Response:
    return await awaitable


@types.coroutine
def _resume(coro: Coroutine[Any, Any, Response], waiting_on: Any) -> Generator[Any, Any, Response]:
    """Carry on, inside a task, a coroutine that was started outside one and is now waiting on
    ``waiting_on`` (a future): hand the future to the task, pass its wake-ups back in; returns
    what the coroutine returns."""
    while True:
        try:
            sent = yield waiting_on
        except BaseException as exc:  # cancellation, or the task throwing in
            try:
                waiting_on = coro.throw(exc)
            except StopIteration as done:
                result: Response = done.value
                return result
            continue
        try:
            waiting_on = coro.send(sent)
        except StopIteration as done:
            value: Response = done.value
            return value


class TcpServer:
    """A listening endpoint of one node (the ``Server`` of ``transport.base``)."""

    def __init__(self, handler: Handler, watcher: Watcher | None, max_frame: int) -> None:
        self.handler = handler
        self.watcher = watcher
        self.max_frame = max_frame
        self.address = ""
        """The address actually served on (``host:port`` with the real port)."""
        self.connections: set[_ServerConnection] = set()
        self.stopping = False
        self._server: asyncio.Server | None = None
        self._stopped: asyncio.Future[None] | None = None

    @property
    def port(self) -> int:
        return parse_address(self.address)[1]

    async def _listen(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _ServerConnection(self), host, port, reuse_address=True, backlog=1024
        )
        bound = self._server.sockets[0].getsockname()[1]
        self.address = format_address(host, bound)

    async def stop(self, grace: float | None = 1.0) -> None:
        """Stop serving: no new connections or requests; calls already running get ``grace``
        seconds to answer (like the gRPC carrier), then the connections close. Watch streams
        get their end first. Replies already written still reach their callers.

        The stop runs to its end even if the caller is cancelled meanwhile (a node that
        crashes while leaving), and a second call waits for the first."""
        if self._stopped is None:
            self._stopped = asyncio.ensure_future(self._stop(grace))
        await asyncio.shield(self._stopped)

    async def _stop(self, grace: float | None) -> None:
        self.stopping = True
        if self._server is not None:
            self._server.close()
        connections = list(self.connections)
        try:
            for connection in connections:
                connection.stop_reading()
                for rid in list(connection.streams):
                    connection.send(K_END, rid, 0)
                for stream in connection.streams.values():
                    stream.cancel()
            running = [task for connection in connections for task in connection.tasks.values()]
            if running and grace:
                await asyncio.wait(running, timeout=grace)
        finally:
            for connection in [*connections, *self.connections]:
                for task in connection.tasks.values():
                    task.cancel()
                connection.close()
            self.connections.clear()
        await asyncio.sleep(0)


# ------------------------------------------------------------------------------------------ client


_Reply = tuple[int, int, bytes]
_LOST: Final[_Reply] = (-1, 0, b"")


class _ClientConnection(_Framed):
    def __init__(self, address: str, max_frame: int, max_in_flight: int) -> None:
        super().__init__(max_frame)
        self.peer = address
        self.pending: dict[int, tuple[asyncio.Future[Response], str]] = {}
        """The calls awaiting a reply: request id → (future of the decoded reply, request name)."""
        self.streams: dict[int, asyncio.Queue[_Reply]] = {}
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self._slot_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = self._loop.create_future()
        self.failure = "connection closed"
        self._next = 0
        # Deadlines of the calls in flight, earliest first: one timer per connection, set for
        # the earliest, instead of one timer per call (a timer costs more than the heap).
        self._deadlines: list[tuple[float, int, str, float]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        self.transport.write(MAGIC)

    def handshake_done(self) -> None:
        if not self.opened.done():
            self.opened.set_result(None)

    def bad_handshake(self, data: bytes) -> None:
        hint = " (a gRPC node? use --transport grpc)" if data.startswith(b"\x00\x00") else ""
        self.failure = f"{self.peer} does not speak chordial-tcp{hint}"
        if not self.opened.done():
            self.opened.set_exception(WrongCarrier(self.failure))
        self.close()

    def fatal(self, reason: str) -> None:
        self.failure = f"{self.peer}: protocol error: {reason}"
        self.close()
        self._fail_all()

    def frame_received(self, kind: int, rid: int, tag: int, body: bytes) -> None:
        if kind in (K_REPLY, K_ERROR):
            waiting = self.pending.pop(rid, None)
            if waiting is not None:
                self._done()
                future, name = waiting
                if not future.done():  # its caller may have been cancelled
                    try:
                        future.set_result(_decode_reply(self.peer, name, (kind, tag, body)))
                    except TransportError as exc:
                        future.set_exception(exc)
                return
        queue = self.streams.get(rid)
        if queue is not None:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()  # a slow consumer loses the oldest events, never memory
            queue.put_nowait((kind, tag, body))
        elif kind == K_FATAL:
            self.failure = f"{self.peer} closed the connection: {body.decode('utf-8', 'replace')}"
            self.close()
            self._fail_all()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.failure == "connection closed" and exc is not None:
            self.failure = f"{self.peer}: connection lost: {exc}"
        elif self.failure == "connection closed":
            self.failure = f"{self.peer}: connection closed by the peer"
        super().connection_lost(exc)
        if not self.opened.done():
            self.opened.set_exception(Unreachable(self.failure))
        self._fail_all()

    def _fail_all(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadlines.clear()
        for waiter in self._slot_waiters:  # they find the connection closed
            if not waiter.done():
                waiter.set_result(None)
        pending, self.pending = self.pending, {}
        self.in_flight = 0
        for future, _ in pending.values():
            if not future.done():
                future.set_exception(Unreachable(self.failure))
        for queue in self.streams.values():
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(_LOST)

    def next_id(self) -> int:
        self._next = (self._next + 1) & 0xFFFFFFFF
        return self._next

    def request(self, tag: int, body: bytes, name: str, timeout: float, deadline: float) -> asyncio.Future[Response]:
        """Send a request now and return the future of its decoded reply; the caller has checked
        that the connection is open, has a free slot and a socket that takes writes.

        The call's bookkeeping ends where its reply arrives (or its deadline passes, or the
        connection breaks), not in the caller: one coroutine less per call."""
        rid = self.next_id()
        future: asyncio.Future[Response] = self._loop.create_future()
        self.pending[rid] = (future, name)
        self.in_flight += 1
        heapq.heappush(self._deadlines, (deadline, rid, name, timeout))
        if self._timer is None or deadline < self._timer_at:
            self._arm(deadline)
        self.send(K_REQUEST, rid, tag, body)
        return future

    def ready(self) -> bool:
        """Whether :meth:`request` may be used right now."""
        return not self.closed and self.in_flight < self.max_in_flight and not self._write_paused

    async def call(self, tag: int, body: bytes, name: str, timeout: float, deadline: float) -> Response:
        """:meth:`request`, after waiting (within the deadline) for a free slot and a writable
        socket."""
        if self.in_flight >= self.max_in_flight:
            await self._wait_for_slot(name, timeout, deadline)
        if self.closed:
            raise Unreachable(self.failure)
        if self._write_paused:
            await self.writable()
            if self.closed:
                raise Unreachable(self.failure)
        return await self.request(tag, body, name, timeout, deadline)

    def _done(self) -> None:
        """A call left ``pending`` (answered or expired): free its slot."""
        self.in_flight -= 1
        deadlines, pending = self._deadlines, self.pending
        while deadlines and deadlines[0][1] not in pending:  # this call's, or older ones done
            heapq.heappop(deadlines)
        if self._slot_waiters:
            self._wake_one()

    async def _wait_for_slot(self, name: str, timeout: float, deadline: float) -> None:
        """Backpressure: wait, within the call's deadline, until fewer than ``max_in_flight``
        calls to this peer are outstanding."""
        while self.in_flight >= self.max_in_flight and not self.closed:
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._slot_waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, max(deadline - self._loop.time(), 0.0))
            except TimeoutError:
                raise TransportError(
                    f"{self.peer}: {name}: no reply within {timeout:g}s (too many calls in flight)"
                ) from None
            finally:
                with contextlib.suppress(ValueError):
                    self._slot_waiters.remove(waiter)
        if self._loop.time() >= deadline:  # a slot came free, but too late to send
            raise TransportError(f"{self.peer}: {name}: no reply within {timeout:g}s (too many calls in flight)")

    def _wake_one(self) -> None:
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._expire_due)

    def _expire_due(self) -> None:
        """Fail every call whose deadline has passed; re-arm for the next one."""
        self._timer = None
        deadlines, pending = self._deadlines, self.pending
        now = self._loop.time()
        while deadlines and (deadlines[0][0] <= now or deadlines[0][1] not in pending):
            _, rid, name, timeout = heapq.heappop(deadlines)
            waiting = pending.pop(rid, None)
            if waiting is not None:
                self._done()
                future = waiting[0]
                if not future.done():
                    future.set_exception(TransportError(f"{self.peer}: {name}: no reply within {timeout:g}s"))
        if deadlines:
            self._arm(deadlines[0][0])

    def open_stream(self) -> tuple[int, asyncio.Queue[_Reply]]:
        rid = self.next_id()
        queue: asyncio.Queue[_Reply] = asyncio.Queue(_EVENT_QUEUE_LIMIT)
        self.streams[rid] = queue
        return rid, queue

    def close_stream(self, rid: int) -> None:
        if self.streams.pop(rid, None) is not None and not self.closed:
            self.send(K_CANCEL, rid, 0)


def _decode_reply(address: str, name: str, reply: _Reply) -> Response:
    kind, tag, body = reply
    try:
        if kind == K_REPLY:
            if wire.is_request_tag(tag):
                raise CodecError(f"{wire.TYPES[tag].__name__} is not a reply")
            message: Response = wire.decode(tag, body)
            return message
        if kind == K_ERROR:
            fields = wire.unpack(body, "error reply")
            if type(fields) is not list or len(fields) != 2 or not all(type(f) is str for f in fields):
                raise CodecError("error reply must be [code, message]")
            return ErrorReply(_ERROR_CODES.get(fields[0], "internal"), fields[1])
    except CodecError as exc:
        raise TransportError(f"{address}: {name}: malformed reply: {exc}") from None
    raise TransportError(f"{address}: {name}: unexpected frame kind {kind}")


class TcpTransport:
    """Client and server sides of the TCP carrier (the ``Transport`` of ``transport.base``).

    One instance may serve any number of nodes and be shared by all of them: outgoing
    connections are then shared per peer address across the process.
    """

    def __init__(self, *, max_in_flight: int = MAX_IN_FLIGHT, max_frame: int = MAX_FRAME_BYTES) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.max_in_flight = max_in_flight
        self.max_frame = max_frame
        self._connections: dict[str, _ClientConnection] = {}
        self._connecting: dict[str, asyncio.Future[_ClientConnection]] = {}

    # ---- client

    async def _connection(self, address: str, timeout: float, deadline: float) -> _ClientConnection:
        connection = self._connections.get(address)
        if connection is not None and not connection.closed:
            return connection
        opening = self._connecting.get(address)
        if opening is None:
            opening = asyncio.ensure_future(self._open(address))
            self._connecting[address] = opening
            opening.add_done_callback(lambda done: self._opened(address, done))
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(asyncio.shield(opening), max(remaining, 0.0))
        except TimeoutError:
            raise TransportError(f"{address}: not connected within {timeout:g}s") from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if opening.cancelled() and (task is None or not task.cancelling()):
                raise Unreachable(f"{address}: transport closed while connecting") from None
            raise

    def _opened(self, address: str, done: asyncio.Future[_ClientConnection]) -> None:
        if self._connecting.get(address) is done:
            del self._connecting[address]
        if not done.cancelled():
            done.exception()  # retrieved here: every caller may have given up waiting already

    async def _open(self, address: str) -> _ClientConnection:
        try:
            host, port = parse_address(address)
        except ValueError as exc:
            raise Unreachable(str(exc)) from None
        loop = asyncio.get_running_loop()

        def make() -> _ClientConnection:
            return _ClientConnection(address, self.max_frame, self.max_in_flight)

        connection: _ClientConnection | None = None
        try:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    _, connection = await loop.create_connection(make, host, port)
                    await connection.opened
            except BaseException:
                if connection is not None:
                    connection.close()  # a half-open connection must not outlive the attempt
                raise
        except TimeoutError:
            raise Unreachable(f"{address}: no connection within {CONNECT_TIMEOUT:g}s") from None
        except OSError as exc:
            raise Unreachable(f"{address}: {exc.strerror or exc}") from None
        self._connections[address] = connection
        return connection

    def call(self, address: str, request: Request, timeout: float) -> Awaitable[Response]:
        """Send ``request`` to ``address``; the awaitable gives the reply (or the peer's
        ``ErrorReply``).

        Awaiting it raises :class:`Unreachable` when the peer cannot be reached or the
        connection breaks during the call, :class:`TransportError` when no reply arrives within
        ``timeout`` seconds, :class:`CodecError` when ``request`` cannot be encoded.

        On an open connection with room the request goes out at once and the awaitable is the
        reply's future (no coroutine per call); otherwise a coroutine connects or waits first.
        """
        connection = self._connections.get(address)
        if connection is not None and connection.ready():
            try:
                tag, body = wire.encode(request)
            except CodecError:
                return self._call(address, request, timeout)  # raises it when awaited
            if len(body) + _HEAD_BYTES <= self.max_frame:
                deadline = connection._loop.time() + timeout
                return connection.request(tag, body, type(request).__name__, timeout, deadline)
        return self._call(address, request, timeout)

    async def _call(self, address: str, request: Request, timeout: float) -> Response:
        tag, body = wire.encode(request)
        name = type(request).__name__
        if len(body) + _HEAD_BYTES > self.max_frame:
            raise TransportError(
                f"{address}: {name} of {len(body)} bytes exceeds the frame limit of {self.max_frame} bytes"
            )
        deadline = asyncio.get_running_loop().time() + timeout
        connection = self._connections.get(address)
        if connection is None or connection.closed:
            connection = await self._connection(address, timeout, deadline)
        return await connection.call(tag, body, name, timeout, deadline)

    async def watch(self, address: str, timeout_first: float = 5.0) -> AsyncIterator[dict[str, object]]:
        """Stream the events of the node at ``address`` as :func:`codec.event_to_dict` dicts.

        Only opening the stream has a deadline (``timeout_first``, else :class:`Unreachable`).
        It ends when the node stops; a broken connection raises :class:`TransportError`.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_first
        try:
            connection = await self._connection(address, timeout_first, deadline)
        except Unreachable:
            raise
        except TransportError as exc:
            raise Unreachable(str(exc)) from None
        rid, queue = connection.open_stream()
        try:
            connection.send(K_WATCH, rid, 0)
            try:
                first = await asyncio.wait_for(queue.get(), max(deadline - loop.time(), 0.0))
            except TimeoutError:
                raise Unreachable(f"{address}: Watch: not opened within {timeout_first:g}s") from None
            self._check_stream_frame(address, first)
            while True:
                kind, _, body = await queue.get()
                if kind == K_EVENT:
                    event = wire.unpack(body, "event")
                    if type(event) is not dict or type(event.get("kind")) is not str:
                        raise TransportError(f"{address}: Watch: malformed event")
                    yield event
                elif kind == K_END:
                    return
                else:
                    self._check_stream_frame(address, (kind, 0, body))
        finally:
            connection.close_stream(rid)

    @staticmethod
    def _check_stream_frame(address: str, item: _Reply) -> None:
        kind = item[0]
        if kind == K_OPENED:
            return
        if kind == K_ERROR:
            reply = _decode_reply(address, "Watch", item)
            assert isinstance(reply, ErrorReply)
            raise TransportError(f"{address}: Watch refused: {reply.code}: {reply.message}")
        if kind == _LOST[0]:
            raise Unreachable(f"{address}: Watch: connection lost")
        raise TransportError(f"{address}: Watch: unexpected frame kind {kind}")

    # ---- server

    async def serve(self, address: str, handler: Handler, watcher: Watcher | None = None) -> TcpServer:
        """Serve ``handler`` (and ``watcher`` for Watch) on ``address``; port 0 picks a free port.

        Raises ``ValueError`` for a malformed address, :class:`TransportError` when the
        address cannot be bound.
        """
        host, port = parse_address(address)
        server = TcpServer(handler, watcher, self.max_frame)
        try:
            await server._listen(host, port)
        except OSError as exc:
            raise TransportError(f"cannot listen on {address}: {exc.strerror or exc}") from None
        return server

    async def close(self) -> None:
        """Close every client connection (later calls open new ones)."""
        connections, self._connections = list(self._connections.values()), {}
        opening, self._connecting = list(self._connecting.values()), {}
        for task in opening:
            task.cancel()
        if opening:
            await asyncio.wait(opening)
        for connection in connections:
            connection.close()
        await asyncio.sleep(0)


__all__ = ["MAGIC", "MAX_FRAME_BYTES", "MAX_IN_FLIGHT", "TcpServer", "TcpTransport", "WrongCarrier", "frame"]
