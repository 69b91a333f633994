"""A worker process of the live world: many real Chord nodes on one asyncio loop, over gRPC.

    python -m chordial.conductor.worker --count 50 --base-port 21000 --join 127.0.0.1:21000 ...

Each node is a full :class:`~chordial.runtime.node.NodeRuntime` with its own gRPC server on
127.0.0.1; hosting many in one process is what lets a 2-core machine run a few hundred. The
conductor talks to the worker through JSON lines: it reads ``{"event": "node", ...}`` for every
node started, ``{"event": "ready"}`` after the first batch, ``{"event": "error", ...}`` on
failures, and writes commands on stdin (``{"op": "add", ...}``, ``{"op": "crash", "address":
...}``). End of stdin means the conductor is gone: the worker exits, so no node outlives it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from typing import Any

from chordial.core.config import ChordConfig
from chordial.runtime.node import NodeRuntime, start_node
from chordial.transport.base import TransportError

PORT_TRIES = 20
"""Ports tried past a busy one before a node start is given up."""


def _say(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class Worker:
    def __init__(self, config: ChordConfig, host: str, base_port: int, port_limit: int) -> None:
        self.config = config
        self.host = host
        self.next_port = base_port
        self.port_limit = port_limit
        self.nodes: dict[str, NodeRuntime] = {}
        self.transport: Any = None

    async def open(self) -> None:
        from chordial.transport.tcp import TcpTransport

        # One TCP transport for every node of the worker: outgoing connections are shared per
        # peer, and a call costs ~13 µs of CPU against gRPC's ~160 µs (issue 6).
        self.transport = TcpTransport()

    async def add(self, join: str | None, node_id: int | None = None) -> NodeRuntime | None:
        """Start one node on the next free port; joins through ``join`` (a ring of its own when None)."""
        last_error = "no port left in this worker's range"
        for _ in range(PORT_TRIES):
            if self.next_port >= self.port_limit:
                break
            port = self.next_port
            self.next_port += 1
            try:
                runtime = await start_node(
                    self.transport, f"{self.host}:{port}", join=join, config=self.config, node_id=node_id
                )
            except TransportError as exc:
                last_error = str(exc)
                continue  # port busy: try the next
            except Exception as exc:
                _say(event="error", message=f"node on port {port} failed to start: {exc}")
                return None
            self.nodes[runtime.address] = runtime
            _say(event="node", address=runtime.address, id=str(runtime.node.id))
            return runtime
        _say(event="error", message=f"no node started: {last_error}")
        return None

    async def crash(self, address: str) -> None:
        runtime = self.nodes.pop(address, None)
        if runtime is None:
            _say(event="error", message=f"no node {address} in this worker")
            return
        await runtime.crash()
        _say(event="crashed", address=address)

    async def close(self) -> None:
        for runtime in list(self.nodes.values()):
            with contextlib.suppress(Exception):
                await runtime.crash()
        if self.transport is not None:
            await self.transport.close()


async def _commands(worker: Worker, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            stop.set()  # the conductor is gone
            return
        try:
            command = json.loads(line)
            op = command["op"]
            if op == "add":
                node_id = int(command["id"]) if command.get("id") is not None else None
                await worker.add(command.get("join"), node_id)
            elif op == "crash":
                await worker.crash(str(command["address"]))
            elif op == "exit":
                stop.set()
                return
            else:
                _say(event="error", message=f"unknown op {op!r}")
        except (ValueError, KeyError, TypeError) as exc:
            _say(event="error", message=f"bad command {line[:200]!r}: {exc}")


async def main_async(args: argparse.Namespace) -> int:
    config = ChordConfig(
        id_bits=args.id_bits,
        successors=args.successors,
        stabilize_period=args.stabilize,
        fix_fingers_period=args.fix_fingers,
        check_predecessor_period=args.check_predecessor,
        rpc_timeout=args.rpc_timeout,
        replicas=args.replicas,
        consistency=args.consistency,
        repair_period=args.repair_period,
    )
    worker = Worker(config, args.host, args.base_port, args.base_port + args.port_range)
    await worker.open()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    commands = asyncio.create_task(_commands(worker, stop))
    join = args.join
    for _ in range(args.count):
        runtime = await worker.add(join)
        if join is None and runtime is not None:
            join = runtime.address  # the first node made the ring; the rest join through it
    _say(event="ready", count=len(worker.nodes))
    await stop.wait()
    commands.cancel()
    await worker.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Host many Chord nodes in one process (the live world's worker).")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--base-port", type=int, required=True)
    parser.add_argument("--port-range", type=int, default=0, help="ports this worker may use (default count + 20)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--join", default=None)
    parser.add_argument("--id-bits", type=int, default=160)
    parser.add_argument("--successors", type=int, default=4)
    parser.add_argument("--stabilize", type=float, default=0.5)
    parser.add_argument("--fix-fingers", type=float, default=0.5)
    parser.add_argument("--check-predecessor", type=float, default=1.0)
    parser.add_argument("--rpc-timeout", type=float, default=1.0)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--consistency", default="linearizable")
    parser.add_argument("--repair-period", type=float, default=2.0)
    args = parser.parse_args(argv)
    if args.port_range <= 0:
        args.port_range = args.count + PORT_TRIES
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
