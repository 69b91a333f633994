"""The ``chordial`` command: run a node, read and write keys, inspect the overlay.

Every failure is reported as one line on stderr (``error: ...``) with exit code 2 for bad
input and 1 for keys not found or nodes unavailable; no traceback reaches the user.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import shlex
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from chordial.client import (
    DEFAULT_REPLICAS,
    DEFAULT_TIMEOUT,
    ChordClient,
    ChordialError,
    InvalidRequest,
    KeyNotFound,
    Unavailable,
    owns,
    ring_problems,
)
from chordial.core.config import CONSISTENCY_MODES, ChordConfig
from chordial.core.effects import ChordError
from chordial.core.events import (
    Event,
    KeysTransferred,
    NodeJoined,
    NodeLeft,
    PeerFailedEvent,
    PredecessorChanged,
    SuccessorChanged,
)
from chordial.core.ids import DEFAULT_ID_BITS, format_id, key_id
from chordial.core.messages import DataReply, Entry, NodeRef, NodeState
from chordial.sim.cli import sim_app
from chordial.transport.address import check_address, format_address, parse_address
from chordial.transport.base import TransportError

T = TypeVar("T")

DEFAULT_NODE = "127.0.0.1:7001"
EXIT_FAILURE = 1
EXIT_USAGE = 2

app = typer.Typer(
    name="chordial",
    help="Chordial: a Chord distributed hash table you can run, watch and trust.",
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Rich wraps at 80 columns when stdout is not a terminal; tables in pipes and logs get more room.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


class CliFailure(Exception):
    """Ends a command with one line on stderr and an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


# ------------------------------------------------------------------------------------------ errors


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "unknown error"


def _classify(exc: BaseException) -> tuple[int, str]:
    """Exit code and one-line message for an exception raised by a command."""
    if isinstance(exc, CliFailure):
        return exc.code, str(exc)
    if isinstance(exc, InvalidRequest):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, KeyNotFound):
        return EXIT_FAILURE, str(exc)
    if isinstance(exc, ChordialError):
        return EXIT_FAILURE, str(exc)
    if isinstance(exc, ValueError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, typer.TyperException):
        return exc.exit_code, exc.format_message()
    if isinstance(exc, OSError):
        return EXIT_FAILURE, f"{exc.strerror or exc}"
    return EXIT_FAILURE, f"{type(exc).__name__}: {exc}"


def _error_line(message: str) -> None:
    print(f"error: {_one_line(message)}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ options

NodeOpt = Annotated[str, typer.Option("--node", "-n", help="Address HOST:PORT of any node of the ring.")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", "-t", help="Deadline of each RPC, in seconds.")]
ClientTransportOpt = Annotated[
    str,
    typer.Option(
        "--transport",
        help="Carrier to reach nodes with: auto (tcp, or gRPC for nodes that serve gRPC), tcp or grpc.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ReadModeOpt = Annotated[
    str | None,
    typer.Option(
        "--consistency",
        help="linearizable (read at the key's head; refused by an eventual ring) or eventual (any replica "
        "answers, possibly stale). Default: the ring's mode.",
    ),
]
WriteModeOpt = Annotated[
    str | None,
    typer.Option(
        "--consistency",
        help="The mode this write relies on; writes always follow the ring's mode, so it is refused unless "
        "the ring has it (asked with one extra read).",
    ),
]


def _address(text: str, what: str = "--node") -> str:
    try:
        address = check_address(text)
    except ValueError as exc:
        raise CliFailure(f"{what}: {exc}", EXIT_USAGE) from None
    if parse_address(address)[1] == 0:
        raise CliFailure(f"{what}: port 0 cannot be called", EXIT_USAGE)
    return address


def _timeout(value: float) -> float:
    if not value > 0:
        raise CliFailure(f"--timeout must be positive, got {value}", EXIT_USAGE)
    return value


def _consistency(value: str | None) -> str:
    """The ``--consistency`` option checked (``""`` when not given)."""
    if value is None:
        return ""
    if value not in CONSISTENCY_MODES:
        raise CliFailure(f"--consistency must be {' or '.join(CONSISTENCY_MODES)}, got {value!r}", EXIT_USAGE)
    return value


def _client_transport(value: str) -> str:
    from chordial.transport.carriers import CLIENT_CARRIERS

    if value not in CLIENT_CARRIERS:
        raise CliFailure(f"--transport must be {', '.join(CLIENT_CARRIERS)}, got {value!r}", EXIT_USAGE)
    return value


def _with_client(node: str, timeout: float, transport: str, action: Callable[[ChordClient], Awaitable[T]]) -> T:
    address = _address(node)
    seconds = _timeout(timeout)
    carrier = _client_transport(transport)

    async def run() -> T:
        async with ChordClient(address, timeout=seconds, transport=carrier) as client:
            return await action(client)

    return asyncio.run(run())


# ------------------------------------------------------------------------------------------ formatting


def _ref_json(ref: NodeRef | None) -> dict[str, object] | None:
    return None if ref is None else {"id": str(ref.id), "address": ref.address}


def _value_text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return repr(value)


def _entry_json(entry: Entry) -> dict[str, object]:
    result: dict[str, object] = {"key": entry.key, "key_id": str(entry.key_id)}
    try:
        result["value"] = entry.value.decode("utf-8")
    except UnicodeDecodeError:
        result["value"] = None
        result["value_base64"] = base64.b64encode(entry.value).decode("ascii")
    result["version"] = entry.version
    result["deleted"] = entry.deleted
    return result


def _reply_json(key: str, reply: DataReply) -> dict[str, object]:
    return {
        "key": key,
        "key_id": str(reply.key_id),
        "owner": _ref_json(reply.owner),
        "path": [_ref_json(ref) for ref in reply.path],
        "hops": reply.hops,
        "timeouts": reply.timeouts,
        "found": reply.found,
        "entry": None if reply.entry is None else _entry_json(reply.entry),
    }


def _state_json(state: NodeState) -> dict[str, object]:
    return {
        "id": str(state.node.id),
        "address": state.node.address,
        "status": state.status,
        "id_bits": state.id_bits,
        "predecessor": _ref_json(state.predecessor),
        "successors": [_ref_json(ref) for ref in state.successors],
        "fingers": [_ref_json(ref) for ref in _distinct_fingers(state)],
        "key_count": state.key_count,
        "replica_count": state.replica_count,
    }


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False), flush=True)


def _bits_of(key: str, kid: int) -> int:
    """The id size of the ring that hashed ``key`` to ``kid`` (replies do not carry it)."""
    candidates: list[int] = [DEFAULT_ID_BITS, *range(1, 257)]
    for bits in candidates:
        if key_id(key, bits) == kid:
            return bits
    return DEFAULT_ID_BITS


def _short(ref: NodeRef | None, bits: int) -> str:
    return "-" if ref is None else format_id(ref.id, bits)


def _named(ref: NodeRef, bits: int) -> str:
    return f"{format_id(ref.id, bits)} ({ref.address})"


def _distinct_fingers(state: NodeState) -> list[NodeRef]:
    seen: dict[int, NodeRef] = {}
    for ref in state.fingers:
        if ref is not None and ref.id not in seen:
            seen[ref.id] = ref
    return list(seen.values())


def _ring_order(states: Sequence[NodeState]) -> list[NodeState]:
    """The walk rotated to start at the smallest id (still in walk order)."""
    if not states:
        return []
    start = min(range(len(states)), key=lambda i: states[i].node.id)
    return [*states[start:], *states[:start]]


def overlay_table(states: Sequence[NodeState]) -> Table:
    """Rich table of an overlay walk, in ring order: ``keys`` are the live keys each node owns,
    ``copies`` the live replicas it holds for other owners."""
    bits = states[0].id_bits if states else DEFAULT_ID_BITS
    table = Table(title=f"ring of {len(states)} node(s), {bits}-bit ids", title_justify="left", box=box.SIMPLE_HEAD)
    widest = max((len(s.node.address) + (0 if s.status == "active" else len(s.status) + 3) for s in states), default=7)
    table.add_column("id", no_wrap=True)
    table.add_column("address", no_wrap=True, min_width=widest)
    table.add_column("predecessor", no_wrap=True)
    table.add_column("successors", min_width=len(format_id((1 << bits) - 1, bits)))
    table.add_column("fingers", justify="right", no_wrap=True)
    table.add_column("keys", justify="right", no_wrap=True)
    table.add_column("copies", justify="right", no_wrap=True)
    for state in _ring_order(states):
        status = "" if state.status == "active" else f" [{state.status}]"
        table.add_row(
            Text(format_id(state.node.id, bits)),
            Text(state.node.address + status),
            Text(_short(state.predecessor, bits)),
            Text(" ".join(_short(ref, bits) for ref in state.successors) or "-"),
            Text(str(len(_distinct_fingers(state)))),
            Text(str(state.key_count)),
            Text(str(state.replica_count)),
        )
    return table


# ------------------------------------------------------------------------------------------ actions
# Shared by the commands and the shell; each prints its result or raises.


async def do_put(client: ChordClient, key: str, value: str, as_json: bool, consistency: str = "") -> None:
    reply = await client.put(key, value, consistency=consistency or None)
    if as_json:
        _print_json(_reply_json(key, reply))
        return
    bits = _bits_of(key, reply.key_id)
    version = reply.entry.version if reply.entry is not None else "?"
    print(f"stored {key!r} on {_named(reply.owner, bits)}, version {version}, {reply.hops} hop(s)", flush=True)


async def do_get(client: ChordClient, key: str, as_json: bool, consistency: str = "") -> None:
    reply = await client.get_entry(key, consistency)
    if not reply.found or reply.entry is None:
        raise KeyNotFound.for_key(key, address=client.address, owner=reply.owner)
    if as_json:
        _print_json(_reply_json(key, reply))
        return
    sys.stdout.buffer.write(reply.entry.value + b"\n")
    sys.stdout.flush()


async def do_delete(client: ChordClient, key: str, as_json: bool, consistency: str = "") -> None:
    existed = await client.delete(key, consistency=consistency or None)
    if as_json:
        _print_json({"key": key, "deleted": existed})
    if not existed:
        raise KeyNotFound.for_key(key, address=client.address)
    if not as_json:
        print(f"deleted {key!r}", flush=True)


async def do_lookup(client: ChordClient, key: str, as_json: bool) -> None:
    reply = await client.lookup(key)
    if as_json:
        _print_json(_reply_json(key, reply))
        return
    bits = _bits_of(key, reply.key_id)
    print(f"key {key!r} (id {format_id(reply.key_id, bits)}) is owned by {_named(reply.owner, bits)}")
    print("path: " + " -> ".join(_named(ref, bits) for ref in reply.path))
    print(f"hops: {reply.hops}" + (f" ({reply.timeouts} timeout(s))" if reply.timeouts else ""), flush=True)


async def do_query(
    client: ChordClient, key: str, as_json: bool, replicas: bool = False, k: int = DEFAULT_REPLICAS
) -> None:
    if key == "*":
        await _query_all(client, as_json, replicas)
        return
    if replicas:
        await _query_copies(client, key, as_json, k)
        return
    reply = await client.get_entry(key)
    if not reply.found or reply.entry is None:
        raise KeyNotFound.for_key(key, address=client.address, owner=reply.owner)
    if as_json:
        _print_json(_reply_json(key, reply))
        return
    bits = _bits_of(key, reply.key_id)
    print(f"key      {key}")
    print(f"value    {_value_text(reply.entry.value)}")
    print(f"owner    {_named(reply.owner, bits)}")
    print(f"version  {reply.entry.version}", flush=True)


async def _query_copies(client: ChordClient, key: str, as_json: bool, k: int) -> None:
    """Every copy of KEY on its owner and the owner's first k − 1 successors, stale ones marked."""
    if k < 1:
        raise CliFailure(f"--k must be at least 1, got {k}", EXIT_USAGE)
    group = await client.replica_group(key, k)
    answers = await asyncio.gather(*(client.copy_at(ref.address, key) for ref in group), return_exceptions=True)
    copies: list[tuple[NodeRef, Entry | None, bool]] = []  # node, entry, answered
    for ref, answer in zip(group, answers, strict=True):
        if isinstance(answer, Unavailable):
            copies.append((ref, None, False))
        elif isinstance(answer, BaseException):
            raise answer
        else:
            copies.append((ref, answer, True))
    newest = max((entry.version for _, entry, _ in copies if entry is not None), default=None)
    owner = group[0]
    if newest is None and all(answered for *_, answered in copies):
        raise KeyNotFound.for_key(key, address=client.address, owner=owner)

    def status(entry: Entry | None, answered: bool) -> str:
        if not answered:
            return "unavailable"
        if entry is None:
            return "missing"
        return "current" if entry.version == newest else "stale"

    bits = (await client.state(owner.address)).id_bits
    if as_json:
        _print_json(
            {
                "key": key,
                "key_id": str(key_id(key, bits)),
                "k": k,
                "owner": _ref_json(owner),
                "newest_version": newest,
                "copies": [
                    {
                        "node": _ref_json(ref),
                        "role": "owner" if index == 0 else "replica",
                        "status": status(entry, answered),
                        "entry": None if entry is None else _entry_json(entry),
                    }
                    for index, (ref, entry, answered) in enumerate(copies)
                ],
            }
        )
        return
    held = sum(1 for _, entry, _ in copies if entry is not None)
    print(
        f"key {key!r} (k = {k}): copies on {held} of {len(group)} node(s) (the owner and its next "
        f"{len(group) - 1} successor(s)), newest version {newest}"
    )
    rows = []
    for index, (ref, entry, answered) in enumerate(copies):
        if entry is None:
            version, value = "-", "-"
        else:
            version = str(entry.version)
            value = "(deleted)" if entry.deleted else _value_text(entry.value)
        rows.append((_named(ref, bits), "owner" if index == 0 else "replica", version, status(entry, answered), value))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4])
    sys.stdout.flush()


async def _query_all(client: ChordClient, as_json: bool, replicas: bool = False) -> None:
    held = await client.holdings(include_replicas=replicas)
    held.sort(key=lambda pair: pair[0].node.id)
    if as_json:

        def entry_json(state: NodeState, entry: Entry) -> dict[str, object]:
            data = _entry_json(entry)
            if replicas:
                data["replica"] = not owns(state, entry)
            return data

        _print_json(
            [
                {
                    "node": _ref_json(kl.node),
                    "entries": [entry_json(state, e) for e in sorted(kl.entries, key=_by_key)],
                }
                for state, kl in held
            ]
        )
        return
    owned = sum(1 for state, kl in held for e in kl.entries if owns(state, e))
    copies = sum(len(kl.entries) for _, kl in held) - owned
    bits = held[0][0].id_bits if held else DEFAULT_ID_BITS
    extra = f" and {copies} replica cop(ies)" if replicas else ""
    print(f"{owned} key(s){extra} on {len(held)} node(s)")
    for state, kl in held:
        mine = [e for e in kl.entries if owns(state, e)]
        theirs = len(kl.entries) - len(mine)
        print(f"node {_named(kl.node, bits)}: {len(mine)} key(s)" + (f", {theirs} cop(ies)" if replicas else ""))
        for entry in sorted(kl.entries, key=_by_key):
            copy = "" if owns(state, entry) else ", copy"
            print(f"  {entry.key} = {_value_text(entry.value)}  (version {entry.version}{copy})")
    sys.stdout.flush()


def _by_key(entry: Entry) -> str:
    return entry.key


async def do_overlay(client: ChordClient, as_json: bool) -> None:
    states = await client.overlay()
    if as_json:
        _print_json([_state_json(s) for s in _ring_order(states)])
        return
    console.print(overlay_table(states))
    problems = ring_problems(states)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        console.print(Text(f"ring not yet stable: {problems[0]}{more}"))


async def do_depart(client: ChordClient, as_json: bool) -> None:
    await client.leave()
    if as_json:
        _print_json({"address": client.address, "left": True})
    else:
        print(f"node {client.address} left the ring", flush=True)


# ------------------------------------------------------------------------------------------ commands


@app.command()
def put(
    key: Annotated[str, typer.Argument(help="The key.")],
    value: Annotated[str, typer.Argument(help="The value (stored as UTF-8).")],
    node: NodeOpt = DEFAULT_NODE,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    transport: ClientTransportOpt = "auto",
    as_json: JsonOpt = False,
    consistency: WriteModeOpt = None,
) -> None:
    """Store VALUE under KEY (replicated as the ring's mode says)."""
    mode = _consistency(consistency)
    _with_client(node, timeout, transport, lambda c: do_put(c, key, value, as_json, mode))


@app.command()
def get(
    key: Annotated[str, typer.Argument(help="The key.")],
    node: NodeOpt = DEFAULT_NODE,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    transport: ClientTransportOpt = "auto",
    as_json: JsonOpt = False,
    consistency: ReadModeOpt = None,
) -> None:
    """Print the value of KEY (exit 1 when it is not there)."""
    mode = _consistency(consistency)
    _with_client(node, timeout, transport, lambda c: do_get(c, key, as_json, mode))


@app.command()
def delete(
    key: Annotated[str, typer.Argument(help="The key.")],
    node: NodeOpt = DEFAULT_NODE,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    transport: ClientTransportOpt = "auto",
    as_json: JsonOpt = False,
    consistency: WriteModeOpt = None,
) -> None:
    """Delete KEY (exit 1 when it was not there)."""
    mode = _consistency(consistency)
    _with_client(node, timeout, transport, lambda c: do_delete(c, key, as_json, mode))


@app.command()
def lookup(
    key: Annotated[str, typer.Argument(help="The key.")],
    node: NodeOpt = DEFAULT_NODE,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    transport: ClientTransportOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Show which node owns KEY, the path the lookup took and its hops."""
    _with_client(node, timeout, transport, lambda c: do_lookup(c, key, as_json))


@app.command()
def query(
    key: Annotated[str, typer.Argument(help="A key, or '*' for every pair in the ring.")],
    node: NodeOpt = DEFAULT_NODE,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    transport: ClientTransportOpt = "auto",
    as_json: JsonOpt = False,
    replicas: Annotated[
        bool,
        typer.Option(
            "--replicas",
            help="KEY: every copy on the owner and its next k-1 successors, with versions, stale ones marked; "
            "'*': the replica copies each node holds too.",
        ),
    ] = False,
    k: Annotated[
        int, typer.Option("--k", help="Replication factor of the ring, for --replicas (nodes do not report it).")
    ] = DEFAULT_REPLICAS,
) -> None:
    """Show KEY's value, owner and version; '*' lists all pairs grouped by owner."""
    if k < 1:
        raise CliFailure(f"--k must be at least 1, got {k}", EXIT_USAGE)
    _with_client(node, timeout, transport, lambda c: do_query(c, key, as_json, replicas, k))


@app.command()
def overlay(
    node: NodeOpt = DEFAULT_NODE,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    as_json: JsonOpt = False,
    transport: ClientTransportOpt = "auto",
) -> None:
    """Walk the ring from NODE and show every node's routing state in ring order."""
    _with_client(node, timeout, transport, lambda c: do_overlay(c, as_json))


@app.command()
def depart(
    node: NodeOpt = DEFAULT_NODE,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    as_json: JsonOpt = False,
    transport: ClientTransportOpt = "auto",
) -> None:
    """Make NODE leave the ring gracefully (its keys go to its successor)."""
    _with_client(node, timeout, transport, lambda c: do_depart(c, as_json))


# ------------------------------------------------------------------------------------------ node


def _event_line(event: Event, bits: int) -> str | None:
    """One log line for a membership change, ``None`` for other events."""

    def name(ref: NodeRef | None) -> str:
        return "none" if ref is None else f"{format_id(ref.id, bits)}@{ref.address}"

    match event:
        case NodeJoined(successor=None):
            text = "created a new ring"
        case NodeJoined():
            text = f"joined the ring, successor {name(event.successor)}"
        case SuccessorChanged(old=old, new=new) if old == new:
            return None  # only the tail of the successor list moved
        case SuccessorChanged():
            text = f"successor {name(event.old)} -> {name(event.new)}"
        case PredecessorChanged():
            text = f"predecessor {name(event.old)} -> {name(event.new)}"
        case NodeLeft():
            text = "left the ring"
        case PeerFailedEvent():
            text = f"peer {name(event.peer)} failed during {event.during}"
        case KeysTransferred():
            direction = f"sent {event.count} key(s) to" if event.outgoing else f"received {event.count} key(s) from"
            text = f"{direction} {name(event.peer)} ({event.reason})"
        case _:
            return None
    stamp = time.strftime("%H:%M:%S", time.localtime(event.time)) + f".{int(event.time * 1000) % 1000:03d}"
    return f"{stamp} {text}"


async def _run_node(
    address: str, join: str | None, config: ChordConfig, node_id: int | None, seed: int | None, carrier: str = "tcp"
) -> int:
    from chordial.runtime import NodeRuntime
    from chordial.transport.carriers import make_transport

    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted.set)
    transport = make_transport(carrier)
    runtime = NodeRuntime(transport, config, seed=seed)
    pending: list[str] = []
    ready = False

    def on_event(event: Event) -> None:
        line = _event_line(event, config.id_bits)
        if line is None or (not ready and isinstance(event, SuccessorChanged)):
            return  # while joining, the "joined" line names the successor
        if ready:
            print(line, flush=True)
        else:
            pending.append(line)

    runtime.add_listener(on_event)
    try:
        try:
            await runtime.start(address, join=join, node_id=node_id)
        except ChordError as exc:
            raise CliFailure(f"could not join the ring via {join}: {exc}") from None
        except TransportError as exc:
            raise CliFailure(str(exc)) from None
        except Exception as exc:
            raise CliFailure(f"could not serve on {address}: {_classify(exc)[1]}") from None
        me = runtime.node.ref
        print(f"node {format_id(me.id, config.id_bits)} listening on {me.address}", flush=True)
        print(_replication_line(config), flush=True)
        ready = True
        for line in pending:
            print(line, flush=True)
        stop_wait = asyncio.ensure_future(interrupted.wait())
        departed_wait = asyncio.ensure_future(runtime.stopped.wait())
        await asyncio.wait({stop_wait, departed_wait}, return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
        departed_wait.cancel()
        if runtime.stopped.is_set():
            print(f"node {me.address} departed on request, stopped", flush=True)
            return 0
        print(f"node {me.address} leaving the ring", flush=True)
        limit = config.rpc_timeout * 4 + 5
        try:
            await asyncio.wait_for(runtime.leave(), limit)
        except (ChordError, TimeoutError) as exc:
            await runtime.crash()
            raise CliFailure(f"node {me.address} could not leave gracefully: {exc or 'timed out'}") from None
        print(f"node {me.address} stopped", flush=True)
        return 0
    finally:
        with contextlib.suppress(Exception):
            await transport.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


DEFAULT_CONFIG = ChordConfig()


def _check_replication(replicas: int, successors: int, consistency: str, repair_period: float) -> None:
    """The ring-wide replication options, each refused with one line naming the option."""
    if replicas < 1:
        raise CliFailure(f"--replicas must be at least 1, got {replicas}", EXIT_USAGE)
    if successors >= 1 and successors < replicas - 1:
        raise CliFailure(
            f"--replicas {replicas} needs --successors of at least {replicas - 1}, got {successors} "
            "(the replicas are the owner's first k-1 successors)",
            EXIT_USAGE,
        )
    if consistency not in CONSISTENCY_MODES:
        raise CliFailure(f"--consistency must be {' or '.join(CONSISTENCY_MODES)}, got {consistency!r}", EXIT_USAGE)
    if not repair_period > 0:
        raise CliFailure(f"--repair-period must be positive, got {repair_period:g}", EXIT_USAGE)


def _replication_line(config: ChordConfig) -> str:
    if config.replicas == 1:
        return "replication: off (k = 1, one copy of each key)"
    return (
        f"replication: k = {config.replicas} copies of each key, {config.consistency}, "
        f"repair every {config.repair_period:g} s"
    )


@app.command()
def node(
    host: Annotated[str, typer.Option(help="Host or IP to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on (0 picks a free one).")] = 7001,
    join: Annotated[str | None, typer.Option(help="Join the ring of the node at HOST:PORT.")] = None,
    id_bits: Annotated[int, typer.Option(help="Size of ring ids in bits.")] = DEFAULT_ID_BITS,
    successors: Annotated[int, typer.Option(help="Length of the successor list.")] = 4,
    stabilize: Annotated[float, typer.Option(help="Stabilize period, seconds.")] = 0.5,
    fix_fingers: Annotated[float, typer.Option(help="Fix-fingers period, seconds.")] = 0.5,
    check_predecessor: Annotated[float, typer.Option(help="Check-predecessor period, seconds.")] = 1.0,
    rpc_timeout: Annotated[float, typer.Option(help="Deadline of node-to-node RPCs, seconds.")] = 1.0,
    replicas: Annotated[
        int, typer.Option(help="Replication factor k of the ring: copies of each key (1 = no replication).")
    ] = DEFAULT_CONFIG.replicas,
    consistency: Annotated[
        str, typer.Option(help="Replication mode of the ring: linearizable (chain replication) or eventual.")
    ] = DEFAULT_CONFIG.consistency,
    repair_period: Annotated[float, typer.Option(help="Anti-entropy period with each replica, seconds.")] = (
        DEFAULT_CONFIG.repair_period
    ),
    node_id: Annotated[str | None, typer.Option(help="Ring id (decimal or 0x-hex); default: address hash.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the node's random choices.")] = None,
    transport: Annotated[
        str,
        typer.Option(
            "--transport",
            help="Carrier the node serves and calls other nodes with: tcp (fast) or grpc (for clients in other "
            "languages). Every node of a ring uses the same one.",
        ),
    ] = "tcp",
) -> None:
    """Run one node in the foreground; Ctrl-C or SIGTERM leaves the ring gracefully."""
    if not 0 <= port <= 65535:
        raise CliFailure(f"--port must be 0-65535, got {port}", EXIT_USAGE)
    try:
        address = check_address(format_address(host.strip("[]"), port))
    except ValueError as exc:
        raise CliFailure(f"--host: {exc}", EXIT_USAGE) from None
    bootstrap = _address(join, "--join") if join is not None else None
    _check_replication(replicas, successors, consistency, repair_period)
    try:
        config = ChordConfig(
            id_bits=id_bits,
            successors=successors,
            stabilize_period=stabilize,
            fix_fingers_period=fix_fingers,
            check_predecessor_period=check_predecessor,
            rpc_timeout=rpc_timeout,
            replicas=replicas,
            consistency="eventual" if consistency == "eventual" else "linearizable",
            repair_period=repair_period,
        )
    except ValueError as exc:
        raise CliFailure(str(exc), EXIT_USAGE) from None
    nid: int | None = None
    if node_id is not None:
        try:
            nid = int(node_id, 0)
        except ValueError:
            raise CliFailure(f"--node-id: {node_id!r} is not an integer", EXIT_USAGE) from None
        if not 0 <= nid < (1 << id_bits):
            raise CliFailure(f"--node-id: {nid} does not fit in {id_bits} bits", EXIT_USAGE)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from chordial.runtime.process import run as run_loop
    from chordial.transport.carriers import CARRIERS

    if transport not in CARRIERS:
        raise CliFailure(f"--transport must be {' or '.join(CARRIERS)}, got {transport!r}", EXIT_USAGE)
    code = run_loop(_run_node(address, bootstrap, config, nid, seed, transport))
    if code:
        raise typer.Exit(code)


# ------------------------------------------------------------------------------------------ shell

SHELL_HELP = """\
commands:
  insert <key> <value>   store a value (alias: put)
  delete <key>           delete a key
  query <key>            show a key's value, owner and version (alias: get)
  query *                list every pair in the ring, grouped by node
  replicas <key>         every copy of a key with its version (k = 3), stale ones marked
  lookup <key>           show the owner of a key and the lookup path
  overlay                show the ring
  depart                 make the connected node leave the ring
  help                   this text
  exit, quit             leave the shell (Ctrl-D works too)
keys and values with spaces can be quoted: insert "my key" "a value\""""


def _shell_command(client: ChordClient, line: str) -> Coroutine[Any, Any, None] | None:
    """The action for one shell line, ``None`` for a blank line; ``ValueError`` when malformed."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise ValueError(f"cannot parse the line: {exc}") from None
    if not words:
        return None
    command, args = words[0].lower(), words[1:]

    def need(count: int, usage: str) -> None:
        if len(args) != count:
            raise ValueError(f"usage: {usage}")

    match command:
        case "insert" | "put":
            if len(args) < 2:
                raise ValueError("usage: insert <key> <value>")
            return do_put(client, args[0], " ".join(args[1:]), False)
        case "delete" | "del":
            need(1, "delete <key>")
            return do_delete(client, args[0], False)
        case "query" | "get":
            need(1, "query <key> | query *")
            return do_query(client, args[0], False)
        case "replicas":
            need(1, "replicas <key>")
            return do_query(client, args[0], False, replicas=True)
        case "lookup":
            need(1, "lookup <key>")
            return do_lookup(client, args[0], False)
        case "overlay":
            need(0, "overlay")
            return do_overlay(client, False)
        case "depart":
            need(0, "depart")
            return do_depart(client, False)
    raise ValueError(f"unknown command {command!r}; type 'help'")


@app.command()
def shell(
    node: NodeOpt = DEFAULT_NODE, timeout: TimeoutOpt = DEFAULT_TIMEOUT, transport: ClientTransportOpt = "auto"
) -> None:
    """Interactive prompt against NODE (also reads commands from a pipe until end of input)."""
    address = _address(node)
    seconds = _timeout(timeout)
    carrier = _client_transport(transport)
    interactive = sys.stdin.isatty()
    prompt = f"chordial {address}> " if interactive else ""
    with asyncio.Runner() as runner:

        async def connect() -> ChordClient:
            return ChordClient(address, timeout=seconds, transport=carrier)

        client = runner.run(connect())
        try:
            if interactive:
                print(f"connected to {address}; type 'help' for commands", flush=True)
            while True:
                try:
                    line = input(prompt)
                except EOFError:
                    if interactive:
                        print()
                    break
                except KeyboardInterrupt:
                    print()
                    continue
                stripped = line.strip()
                if stripped in ("exit", "quit"):
                    break
                if stripped in ("help", "?"):
                    print(SHELL_HELP, flush=True)
                    continue
                try:
                    action = _shell_command(client, stripped)
                    if action is not None:
                        runner.run(action)
                except KeyboardInterrupt:
                    _error_line("interrupted")
                except Exception as exc:
                    _error_line(_classify(exc)[1])
        finally:
            runner.run(client.close())


# ------------------------------------------------------------------------------------------ conductor


@app.command()
def conductor(
    host: Annotated[str, typer.Option(help="Address to bind (127.0.0.1 by default; elsewhere is explicit).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="HTTP port of the web client, the API and /ws.")] = 4321,
    start: Annotated[
        bool, typer.Option("--start/--no-start", help="Start a default virtual simulation right away.")
    ] = False,
    web_dist: Annotated[
        str | None, typer.Option("--web-dist", help="Folder of the built web client (default: web/dist).")
    ] = None,
) -> None:
    """Serve the conductor: the web client, the REST control API (OpenAPI at /docs) and /ws."""
    from pathlib import Path

    import uvicorn

    from chordial.conductor.app import DEFAULT_WEB_DIST, create_app
    from chordial.conductor.live import kill_all_workers
    from chordial.conductor.protocol import Params
    from chordial.conductor.session import Session

    application = create_app(Session(), Path(web_dist) if web_dist else DEFAULT_WEB_DIST, Params() if start else None)
    print(f"Chordial conductor on http://{format_address(host, port)}/ (API: /docs)", flush=True)
    try:
        uvicorn.run(application, host=host, port=port, log_level="warning", ws="websockets-sansio", ws_max_size=1 << 20)
    finally:
        kill_all_workers()


@app.command()
def gateway(
    node: NodeOpt = DEFAULT_NODE,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8080,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    transport: ClientTransportOpt = "auto",
) -> None:
    """Serve GET/PUT/DELETE /api/kv/{key} (JSON) in front of the ring reached through --node."""
    import uvicorn

    from chordial.conductor.gateway import create_gateway

    address = check_address(node)
    carrier = _client_transport(transport)
    print(f"Chordial gateway on http://{format_address(host, port)}/api/kv/{{key}} -> {address}", flush=True)
    uvicorn.run(create_gateway(address, timeout, carrier), host=host, port=port, log_level="warning")


# ------------------------------------------------------------------------------------------ demo


@app.command(hidden=True)
def demo(
    nodes: Annotated[int, typer.Option(help="Number of nodes.")] = 8,
    operations: Annotated[int, typer.Option(help="Puts (and as many gets) of the workload.")] = 400,
) -> None:
    """Start a local ring of node processes, run a workload, show the overlay, stop the ring."""
    from chordial.demo import run_demo

    code = run_demo(nodes=nodes, operations=operations)
    if code:
        raise typer.Exit(code)


app.add_typer(sim_app, name="sim")

# ------------------------------------------------------------------------------------------ entry


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    # gRPC's core logs its own copy of errors we report in one line; GRPC_VERBOSITY=ERROR brings it back.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    if not args:
        args = ["--help"]
    try:
        result: Any = app(args=args, prog_name="chordial", standalone_mode=False)
    except KeyboardInterrupt:
        _error_line("interrupted")
        return 130
    except typer.Abort:
        _error_line("aborted")
        return EXIT_FAILURE
    except Exception as exc:
        code, message = _classify(exc)
        _error_line(message)
        return code
    return result if isinstance(result, int) else 0


def main() -> NoReturn:
    """Entry point of the ``chordial`` script."""
    sys.exit(run())


__all__ = ["app", "main", "overlay_table", "run"]
