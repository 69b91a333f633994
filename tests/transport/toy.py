"""A handler with canned answers for every request type, shared by the transport tests.

Run as ``python -m tests.transport.toy tcp|grpc`` it serves on 127.0.0.1 in its own process and
prints its address (the peer-death tests kill that process with SIGKILL mid-call).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import get_args

from chordial.core.events import Event
from chordial.core.messages import (
    Ack,
    ClientDelete,
    ClientGet,
    ClientLookup,
    ClientPut,
    DataReply,
    Entry,
    ErrorCode,
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
from chordial.transport.carriers import make_transport

ME = NodeRef(2**160 - 3, "127.0.0.1:7000")
PEER = NodeRef(42, "127.0.0.1:7001")
ZERO = NodeRef(0, "[::1]:7002")
ENTRY = Entry("k", 2**159 + 1, b"v", 2)
TOMBSTONE = Entry("gone", 5, b"", 3, deleted=True)
UNICODE = Entry("ключ ✓", 0, bytes(range(256)), 0)

EXCHANGES: list[tuple[Request, Response]] = [
    (Ping(), Pong(ME, 160)),
    (GetNeighbours(), Neighbours(ME, None, ())),
    (Notify(PEER), Neighbours(ME, PEER, (PEER, ZERO, ME))),
    (FindStep(2**160 - 1, (2**160 - 1, 0, 7)), StepReply(True, (PEER, ME))),
    (FindStep(0), StepReply(False, (ZERO,))),
    (TransferKeys(PEER, (ENTRY, TOMBSTONE, UNICODE), True, ZERO), Ack()),
    (TransferKeys(PEER, ()), Ack()),
    (LeaveNotice(PEER, (ME, ZERO)), Ack()),
    (Store("k", b"\x00v", False), StoreReply(True, ENTRY, None)),
    (Store("gone", delete=True), StoreReply(False, None, PEER)),
    (Fetch("k"), FetchReply(ENTRY, None)),
    (Fetch("k", replica=True), FetchReply(None, ZERO)),
    (Replicate(ME, (ENTRY, TOMBSTONE), (PEER, ZERO), overwrite=False), Ack()),
    (SyncRange(ME, 0, 2**160 - 1, b"\x01" * 20, None), SyncReply(True)),
    (SyncRange(ME, 5, 4, b"", (("a", 1), ("ключ", 0))), SyncReply(False, ("a", "b"), (ENTRY, UNICODE))),
    (ClientPut("k", b"value"), DataReply(2**159 + 1, PEER, (ME, PEER), False, ENTRY, 0)),
    (ClientGet("k", "eventual"), DataReply(0, ME, (ME,), True, UNICODE, 3)),
    (ClientGet("absent"), DataReply(1, ME, (ME,), False, None, 0)),
    (ClientDelete("k"), DataReply(9, ZERO, (ME, PEER, ZERO), True, TOMBSTONE, 1)),
    (ClientLookup("k"), DataReply(2**159, PEER, (ME, PEER))),
    (GetState(), NodeState(ME, None, (PEER,), (None, PEER, ZERO), 1, 160, "active", 7)),
    (ListKeys(True, True), KeyList(ME, (ENTRY, TOMBSTONE, UNICODE))),
    (ListKeys(), KeyList(ZERO, ())),
    (Leave(), Ack()),
]
"""One or more exchanges per request type, with optional fields both absent and present."""

_ANSWERS: dict[Request, Response] = dict(EXCHANGES)


class EventFeed:
    """The event side of a test handler: ``events`` for a carrier's Watch, ``publish`` to feed it."""

    def __init__(self) -> None:
        self.subscribers: list[asyncio.Queue[Event]] = []

    async def events(self) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self.subscribers.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self.subscribers.remove(queue)

    def publish(self, event: Event) -> None:
        for queue in self.subscribers:
            queue.put_nowait(event)


class Toy(EventFeed):
    """A handler with canned answers (:data:`EXCHANGES`) and a few misbehaving keys, plus an
    event feed."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Request] = []

    async def handle(self, request: Request) -> Response:
        self.seen.append(request)
        match request:
            case ClientGet(key="boom"):
                raise RuntimeError("the handler broke")
            case ClientGet(key="wrong-type"):
                return Ack()
            case ClientGet(key=key) if key.startswith("sleep:"):
                await asyncio.sleep(float(key.removeprefix("sleep:")))
                return DataReply(0, ME, (ME,), False, None, 0)
            case ClientGet(key=key) if key in get_args(ErrorCode):
                return ErrorReply(key, f"refused with {key} ✗")  # type: ignore[arg-type]
            case ClientPut(key="echo", value=value):
                return DataReply(0, ME, (ME,), True, Entry("echo", 0, value, 1), 0)
        answer = _ANSWERS.get(request)
        if answer is None:
            return ErrorReply("invalid", f"unexpected {request!r}")
        return answer


async def _serve_forever(carrier: str, port: int) -> None:
    toy = Toy()
    server = await make_transport(carrier).serve(f"127.0.0.1:{port}", toy.handle, toy.events)
    print(server.address, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve_forever(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0))
