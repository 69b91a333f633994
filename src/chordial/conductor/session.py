"""The conductor's session: one world at a time, the browsers watching it, and what they are sent.

Every ``FLUSH`` seconds the session takes what the world's feed gathered (dirty nodes, removed
nodes, events), turns it into node and event views once, and offers them to every connection.
A connection coalesces what it has not sent yet — the latest view of each node wins, events are
capped and the excess counted — so a slow browser costs bounded memory and, when it falls too
far behind, simply gets a fresh snapshot instead of the backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from chordial.conductor.dataset import builtin
from chordial.conductor.protocol import (
    COMMAND,
    DETAIL_LIMIT,
    AddNodeCommand,
    ChurnCommand,
    ControlCommand,
    DeleteCommand,
    GetCommand,
    NodeCommand,
    Params,
    PartitionCommand,
    PutCommand,
    SpeedCommand,
    StartCommand,
    StepCommand,
    WorkloadCommand,
    one_line_validation,
    parse_id,
)
from chordial.conductor.world import JsonDict, WorldBase, WorldError
from chordial.core.ids import key_id
from chordial.sim.models import Dataset

__all__ = ["Connection", "Session"]

log = logging.getLogger("chordial.conductor")

FLUSH = 0.05
"""Seconds between deltas (at most 20 a second)."""
STATS_EVERY = 1.0
"""Wall seconds between statistics messages."""
PENDING_NODES_LIMIT = 5000
"""A connection with more unsent node views than this gets a snapshot instead."""
PENDING_EVENTS = 300
PENDING_REPLIES = 100
SEND_TIMEOUT = 30.0
"""Seconds one websocket send may take before the connection is given up."""
HISTORY_LIMIT = 86_400
MAX_COMMAND_BYTES = 1 << 20


class Connection:
    """One browser: what it has not been sent yet, coalesced, and the task that sends it."""

    def __init__(self, send_text: Callable[[str], Awaitable[None]]) -> None:
        self._send_text = send_text
        self.need_snapshot = True
        self.upserts: dict[str, JsonDict] = {}
        self.removed: set[str] = set()
        self.events: deque[JsonDict] = deque(maxlen=PENDING_EVENTS)
        self.dropped = 0
        self.stats: JsonDict | None = None
        self.status: JsonDict | None = None
        self.replies: deque[JsonDict] = deque(maxlen=PENDING_REPLIES)
        self.wake = asyncio.Event()
        self.sent = 0

    def offer(self, upserts: list[JsonDict], removed: list[str], events: list[JsonDict], dropped: int) -> None:
        if not self.need_snapshot:
            for view in upserts:
                self.upserts[view["id"]] = view
                self.removed.discard(view["id"])
            for nid in removed:
                self.upserts.pop(nid, None)
                self.removed.add(nid)
            if len(self.upserts) + len(self.removed) > PENDING_NODES_LIMIT:
                self.need_snapshot = True
        if self.need_snapshot:
            self.upserts.clear()
            self.removed.clear()
        overflow = max(0, len(self.events) + len(events) - PENDING_EVENTS)
        self.dropped += dropped + overflow
        self.events.extend(events)
        if upserts or removed or events or dropped:
            self.wake.set()

    def offer_stats(self, stats: JsonDict) -> None:
        self.stats = stats
        self.wake.set()

    def offer_status(self, status: JsonDict) -> None:
        self.status = status
        self.wake.set()

    def reply(self, message: JsonDict) -> None:
        self.replies.append(message)
        self.wake.set()

    def snapshot_wanted(self) -> None:
        self.need_snapshot = True
        self.upserts.clear()
        self.removed.clear()
        self.wake.set()

    async def send(self, message: JsonDict | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
        await asyncio.wait_for(self._send_text(text), SEND_TIMEOUT)
        self.sent += 1

    async def run(self, session: Session) -> None:
        """Send what is pending whenever there is something, newest state only."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.replies:
                await self.send(self.replies.popleft())
            if self.status is not None:
                status, self.status = self.status, None
                await self.send(status)
            if self.need_snapshot:
                self.need_snapshot = False
                self.events.clear()
                self.dropped = 0
                await self.send(session.snapshot_text())
            elif self.upserts or self.removed or self.events or self.dropped:
                delta = {
                    "type": "delta",
                    "v": 1,
                    "seq": session.seq,
                    "time": session.now(),
                    "upserts": list(self.upserts.values()),
                    "removed": sorted(self.removed),
                    "events": list(self.events),
                    "dropped": self.dropped,
                }
                self.upserts, self.removed, self.dropped = {}, set(), 0
                self.events.clear()
                await self.send(delta)
            if self.stats is not None:
                stats, self.stats = self.stats, None
                await self.send(stats)


class Session:
    """One simulation at a time and everybody watching it."""

    def __init__(self) -> None:
        self.world: WorldBase | None = None
        self.params = Params()
        self.connections: set[Connection] = set()
        self.seq = 0
        self.history: deque[JsonDict] = deque(maxlen=HISTORY_LIMIT)
        self.event_log: deque[JsonDict] = deque(maxlen=100_000)
        self.uploaded: Dataset | None = None
        self.lifecycle = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._snapshot_cache: tuple[int, str] | None = None
        self._last_stats = 0.0

    # ------------------------------------------------------------------------------ life cycle

    def open(self) -> None:
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_forever(), name="conductor flush")

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        async with self.lifecycle:
            await self._stop_world()

    def dataset_for(self, params: Params) -> Dataset:
        if params.dataset == "generated":
            return Dataset.generated(params.dataset_size)
        if params.dataset == "uploaded":
            if self.uploaded is None:
                raise WorldError("no dataset uploaded yet: POST a file to /api/dataset first", 409)
            return self.uploaded
        return builtin()

    async def start(self, params: Params) -> Params:
        async with self.lifecycle:
            dataset = self.dataset_for(params)
            await self._stop_world()
            if params.world == "live":
                from chordial.conductor.live import LiveWorld

                world: WorldBase = LiveWorld(params, dataset)
            else:
                from chordial.conductor.virtual import VirtualWorld

                world = VirtualWorld(params, dataset)
            self.params = params
            self.history.clear()
            self.event_log.clear()
            self.world = world
            try:
                await world.start()
            except BaseException:
                self.world = None
                await world.stop()
                raise
            self._last_stats = 0.0
            world.feed.take()  # what building the ring emitted: the snapshot below covers it
            self.broadcast_status()
            self._snapshot_all()
            return params

    async def stop(self) -> None:
        async with self.lifecycle:
            await self._stop_world()

    async def _stop_world(self) -> None:
        world = self.world
        if world is None:
            return
        if world.status != "stopped":
            await world.stop()
        world.status = "stopped"
        self.broadcast_status()

    def require_world(self) -> WorldBase:
        world = self.world
        if world is None or world.status == "stopped":
            raise WorldError("no simulation is running: start one first", 409)
        return world

    # ------------------------------------------------------------------------------ messages

    def now(self) -> float:
        return self.world.now() if self.world is not None else 0.0

    def status_message(self) -> JsonDict:
        world = self.world
        return {
            "type": "status",
            "v": 1,
            "status": world.status if world is not None else "idle",
            "time": self.now(),
            "speed": world.params.speed if world is not None else self.params.speed,
            "world": world.kind if world is not None else self.params.world,
        }

    def snapshot(self) -> JsonDict:
        world = self.world
        params = world.params if world is not None else self.params
        nodes = world.node_views() if world is not None else []
        return {
            "type": "snapshot",
            "v": 1,
            "seq": self.seq,
            "time": self.now(),
            "world": params.world,
            "status": world.status if world is not None else "idle",
            "speed": params.speed,
            "params": params.model_dump(mode="json"),
            "id_bits": params.id_bits,
            "detail": len(nodes) <= DETAIL_LIMIT if world is None else world.detail,
            "nodes": nodes,
        }

    def snapshot_text(self) -> str:
        """The snapshot as JSON text, built once per flush however many browsers need it."""
        cached = self._snapshot_cache
        if cached is not None and cached[0] == self.seq:
            return cached[1]
        text = json.dumps(self.snapshot(), separators=(",", ":"))
        self._snapshot_cache = (self.seq, text)
        return text

    def broadcast_status(self) -> None:
        self._snapshot_cache = None
        status = self.status_message()
        for conn in self.connections:
            conn.offer_status(status)

    def _snapshot_all(self) -> None:
        self.seq += 1
        for conn in self.connections:
            conn.snapshot_wanted()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH)
            try:
                self.flush()
            except Exception:
                log.exception("flush failed")

    def flush(self) -> None:
        self._snapshot_cache = None
        world = self.world
        if world is None or world.status == "stopped":
            return
        world.expire_gone()
        dirty, removed, raw, dropped = world.feed.take()
        upserts: list[JsonDict] = []
        gone = {str(n) for n in removed}
        for nid in dirty:
            view = world.view_of(nid)
            if view is None:
                gone.add(str(nid))
            else:
                upserts.append(view)
        events = world.event_views(raw) if raw else []
        self.event_log.extend(events)
        if upserts or gone or events or dropped:
            self.seq += 1
            for conn in self.connections:
                conn.offer(upserts, sorted(gone), events, dropped)
        wall = time.monotonic()
        if wall - self._last_stats >= STATS_EVERY and world.status in ("running", "paused"):
            self._last_stats = wall
            stats = world.stats()
            stats["wall"] = round(wall, 3)
            self.history.append(stats)
            public = {k: v for k, v in stats.items() if k != "wall"}
            for conn in self.connections:
                conn.offer_stats(public)

    # ------------------------------------------------------------------------------ commands

    async def on_text(self, conn: Connection, text: str) -> None:
        """One message from a browser: a command, answered by a result; anything else, an error."""
        if len(text) > MAX_COMMAND_BYTES:
            conn.reply(_error(f"message of {len(text)} bytes is too long (limit {MAX_COMMAND_BYTES})"))
            return
        try:
            raw = json.loads(text)
        except ValueError as exc:
            conn.reply(_error(f"not JSON: {exc}"))
            return
        request_id = raw.get("request_id") if isinstance(raw, dict) else None
        request_id = request_id if isinstance(request_id, str) else None
        if not isinstance(raw, dict) or raw.get("type") != "command":
            kind = raw.get("type") if isinstance(raw, dict) else type(raw).__name__
            conn.reply(_error(f"unknown message type {kind!r}: browsers send only type 'command'", request_id))
            return
        if raw.get("v", 1) != 1:
            conn.reply(
                _error(f"protocol version {raw.get('v')!r} is not supported (this conductor speaks 1)", request_id)
            )
            return
        try:
            command = COMMAND.validate_python(raw)
        except ValidationError as exc:
            message = one_line_validation(exc)
            if request_id is None:
                conn.reply(_error(message))
            else:
                conn.reply(_result(request_id, error=message))
            return
        try:
            data = await self.execute(command)
        except WorldError as exc:
            conn.reply(_result(command.request_id, error=str(exc)))
        except Exception as exc:  # a bug must not end the session: report it on the socket
            log.exception("command %s failed", command.action)
            conn.reply(_result(command.request_id, error=f"internal error: {type(exc).__name__}: {exc}"))
        else:
            conn.reply(_result(command.request_id, data=data))

    async def execute(self, command: Any) -> JsonDict:
        """Carry out a validated command (websocket and REST alike); WorldError on refusal."""
        if isinstance(command, StartCommand):
            try:
                params = Params.model_validate({**command.args})
            except ValidationError as exc:
                raise WorldError(one_line_validation(exc), 422) from None
            started = await self.start(params)
            return {"params": started.model_dump(mode="json")}
        if isinstance(command, ControlCommand):
            action = command.action
            if action == "stop":
                await self.stop()
                return {"status": "stopped"}
            world = self.require_world()
            if action == "pause":
                world.pause()
            elif action == "resume":
                world.resume()
            else:
                world.heal()
                return {}
            self.broadcast_status()
            return {"status": world.status}
        world = self.require_world()
        bits = world.bits
        if isinstance(command, StepCommand):
            if world.kind != "virtual":
                raise WorldError("step exists only in the virtual world", 409)
            time_now = await world.step(command.args.seconds)
            self.broadcast_status()
            return {"time": time_now}
        if isinstance(command, SpeedCommand):
            world.set_speed(command.args.speed)
            self.broadcast_status()
            return {"speed": command.args.speed}
        if isinstance(command, AddNodeCommand):
            nid = _id(command.args.id, bits) if command.args.id is not None else None
            return {"node": await world.add_node(nid)}
        if isinstance(command, NodeCommand):
            nid = _id(command.args.node, bits)
            if command.action == "inspect":
                return await world.inspect(nid)
            if command.action == "leave":
                await world.leave(nid)
            else:
                await world.crash(nid)
            return {"node": command.args.node}
        if isinstance(command, PutCommand):
            key = command.args.key
            if key is None:
                key = key_named_for(_id(command.args.key_id or "", bits), bits)
            return await world.kv("put", key, command.args.value)
        if isinstance(command, GetCommand):
            return await world.kv("get", command.args.key, consistency=command.args.consistency)
        if isinstance(command, DeleteCommand):
            return await world.kv("delete", command.args.key)
        if isinstance(command, PartitionCommand):
            world.partition([_id(n, bits) for n in command.args.nodes])
            return {}
        if isinstance(command, WorkloadCommand):
            world.set_workload(command.args)
            return {"params": world.params.model_dump(mode="json")}
        if isinstance(command, ChurnCommand):
            world.set_churn(command.args)
            return {"params": world.params.model_dump(mode="json")}
        raise WorldError(f"unknown action {getattr(command, 'action', '?')!r}")

    # ------------------------------------------------------------------------------ connections

    def attach(self, conn: Connection) -> None:
        self.connections.add(conn)
        conn.snapshot_wanted()
        conn.offer_status(self.status_message())

    def detach(self, conn: Connection) -> None:
        self.connections.discard(conn)


KEY_SEARCH_BITS = 20
"""Largest ring on which a key name is searched for a chosen key id (2^m hashes at worst)."""


def key_named_for(kid: int, bits: int) -> str:
    """The first key name ``k0``, ``k1``, … whose id is ``kid``: how teaching mode inserts a key
    at a chosen position (a key's id is the hash of its name, so the name has to be found)."""
    if bits > KEY_SEARCH_BITS:
        raise WorldError(f"keys are placed by id only on rings of m ≤ {KEY_SEARCH_BITS} bits (this one has {bits})")
    for n in range(64 << bits):
        name = f"k{n}"
        if key_id(name, bits) == kid:
            return name
    raise WorldError(f"found no key name with id {kid}")  # pragma: no cover - SHA-1 covers small rings


def _id(text: str, bits: int) -> int:
    try:
        return parse_id(text, bits)
    except ValueError as exc:
        raise WorldError(str(exc)) from None


def _error(message: str, request_id: str | None = None) -> JsonDict:
    return {"type": "error", "v": 1, "message": message, "request_id": request_id}


def _result(request_id: str, *, data: JsonDict | None = None, error: str | None = None) -> JsonDict:
    return {"type": "result", "v": 1, "request_id": request_id, "ok": error is None, "data": data, "error": error}
