"""A local Chord ring in one command: ``python -m chordial.demo`` (or ``chordial demo``).

Starts N ``chordial node`` processes on 127.0.0.1, waits for the ring to stabilize, runs a
put/get workload through random nodes, shows the overlay and the mean lookup path length next
to Chord's ½·log₂N, then stops every node with SIGTERM (a graceful leave) and checks that no
process is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import re
import signal
import socket
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from chordial.client import ChordClient, ChordialError, ring_problems
from chordial.core.messages import NodeState

READY = re.compile(r"^node (\S+) listening on (\S+)$")
FAST_PERIODS = ("--stabilize", "0.2", "--fix-fingers", "0.2", "--check-predecessor", "0.5", "--rpc-timeout", "1.0")
HIGHEST_PORT = 32767  # stay below the usual ephemeral range, where outgoing connections take ports


class DemoFailure(Exception):
    pass


def free_port_base(count: int, *, low: int = 20000, high: int = HIGHEST_PORT, attempts: int = 200) -> int:
    """A port ``p`` such that ``p .. p+count-1`` can all be bound on 127.0.0.1 right now."""
    rng = random.Random()
    for _ in range(attempts):
        base = rng.randrange(low, high - count + 1)
        if all(_port_free(base + i) for i in range(count)):
            return base
    raise DemoFailure(f"found no {count} free consecutive ports in {low}-{high}")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class NodeProcess:
    """One ``chordial node`` child process and what it printed."""

    port: int
    process: asyncio.subprocess.Process
    ready: asyncio.Future[str]
    lines: list[str] = field(default_factory=list)
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def tail(self, count: int = 5) -> str:
        return " | ".join(self.lines[-count:]) or "no output"


async def start_node_process(port: int, join: str | None, extra: Sequence[str] = FAST_PERIODS) -> NodeProcess:
    """Spawn ``python -m chordial node`` on 127.0.0.1:``port`` (joining ``join`` if given)."""
    args = [sys.executable, "-m", "chordial", "node", "--host", "127.0.0.1", "--port", str(port), *extra]
    if join is not None:
        args += ["--join", join]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,  # Ctrl-C at the terminal reaches the demo, not the nodes
    )
    node = NodeProcess(port, process, asyncio.get_running_loop().create_future())
    assert process.stdout is not None and process.stderr is not None
    node.readers = [
        asyncio.create_task(_drain(node, process.stdout, watch_ready=True)),
        asyncio.create_task(_drain(node, process.stderr, watch_ready=False)),
    ]
    return node


async def _drain(node: NodeProcess, stream: asyncio.StreamReader, *, watch_ready: bool) -> None:
    while True:
        raw = await stream.readline()
        if not raw:
            break
        line = raw.decode("utf-8", "replace").rstrip()
        node.lines.append(line)
        match = READY.match(line) if watch_ready else None
        if match and not node.ready.done():
            node.ready.set_result(match.group(2))
    if watch_ready and not node.ready.done():
        node.ready.set_exception(DemoFailure(f"node on port {node.port} exited before it was ready: {node.tail()}"))


async def wait_ready(nodes: Sequence[NodeProcess], timeout: float) -> None:
    try:
        await asyncio.wait_for(asyncio.gather(*(n.ready for n in nodes)), timeout)
    except TimeoutError:
        late = [n.address for n in nodes if not n.ready.done()]
        raise DemoFailure(f"nodes not ready after {timeout:g}s: {', '.join(late)}") from None


async def wait_for_ring(client: ChordClient, size: int, timeout: float) -> list[NodeState]:
    """Poll the overlay until it holds ``size`` nodes with correct successors and predecessors,
    then until the finger tables stop changing."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    states: list[NodeState] = []
    while True:
        try:
            states = await client.overlay()
            problems = ring_problems(states)
            if len(states) == size and not problems:
                break
            last = f"{len(states)} of {size} nodes" + (f", {problems[0]}" if problems else "")
        except ChordialError as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            raise DemoFailure(f"ring not stable after {timeout:g}s: {last}")
        await asyncio.sleep(0.2)
    previous = _finger_view(states)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        with contextlib.suppress(ChordialError):
            states = await client.overlay()
            current = _finger_view(states)
            if current == previous:
                break
            previous = current
    return states


def _finger_view(states: Sequence[NodeState]) -> list[set[int]]:
    return [{f.id for f in s.fingers if f is not None} for s in states]


@dataclass
class Workload:
    put_hops: list[int] = field(default_factory=list)
    get_hops: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def run_workload(clients: Sequence[ChordClient], operations: int, console: Console, seed: int) -> Workload:
    """``operations`` puts, then as many gets, each through a random node, 16 at a time."""
    rng = random.Random(seed)
    result = Workload()
    limit = asyncio.Semaphore(16)
    keys = [f"key-{i:04d}" for i in range(operations)]

    async def put(key: str, client: ChordClient) -> None:
        async with limit:
            try:
                reply = await client.put(key, f"value of {key}")
                result.put_hops.append(reply.hops)
            except ChordialError as exc:
                result.errors.append(f"put {key}: {exc}")
            progress.advance(task)

    async def get(key: str, client: ChordClient) -> None:
        async with limit:
            try:
                reply = await client.get_entry(key)
                if not reply.found or reply.entry is None or reply.entry.value != f"value of {key}".encode():
                    result.errors.append(f"get {key}: wrong or missing value")
                result.get_hops.append(reply.hops)
            except ChordialError as exc:
                result.errors.append(f"get {key}: {exc}")
            progress.advance(task)

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(f"{operations} puts", total=operations * 2)
        await asyncio.gather(*(put(k, rng.choice(clients)) for k in keys))
        progress.update(task, description=f"{operations} gets")
        await asyncio.gather(*(get(k, rng.choice(clients)) for k in keys))
    return result


async def stop_all(nodes: Sequence[NodeProcess], timeout: float = 15.0) -> list[str]:
    """SIGTERM each live node in turn (a graceful leave) and wait for it; returns problems."""
    problems: list[str] = []
    for node in nodes:
        if node.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                node.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(node.process.wait(), timeout)
            except TimeoutError:
                problems.append(f"{node.address} did not exit within {timeout:g}s of SIGTERM")
                kill(node)
                await node.process.wait()
        if node.process.returncode != 0:
            problems.append(f"{node.address} exited with code {node.process.returncode}: {node.tail(2)}")
    return problems


def kill(node: NodeProcess) -> None:
    if node.process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            node.process.kill()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def demo(count: int, operations: int, console: Console) -> int:
    from chordial.cli import overlay_table
    from chordial.transport.carriers import AutoTransport

    if count < 1 or operations < 1:
        raise DemoFailure("need at least one node and one operation")
    base = free_port_base(count)
    nodes: list[NodeProcess] = []
    transport = AutoTransport()  # the nodes serve their default carrier (tcp)
    seed = random.randrange(1 << 30)
    try:
        started = time.monotonic()
        console.print(f"starting {count} nodes on 127.0.0.1:{base}-{base + count - 1}")
        first = await start_node_process(base, None)
        nodes.append(first)
        await wait_ready([first], 20)
        for port in range(base + 1, base + count):
            nodes.append(await start_node_process(port, first.address))
        await wait_ready(nodes, 30)
        clients = [ChordClient(n.address, transport=transport) for n in nodes]
        with console.status("waiting for the ring to stabilize"):
            await wait_for_ring(clients[0], count, 60)
        console.print(f"ring of {count} nodes stable after {time.monotonic() - started:.1f}s")

        work = await run_workload(clients, operations, console, seed)
        states = await clients[0].overlay()
        console.print(overlay_table(states))
        for error in work.errors[:5]:
            console.print(f"[red]{error}[/red]", highlight=False)
        if work.errors:
            console.print(f"[red]{len(work.errors)} operation(s) failed[/red]")
        hops = work.put_hops + work.get_hops
        if hops:
            half_log = 0.5 * math.log2(count)
            puts = statistics.fmean(work.put_hops or [0])
            gets = statistics.fmean(work.get_hops or [0])
            console.print(
                f"mean hops: {statistics.fmean(hops):.2f} over {len(hops)} operations "
                f"(puts {puts:.2f}, gets {gets:.2f}); ½·log₂N = {half_log:.2f} for N = {count}"
            )
            console.print(
                "a hop is one RPC on the way from the node asked to the key's owner, the final hop to the owner "
                "included (0 when the node asked owns the key)",
                style="dim",
            )

        console.print("stopping every node with SIGTERM (graceful leave)")
        problems = await stop_all(nodes)
        left = [n.address for n in nodes if n.process.returncode is None or _pid_alive(n.process.pid)]
        if left:
            problems.append(f"still running: {', '.join(left)}")
        for problem in problems:
            console.print(f"[red]{problem}[/red]")
        if problems or work.errors:
            return 1
        console.print(f"all {count} nodes left the ring and exited cleanly; no process remains")
        return 0
    finally:
        for node in nodes:
            kill(node)
        for node in nodes:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(node.process.wait(), 5)
            for reader in node.readers:
                reader.cancel()
        await transport.close()


def run_demo(nodes: int = 8, operations: int = 400) -> int:
    """Run the demo; returns the exit code (0 on success)."""
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    try:
        return asyncio.run(demo(nodes, operations, console))
    except DemoFailure as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; nodes killed", file=sys.stderr, flush=True)
        return 130


def main() -> int:
    return run_demo()


if __name__ == "__main__":
    sys.exit(main())
