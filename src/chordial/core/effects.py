"""What a core procedure asks its driver to do, and what the driver answers.

Procedures are generators (Chord's operations are sequences of remote calls). A procedure
yields an effect; the driver performs it and resumes the generator with the result:

* :class:`Call` → the reply; :class:`PeerFailed` is thrown in instead when the peer did not
  answer in time, could not be reached, or answered ``ErrorReply("unavailable")`` (it is not
  serving the ring). Other ``ErrorReply`` values are delivered as replies;
* :class:`Sleep` → ``None`` after the given time;
* :class:`Spawn` → ``None`` at once, after starting the given procedure on its own (its
  result and failure are dropped: fire and forget, e.g. eventual-mode replica pushes).

This keeps the core free of I/O and clocks (the sans-IO shape of h11 and aioquic): the asyncio
runtime and the discrete-event simulator are both small loops around ``generator.send``.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from chordial.core.messages import ErrorCode, ErrorReply, NodeRef, Request, Response


@dataclass(frozen=True, slots=True)
class Call:
    target: NodeRef
    request: Request
    timeout: float


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class Spawn:
    procedure: Generator[Any, Any, Any]


Effect = Call | Sleep | Spawn
T = TypeVar("T")
Procedure = Generator[Effect, Any, T]


class ChordError(Exception):
    """A failure the core reports to whoever started the procedure."""

    code: ErrorCode = "internal"

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class PeerFailed(ChordError):
    """The peer did not answer within the deadline, or could not be reached (fail-stop)."""

    code: ErrorCode = "unavailable"

    def __init__(self, peer: NodeRef, reason: str = "no answer") -> None:
        super().__init__(f"node {peer.address} unreachable: {reason}")
        self.peer = peer


class RemoteError(ChordError):
    """The peer answered with an :class:`~chordial.core.messages.ErrorReply`."""


class LookupError_(ChordError):
    """A lookup ran out of routes or hops."""

    code: ErrorCode = "unavailable"


def expect(reply: Response, kind: type[T]) -> T:
    """Check that a reply has the type the request promises.

    An ``ErrorReply`` becomes :class:`RemoteError` with the peer's code and reason; any other
    unexpected reply (garbage from a peer) is an internal error.
    """
    if isinstance(reply, ErrorReply):
        raise RemoteError(reply.message, reply.code)
    if not isinstance(reply, kind):
        raise ChordError(f"expected {kind.__name__} in reply, got {type(reply).__name__}", "internal")
    return reply
