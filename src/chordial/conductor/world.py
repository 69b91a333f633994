"""What the two worlds (virtual and live) share: the interface the conductor drives, the feed of
changes it flushes to browsers, and the conversions from core events and node state to views.

Views are built as plain dicts shaped like the :mod:`~chordial.conductor.protocol` models rather
than as model instances: a 10,000-node snapshot is built in a fraction of the time, and the
tests validate what goes out against the models.
"""

from __future__ import annotations

import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

from chordial.conductor.protocol import (
    DETAIL_LIMIT,
    ChurnArgs,
    NodeStateName,
    Params,
    Status,
    WorkloadArgs,
    position,
)
from chordial.core.ids import between_right_incl, finger_start, format_id, key_id
from chordial.core.messages import Entry, NodeRef

__all__ = ["Feed", "UnknownNode", "WorldBase", "WorldError", "decode_value", "encode_value", "event_view"]

JsonDict = dict[str, Any]

EVENTS_PER_FLUSH = 100
"""Events one delta carries at most; the rest are counted in ``dropped``."""
GONE_AFTER = 10.0
"""Wall seconds a crashed or departed node stays in the view (state crashed/left) before removal."""
QUIET_PURPOSES = frozenset({"finger", "join"})
"""Lookups that maintenance makes: counted, but not streamed one by one."""
CHANGING_KINDS = frozenset(
    {
        "joined",
        "successor_changed",
        "predecessor_changed",
        "finger_updated",
        "keys_transferred",
        "key_written",
        "replicas_written",
        "replicas_repaired",
        "left",
    }
)
"""Event kinds after which the node's view may differ."""


class WorldError(Exception):
    """A request the world refuses, with a one-line reason and the HTTP status it maps to."""

    status_code = 400

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        if status_code is not None:
            self.status_code = status_code


class UnknownNode(WorldError):
    status_code = 404


def encode_value(value: Any) -> bytes:
    """A JSON value as stored bytes: strings as their UTF-8 text (so ``chordial get`` prints them
    plainly), anything else as compact JSON text."""
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode_value(data: bytes) -> Any:
    """Stored bytes as a JSON value: JSON text of a non-string is that value, other text a string,
    bytes that are not UTF-8 a ``{"base64": ...}`` object."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        import base64

        return {"base64": base64.b64encode(data).decode("ascii")}
    stripped = text.strip()
    if stripped[:1] in ("{", "[", "-") or stripped[:1].isdigit() or stripped in ("true", "false", "null"):
        try:
            value = json.loads(stripped)
        except ValueError:
            return text
        if not isinstance(value, str):
            return value
    return text


# ------------------------------------------------------------------------------------------ views


def fingers_view(fingers: Sequence[Any]) -> list[JsonDict]:
    """Distinct fingers in table order: the first index of each run of equal entries.

    ``fingers`` holds NodeRefs (virtual) or ``{"id": ...}`` dicts / decimal strings (live)."""
    out: list[JsonDict] = []
    previous: Any = None
    for index, finger in enumerate(fingers):
        if finger is not None and finger != previous:
            out.append({"index": index, "node": _id_of(finger)})
        previous = finger
    return out


def _id_of(ref: Any) -> str:
    if isinstance(ref, NodeRef):
        return str(ref.id)
    if isinstance(ref, dict):
        return str(ref["id"])
    return str(ref)


def node_view(
    nid: int,
    bits: int,
    address: str,
    state: NodeStateName,
    predecessor: Any,
    successors: Sequence[Any],
    fingers: Sequence[Any],
    keys: int,
    replicas: int,
    detail: bool,
) -> JsonDict:
    return {
        "id": str(nid),
        "pos": position(nid, bits),
        "address": address,
        "state": state,
        "predecessor": None if predecessor is None else _id_of(predecessor),
        "successors": [_id_of(s) for s in (successors if detail else successors[:1])],
        "fingers": fingers_view(fingers) if detail else None,
        "keys": keys,
        "replicas": replicas,
    }


def finger_table(nid: int, bits: int, fingers: Sequence[Any]) -> list[JsonDict]:
    """Every finger (m ≤ 16) or every run of equal fingers: start, interval [start, end), node."""
    size = 1 << bits
    rows: list[JsonDict] = []
    every = bits <= 16
    starts = list(range(bits)) if every else [i for i in range(bits) if i == 0 or fingers[i] != fingers[i - 1]]
    for n, index in enumerate(starts):
        end_index = starts[n + 1] if n + 1 < len(starts) else bits
        start = finger_start(nid, index, bits)
        end = finger_start(nid, end_index, bits) if end_index < bits else nid
        finger = fingers[index] if index < len(fingers) else None
        rows.append(
            {
                "index": index,
                "start": str(start),
                "start_pos": position(start, bits),
                "interval_end": str(end % size),
                "node": None if finger is None else _id_of(finger),
            }
        )
    return rows


def keys_held(entries: Iterable[Entry], predecessor: int | None, nid: int, limit: int = 200) -> list[JsonDict]:
    out: list[JsonDict] = []
    for entry in entries:
        if entry.deleted:
            continue
        owned = predecessor is None or between_right_incl(predecessor, entry.key_id, nid)
        out.append({"key": entry.key, "key_id": str(entry.key_id), "version": entry.version, "owned": owned})
        if len(out) >= limit:
            break
    return out


def kv_result(
    key: str, bits: int, owner: NodeRef | None, path: Sequence[NodeRef], found: bool, entry: Entry | None
) -> JsonDict:
    kid = key_id(key, bits)
    return {
        "key": key,
        "key_id": str(kid),
        "key_pos": position(kid, bits),
        "owner": None if owner is None else str(owner.id),
        "owner_address": None if owner is None else owner.address,
        "path": [str(p.id) for p in path],
        "hops": max(0, len(path) - 1),
        "found": found,
        "value": decode_value(entry.value) if entry is not None and not entry.deleted and found else None,
        "version": None if entry is None else entry.version,
    }


# ------------------------------------------------------------------------------------------ events


def _ref_id(value: Any) -> str | None:
    if isinstance(value, dict) and "id" in value:
        return str(value["id"])
    return None


def event_view(event: JsonDict, bits: int) -> JsonDict:
    """An event in :func:`chordial.transport.codec.event_to_dict` form as an EventView dict."""
    kind = str(event.get("kind", "event"))
    node = _ref_id(event.get("node")) or "0"
    short = _short(bits)
    nodes: list[str] = [node]
    view: JsonDict = {
        "kind": kind,
        "time": float(event.get("time", 0.0)),
        "node": node,
        "nodes": nodes,
        "text": "",
        "path": None,
        "hops": None,
        "key": None,
        "key_id": None,
        "key_pos": None,
        "count": None,
    }
    for name in ("peer", "new", "old", "successor", "finger"):
        ref = _ref_id(event.get(name))
        if ref is not None and ref not in nodes:
            nodes.append(ref)
    if isinstance(event.get("path"), list):
        path = [p for p in (_ref_id(x) for x in event["path"]) if p is not None]
        view["path"] = path
        view["hops"] = max(0, len(path) - 1)
        nodes.extend(p for p in path if p not in nodes)
    if isinstance(event.get("replicas"), list):
        nodes.extend(p for p in (_ref_id(x) for x in event["replicas"]) if p is not None and p not in nodes)
    if isinstance(event.get("node_ids"), list):
        nodes.extend(str(x) for x in event["node_ids"] if str(x) not in nodes)
    if isinstance(event.get("key"), str):
        view["key"] = event["key"]
        kid = key_id(event["key"], bits)
        view["key_id"], view["key_pos"] = str(kid), position(kid, bits)
    elif event.get("key_id") is not None:
        kid = int(str(event["key_id"]))
        view["key_id"], view["key_pos"] = str(kid), position(kid, bits)
    if isinstance(event.get("count"), int):
        view["count"] = event["count"]
    view["text"] = _summary(kind, event, view, short)
    return view


def _short(bits: int) -> Any:
    def fmt(text: str | None) -> str:
        return "none" if text is None else format_id(int(text), bits)

    return fmt


def _summary(kind: str, event: JsonDict, view: JsonDict, short: Any) -> str:
    me = short(view["node"])
    if kind == "joined":
        successor = _ref_id(event.get("successor"))
        return f"{me} joined" + (f" (successor {short(successor)})" if successor else "")
    if kind == "successor_changed":
        return f"{me}: successor {short(_ref_id(event.get('old')))} → {short(_ref_id(event.get('new')))}"
    if kind == "predecessor_changed":
        return f"{me}: predecessor {short(_ref_id(event.get('old')))} → {short(_ref_id(event.get('new')))}"
    if kind == "finger_updated":
        return f"{me}: finger {event.get('index')} → {short(_ref_id(event.get('finger')))}"
    if kind == "keys_transferred":
        way = "to" if event.get("outgoing") else "from"
        return f"{me}: {event.get('count')} keys {way} {short(_ref_id(event.get('peer')))} ({event.get('reason')})"
    if kind == "lookup_completed":
        key = f" for {event.get('purpose')}" if event.get("purpose") else ""
        return f"{me}: lookup{key} of {short(view['key_id'])} in {view['hops']} hops"
    if kind == "lookup_failed":
        return f"{me}: lookup of {short(view['key_id'])} failed: {event.get('reason')}"
    if kind == "key_written":
        what = "deleted" if event.get("deleted") else f"written (v{event.get('version')})"
        return f"{me}: key {event.get('key')!r} {what}"
    if kind == "replicas_written":
        return f"{me}: {event.get('key')!r} v{event.get('version')} on {len(event.get('replicas') or [])} replicas"
    if kind == "replicas_repaired":
        return f"{me}: repair sent {event.get('count')} entries to {short(_ref_id(event.get('peer')))}"
    if kind == "stale_read":
        return f"{me}: stale read of {event.get('key')!r} (v{event.get('version')}, latest v{event.get('latest')})"
    if kind == "left":
        return f"{me} left the ring"
    if kind == "peer_failed":
        return f"{me}: {short(_ref_id(event.get('peer')))} did not answer ({event.get('during')})"
    if kind == "invariant_violated":
        return f"invariant {event.get('invariant')} violated: {event.get('detail')}"
    if kind == "crashed":
        return f"{me} crashed"
    return f"{me}: {kind}"


# ------------------------------------------------------------------------------------------ feed


class Feed:
    """What changed since the last flush: dirty node ids, removed ids, and events (capped per
    flush, the excess counted). Touched only on the loop's thread."""

    def __init__(self) -> None:
        self.dirty: set[int] = set()
        self.removed: set[int] = set()
        self.raw: list[Any] = []
        self.dropped = 0

    def keep(self, event: Any) -> None:
        """Queue an event (a core Event or an event dict) for the next delta, or count it dropped."""
        if len(self.raw) < EVENTS_PER_FLUSH:
            self.raw.append(event)
        else:
            self.dropped += 1

    def take(self) -> tuple[set[int], set[int], list[Any], int]:
        out = (self.dirty, self.removed, self.raw, self.dropped)
        self.dirty, self.removed, self.raw, self.dropped = set(), set(), [], 0
        return out


# ------------------------------------------------------------------------------------------ base


class WorldBase(ABC):
    """One running simulation, virtual or live; the conductor calls these on its event loop."""

    kind: str = "virtual"

    def __init__(self, params: Params) -> None:
        self.params = params
        self.bits = params.id_bits
        self.status: Status = "idle"
        self.feed = Feed()
        self.gone: dict[int, tuple[NodeStateName, float]] = {}
        self.started_wall = time.time()

    @property
    def detail(self) -> bool:
        return self.node_count() <= DETAIL_LIMIT

    # life cycle
    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    def pause(self) -> None: ...

    @abstractmethod
    def resume(self) -> None: ...

    @abstractmethod
    async def step(self, seconds: float | None) -> float: ...

    @abstractmethod
    def set_speed(self, speed: float | str) -> None: ...

    @abstractmethod
    def now(self) -> float: ...

    # views
    @abstractmethod
    def node_count(self) -> int: ...

    @abstractmethod
    def node_views(self) -> list[JsonDict]: ...

    @abstractmethod
    def view_of(self, nid: int) -> JsonDict | None:
        """The node's current view, or None when it is gone for good."""

    @abstractmethod
    async def inspect(self, nid: int) -> JsonDict: ...

    @abstractmethod
    def stats(self) -> JsonDict: ...

    def event_views(self, raw: list[Any]) -> list[JsonDict]:
        return [event_view(e, self.bits) for e in raw]

    # controls
    @abstractmethod
    async def add_node(self, nid: int | None) -> JsonDict: ...

    @abstractmethod
    async def leave(self, nid: int) -> None: ...

    @abstractmethod
    async def crash(self, nid: int) -> None: ...

    @abstractmethod
    async def kv(self, op: str, key: str, value: Any = None, consistency: str | None = None) -> JsonDict: ...

    def partition(self, nids: list[int]) -> None:
        raise WorldError("partitions exist only in the virtual world", 409)

    def heal(self) -> None:
        raise WorldError("partitions exist only in the virtual world", 409)

    @abstractmethod
    def set_workload(self, args: WorkloadArgs) -> None: ...

    @abstractmethod
    def set_churn(self, args: ChurnArgs) -> None: ...

    # helpers
    def merged_workload(self, args: WorkloadArgs) -> Params:
        """Params with ``args`` applied, validated as a whole (raises WorldError)."""
        changes = {
            "workload_rate": args.rate,
            "mix_get": args.get,
            "mix_put": args.put,
            "mix_delete": args.delete,
            "mix_lookup": args.lookup,
            "popularity": args.popularity,
            "zipf_exponent": args.zipf,
        }
        return self._merged({k: v for k, v in changes.items() if v is not None})

    def merged_churn(self, args: ChurnArgs) -> Params:
        return self._merged({k: v for k, v in args.model_dump().items() if v is not None})

    def _merged(self, changes: dict[str, Any]) -> Params:
        from pydantic import ValidationError

        from chordial.conductor.protocol import one_line_validation

        try:
            return Params.model_validate({**self.params.model_dump(), **changes})
        except ValidationError as exc:
            raise WorldError(one_line_validation(exc), 422) from None

    def mark_gone(self, nid: int, state: NodeStateName) -> None:
        self.gone[nid] = (state, time.monotonic())
        self.feed.dirty.add(nid)

    def expire_gone(self) -> None:
        """Nodes crashed or departed more than GONE_AFTER seconds ago leave the view."""
        limit = time.monotonic() - GONE_AFTER
        for nid, (_, when) in list(self.gone.items()):
            if when < limit:
                del self.gone[nid]
                self.feed.removed.add(nid)
                self.feed.dirty.discard(nid)


def summary_numbers(values: list[float]) -> JsonDict:
    """min / mean / max / p99 of ``values`` (zeros when empty)."""
    if not values:
        return {"min": 0.0, "mean": 0.0, "max": 0.0, "p99": 0.0}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, max(0, math.ceil(0.99 * len(ordered)) - 1))]
    return {"min": ordered[0], "mean": sum(ordered) / len(ordered), "max": ordered[-1], "p99": p99}


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))])
