"""The gRPC carrier: :class:`GrpcTransport` moves core messages over ``chordial.v1.Chord``.

Client side: one ``grpc.aio`` channel per peer address, reused by every call; each call has a
deadline. Server side: one ``grpc.aio`` server per node; each RPC decodes its request, awaits
the node's handler and encodes the reply. Refusals (:class:`ErrorReply`) travel as a gRPC
status with the trailing metadata ``chordial-error: <code>`` and come back as ``ErrorReply``;
every other failure of a call raises :class:`~chordial.transport.base.TransportError`.

The service is wired from :data:`chordial.transport.codec.METHODS` with raw-bytes handlers, so
that malformed requests are answered with ``INVALID_ARGUMENT`` rather than a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Final, NoReturn

import grpc
import grpc.aio

from chordial.core.events import Event
from chordial.core.messages import ErrorCode, ErrorReply, Request, Response
from chordial.proto import chordial_pb2 as pb
from chordial.transport.address import check_address, format_address, parse_address
from chordial.transport.base import Handler, TransportError, Unreachable, Watcher
from chordial.transport.codec import (
    METHODS,
    SERVICE,
    WATCH_PATH,
    CodecError,
    Method,
    event_from_proto,
    event_to_proto,
    method_for,
    parse_message,
    request_from_bytes,
    request_to_proto,
    response_from_bytes,
    response_to_proto,
)

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024
ERROR_METADATA_KEY: Final = "chordial-error"

STATUS_FOR_ERROR: Final[dict[ErrorCode, grpc.StatusCode]] = {
    "invalid": grpc.StatusCode.INVALID_ARGUMENT,
    "not_found": grpc.StatusCode.NOT_FOUND,
    "unavailable": grpc.StatusCode.UNAVAILABLE,
    "failed_precondition": grpc.StatusCode.FAILED_PRECONDITION,
    "internal": grpc.StatusCode.INTERNAL,
}
"""The gRPC status an ``ErrorReply`` code travels as."""

_ERROR_CODES: Final[dict[str, ErrorCode]] = {code: code for code in STATUS_FOR_ERROR}
_ERROR_FOR_STATUS: Final[dict[grpc.StatusCode, ErrorCode]] = {v: k for k, v in STATUS_FOR_ERROR.items()}

_COMMON_OPTIONS: Final[list[tuple[str, Any]]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]
_CHANNEL_OPTIONS: Final[list[tuple[str, Any]]] = [
    *_COMMON_OPTIONS,
    # Peers are addressed directly; an http_proxy in the environment must not capture them.
    ("grpc.enable_http_proxy", 0),
    # A peer that comes back at the same address is reachable again within about a second.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
_SERVER_OPTIONS: Final[list[tuple[str, Any]]] = [
    *_COMMON_OPTIONS,
    # Two nodes must never share a port silently.
    ("grpc.so_reuseport", 0),
]


def _identity(data: bytes) -> bytes:
    return data


# ------------------------------------------------------------------------------------------ server


class GrpcServer:
    """A running gRPC endpoint of one node (the ``Server`` of ``transport.base``)."""

    def __init__(self, server: grpc.aio.Server, address: str, stopping: asyncio.Event) -> None:
        self._server = server
        self._stopping = stopping
        self.address = address
        """The address actually served on (``host:port`` with the real port)."""

    @property
    def port(self) -> int:
        return parse_address(self.address)[1]

    async def stop(self, grace: float | None = 1.0) -> None:
        """Stop serving: end Watch streams, let running calls finish for ``grace`` seconds."""
        self._stopping.set()
        await self._server.stop(grace)


_ServicerContext = grpc.aio.ServicerContext[bytes, bytes]


async def _abort(context: _ServicerContext, code: ErrorCode, message: str) -> NoReturn:
    await context.abort(STATUS_FOR_ERROR[code], message, ((ERROR_METADATA_KEY, code),))


def _unary_behaviour(method: Method, handler: Handler) -> Callable[[bytes, _ServicerContext], Awaitable[bytes]]:
    async def serve_one(data: bytes, context: _ServicerContext) -> bytes:
        try:
            request = request_from_bytes(method, data)
        except CodecError as exc:
            await _abort(context, "invalid", f"malformed {method.name} request: {exc}")
        try:
            reply = await handler(request)
        except Exception as exc:
            log.exception("handler failed on %s", method.name)
            await _abort(context, "internal", f"{method.name} failed: {type(exc).__name__}: {exc}")
        if isinstance(reply, ErrorReply):
            await _abort(context, _ERROR_CODES.get(reply.code, "internal"), reply.message)
        if not isinstance(reply, method.reply_type):
            log.error("handler answered %s with %s", method.name, type(reply).__name__)
            await _abort(context, "internal", f"{method.name} answered with a {type(reply).__name__}")
        try:
            return response_to_proto(reply).SerializeToString()
        except CodecError as exc:
            log.error("cannot encode %s reply: %s", method.name, exc)
            await _abort(context, "internal", f"cannot encode {method.name} reply: {exc}")

    return serve_one


def _watch_behaviour(
    watcher: Watcher | None, stopping: asyncio.Event
) -> Callable[[bytes, _ServicerContext], AsyncIterator[bytes]]:
    async def stream(data: bytes, context: _ServicerContext) -> AsyncIterator[bytes]:
        try:
            parse_message(pb.WatchRequest, data)
        except CodecError as exc:
            await _abort(context, "invalid", f"malformed Watch request: {exc}")
        if watcher is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this node publishes no events")
        events = watcher()
        stop_wait = asyncio.ensure_future(stopping.wait())
        pending: asyncio.Future[Event] = asyncio.ensure_future(anext(events))
        try:
            # Let the watcher subscribe before telling the client the stream is open.
            await asyncio.sleep(0)
            await context.send_initial_metadata(())
            while True:
                await asyncio.wait((pending, stop_wait), return_when=asyncio.FIRST_COMPLETED)
                if not pending.done():
                    break  # the server is stopping
                try:
                    event = pending.result()
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    log.exception("event feed failed")
                    await _abort(context, "internal", f"event feed failed: {type(exc).__name__}: {exc}")
                pending = asyncio.ensure_future(anext(events))
                try:
                    message = event_to_proto(event)
                except CodecError as exc:
                    log.error("dropping an event Watch cannot encode: %s", exc)
                    continue
                yield message.SerializeToString()
        finally:
            stop_wait.cancel()
            if not pending.done():
                pending.cancel()
                await asyncio.wait((pending,))
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    return stream


# ------------------------------------------------------------------------------------------ client errors


def _metadata_value(metadata: Iterable[tuple[str, str | bytes]] | None, key: str) -> str | None:
    for item_key, value in metadata or ():
        if item_key == key:
            return value.decode("ascii", "replace") if isinstance(value, bytes) else value
    return None


def _status_text(exc: grpc.aio.AioRpcError) -> str:
    details = exc.details()
    return f"{exc.code().name}: {details}" if details else exc.code().name


def _rpc_failure(address: str, name: str, exc: grpc.aio.AioRpcError, timeout: float | None) -> TransportError:
    code = exc.code()
    if code == grpc.StatusCode.DEADLINE_EXCEEDED and timeout is not None:
        return TransportError(f"{address}: {name}: no reply within {timeout:g}s ({_status_text(exc)})")
    message = f"{address}: {name}: {_status_text(exc)}"
    if code == grpc.StatusCode.UNAVAILABLE:
        return Unreachable(message)
    return TransportError(message)


def _error_reply(exc: grpc.aio.AioRpcError) -> ErrorReply | None:
    """The ``ErrorReply`` a status carrying ``chordial-error`` metadata stands for."""
    tag = _metadata_value(exc.trailing_metadata(), ERROR_METADATA_KEY)
    if tag is None:
        return None
    code = _ERROR_CODES.get(tag) or _ERROR_FOR_STATUS.get(exc.code(), "internal")
    return ErrorReply(code, exc.details() or "")


# ------------------------------------------------------------------------------------------ transport


class GrpcTransport:
    """Client and server sides of the gRPC carrier (the ``Transport`` of ``transport.base``)."""

    def __init__(self) -> None:
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            try:
                target = check_address(address)
            except ValueError as exc:
                raise Unreachable(str(exc)) from None
            channel = grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
            self._channels[address] = channel
        return channel

    async def call(self, address: str, request: Request, timeout: float) -> Response:
        """Send ``request`` to ``address`` and return the reply (or the peer's ``ErrorReply``).

        Raises :class:`Unreachable` when the peer cannot be reached, :class:`TransportError`
        when no usable reply arrives within ``timeout`` seconds, :class:`CodecError` when
        ``request`` cannot be encoded.
        """
        method = method_for(request)
        payload = request_to_proto(request).SerializeToString()
        channel = self._channel(address)
        multicallable: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            method.path, request_serializer=_identity, response_deserializer=_identity
        )
        try:
            data = await multicallable(payload, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            reply = _error_reply(exc)
            if reply is not None:
                return reply
            raise _rpc_failure(address, method.name, exc, timeout) from None
        except grpc.aio.UsageError as exc:
            raise TransportError(f"{address}: {method.name}: {exc}") from None
        try:
            return response_from_bytes(method, data)
        except CodecError as exc:
            raise TransportError(f"{address}: {method.name}: malformed reply: {exc}") from None

    async def watch(self, address: str, timeout_first: float = 5.0) -> AsyncIterator[dict[str, object]]:
        """Stream the events of the node at ``address``, as :func:`codec.event_to_dict` dicts.

        The stream has no deadline; only opening it must succeed within ``timeout_first``
        seconds (else :class:`Unreachable`). It ends when the node stops; a broken stream
        raises :class:`TransportError`. Close the iterator (or cancel its consumer) to
        unsubscribe.
        """
        channel = self._channel(address)
        multicallable: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(
            WATCH_PATH, request_serializer=_identity, response_deserializer=_identity
        )
        call = multicallable(pb.WatchRequest().SerializeToString())
        try:
            try:
                await asyncio.wait_for(call.initial_metadata(), timeout_first)
            except TimeoutError:
                raise Unreachable(f"{address}: Watch: not opened within {timeout_first:g}s") from None
            while True:
                data = await call.read()
                if data is grpc.aio.EOF:
                    return
                assert isinstance(data, bytes)
                try:
                    event = event_from_proto(parse_message(pb.WatchEvent, data))
                except CodecError as exc:
                    raise TransportError(f"{address}: Watch: malformed event: {exc}") from None
                yield event
        except grpc.aio.AioRpcError as exc:
            reply = _error_reply(exc)
            if reply is not None:
                raise TransportError(f"{address}: Watch refused: {reply.code}: {reply.message}") from None
            raise _rpc_failure(address, "Watch", exc, None) from None
        finally:
            call.cancel()

    async def serve(self, address: str, handler: Handler, watcher: Watcher | None = None) -> GrpcServer:
        """Serve ``handler`` (and ``watcher`` for Watch) on ``address``; port 0 picks a free port.

        Raises ``ValueError`` for a malformed address, :class:`TransportError` when the
        address cannot be bound.
        """
        host, port = parse_address(address)
        stopping = asyncio.Event()
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
            name: grpc.unary_unary_rpc_method_handler(_unary_behaviour(method, handler))
            for name, method in METHODS.items()
        }
        handlers["Watch"] = grpc.unary_stream_rpc_method_handler(_watch_behaviour(watcher, stopping))
        server = grpc.aio.server(options=_SERVER_OPTIONS)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        try:
            bound = server.add_insecure_port(format_address(host, port))
        except RuntimeError as exc:
            bound, reason = 0, str(exc)
        else:
            reason = "address in use or not local"
        if bound == 0:
            await server.stop(None)
            raise TransportError(f"cannot listen on {address}: {reason}")
        await server.start()
        return GrpcServer(server, format_address(host, bound), stopping)

    async def close(self) -> None:
        """Close every client channel (later calls open new ones)."""
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()


__all__ = ["ERROR_METADATA_KEY", "MAX_MESSAGE_BYTES", "STATUS_FOR_ERROR", "GrpcServer", "GrpcTransport"]
