"""No acknowledged write is lost while fewer than k consecutive nodes fail: six real node
processes (k = 3, linearizable), a put/overwrite/delete load through the client library, and two
SIGKILLs during it — the second one far from the first, after the ring had time to repair.

Every operation is retried until a node acknowledges it; an attempt that failed may still have
been applied, so the value it tried to write stays *possible* until the next acknowledgement.
At the end, once the ring is healed, every key must read as its last acknowledged state (or one
of those possible values), and every key must be back on k current copies.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chordial.client import ChordClient, ChordialError, KeyNotFound, ring_problems
from chordial.core.messages import NodeState
from chordial.demo import free_port_base
from chordial.transport.carriers import AutoTransport

RING_SIZE = 6
K = 3
SUCCESSORS = 4  # chordial node's default successor-list length
NODE_ARGS = (
    "--stabilize", "0.2", "--fix-fingers", "0.2", "--check-predecessor", "0.3", "--rpc-timeout", "0.5",
    "--repair-period", "0.5", "--replicas", str(K), "--consistency", "linearizable",
)  # fmt: skip
READY = re.compile(r"^node \S+ listening on (\S+)$", re.MULTILINE)
WORKERS = 8
KEYS_PER_WORKER = 8
LOAD_SECONDS = 9.0
FIRST_KILL, SECOND_KILL = 2.0, 6.5  # seconds into the load

pytestmark = pytest.mark.timeout(90)

DELETED = None  # the acknowledged state of a deleted key


@dataclass
class Proc:
    address: str
    popen: subprocess.Popen[bytes]
    out: Path

    def output(self) -> str:
        return self.out.read_text(errors="replace")


@dataclass
class KeyHistory:
    """What a key may hold: its last acknowledged state and what failed attempts since then wrote."""

    acked: bytes | None = DELETED
    written: bool = False  # was anything ever acknowledged
    possible: set[bytes | None] = field(default_factory=set)

    def expected(self) -> set[bytes | None]:
        return {self.acked, *self.possible}


@dataclass
class Tally:
    acked: int = 0
    failed_attempts: int = 0
    gave_up: int = 0
    reads: int = 0
    failed_reads: int = 0
    errors: list[str] = field(default_factory=list)
    stale_reads: list[str] = field(default_factory=list)


def spawn(port: int, directory: Path, join: str | None) -> Proc:
    out = directory / f"node-{port}.log"
    args = [sys.executable, "-m", "chordial", "node", "--port", str(port), *NODE_ARGS]
    if join is not None:
        args += ["--join", join]
    with out.open("wb") as sink:
        popen = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return Proc(f"127.0.0.1:{port}", popen, out)


async def wait_ready(procs: list[Proc], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for proc in procs:
        while not READY.search(proc.output()):
            assert proc.popen.poll() is None, f"{proc.address} exited: {proc.output()[-400:]}"
            assert time.monotonic() < deadline, f"{proc.address} not ready: {proc.output()[-400:]}"
            await asyncio.sleep(0.05)


async def wait_for_ring(client: ChordClient, size: int, timeout: float) -> list[NodeState]:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            states = await client.overlay()
        except ChordialError as exc:
            last = str(exc)
        else:
            problems = ring_problems(states)
            full = all(len(s.successors) == min(SUCCESSORS, size - 1) for s in states)  # the replicas' places
            if len(states) == size and not problems and full:
                return states
            last = f"{len(states)} nodes, {problems[:2]}"
        await asyncio.sleep(0.1)
    raise AssertionError(f"ring of {size} not healed within {timeout}s: {last}")


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[list[Proc]]:
    started: list[Proc] = []
    try:
        yield started
    finally:
        for proc in started:
            if proc.popen.poll() is None:
                proc.popen.kill()
        for proc in started:
            proc.popen.wait(10)


async def test_acknowledged_writes_survive_two_crashes(procs: list[Proc], tmp_path: Path) -> None:
    began = time.monotonic()
    base = free_port_base(RING_SIZE)
    procs.append(spawn(base, tmp_path, None))
    await wait_ready(procs, 15)
    procs.extend(spawn(base + i, tmp_path, procs[0].address) for i in range(1, RING_SIZE))
    await wait_ready(procs, 20)
    transport = AutoTransport()  # the nodes serve their default carrier
    try:
        entry = ChordClient(procs[0].address, timeout=3.0, transport=transport)
        states = await wait_for_ring(entry, RING_SIZE, 20)
        ordered = [s.node.address for s in sorted(states, key=lambda s: s.node.id)]
        # Two victims three places apart on the ring of six: never neighbours, never the entry node.
        first = next(a for a in ordered if a != procs[0].address)
        second = ordered[(ordered.index(first) + 3) % RING_SIZE]
        if second == procs[0].address:
            second = ordered[(ordered.index(first) + 2) % RING_SIZE]
        by_address = {p.address: p for p in procs}
        live = [p.address for p in procs]
        history: dict[str, KeyHistory] = {}
        tally = Tally()
        loop_start = time.monotonic()

        async def attempt(key: str, value: bytes | None, rng: random.Random) -> bool:
            """One operation, retried on other nodes until acknowledged (or 30 tries)."""
            record = history.setdefault(key, KeyHistory())
            for _ in range(30):
                client = ChordClient(rng.choice(live), timeout=3.0, transport=transport)
                try:
                    if value is None:
                        await client.delete(key)
                    else:
                        await client.put(key, value)
                except ChordialError as exc:
                    tally.failed_attempts += 1
                    tally.errors.append(f"{key}: {exc}")
                    record.possible.add(value)  # it may have been applied all the same
                    await asyncio.sleep(0.1)
                    continue
                record.acked, record.possible = value, set()
                record.written = True
                tally.acked += 1
                return True
            tally.gave_up += 1
            return False

        async def read_back(key: str, rng: random.Random) -> None:
            """A linearizable read right after the key's own writes sees the last of them."""
            client = ChordClient(rng.choice(live), timeout=3.0, transport=transport)
            try:
                value: bytes | None = await client.get(key)
            except KeyNotFound:
                value = DELETED
            except ChordialError:
                tally.failed_reads += 1
                return
            tally.reads += 1
            if value not in history[key].expected():
                tally.stale_reads.append(f"{key}: read {value!r}, expected one of {history[key].expected()}")

        async def worker(index: int) -> None:
            rng = random.Random(index)
            keys = [f"w{index}-k{j}" for j in range(KEYS_PER_WORKER)]
            serial = 0
            while time.monotonic() - loop_start < LOAD_SECONDS:
                key = rng.choice(keys)
                serial += 1
                known = history.get(key)
                if known is not None and known.acked is not None and rng.random() < 0.2:
                    await attempt(key, None, rng)  # delete a live key
                else:
                    await attempt(key, f"{key}#{serial}".encode(), rng)  # write or overwrite
                if rng.random() < 0.3:
                    await read_back(key, rng)

        async def killer() -> None:
            for at, victim in ((FIRST_KILL, first), (SECOND_KILL, second)):
                await asyncio.sleep(max(0.0, loop_start + at - time.monotonic()))
                live.remove(victim)
                by_address[victim].popen.kill()  # SIGKILL: no leave, no handover

        await asyncio.gather(killer(), *(worker(i) for i in range(WORKERS)))
        load_done = time.monotonic()
        assert by_address[first].popen.wait(5) == -9 and by_address[second].popen.wait(5) == -9
        assert tally.gave_up == 0, tally.errors[-5:]
        assert tally.acked > 200, f"only {tally.acked} acknowledged operations"
        assert not tally.stale_reads, f"{len(tally.stale_reads)} of {tally.reads} reads: {tally.stale_reads[:3]}"

        survivor = ChordClient(live[0], timeout=3.0, transport=transport)
        healed = await wait_for_ring(survivor, RING_SIZE - 2, 15)
        assert {s.node.address for s in healed} == set(live)
        heal_done = time.monotonic()

        # Every acknowledged write is there with its last acknowledged value; deletes stay deleted.
        wrong: list[str] = []
        for key, record in sorted(history.items()):
            try:
                value: bytes | None = await survivor.get(key)
            except KeyNotFound:
                value = DELETED
            if value not in record.expected():
                wrong.append(f"{key}: read {value!r}, acknowledged {record.acked!r} (possible {record.possible})")
        assert not wrong, f"{len(wrong)} of {len(history)} keys lost their acknowledged state: {wrong[:5]}"

        # Repair puts every key back on k current copies (the owner and its next k - 1 successors).
        deadline = time.monotonic() + 15
        while True:
            short: list[str] = []
            for key in sorted(history):
                copies = await survivor.replicas(key, K)
                versions = {e.version if e else None for _, e in copies}
                if len(copies) < K or len(versions) != 1 or None in versions:
                    short.append(f"{key}: {[(n.address, e.version if e else None) for n, e in copies]}")
            if not short:
                break
            assert time.monotonic() < deadline, f"{len(short)} keys not back on {K} copies: {short[:3]}"
            await asyncio.sleep(0.5)
        timings = (
            f"load {load_done - loop_start:.1f}s, healed after {heal_done - load_done:.1f}s, {K} copies after "
            f"{time.monotonic() - heal_done:.1f}s; total {time.monotonic() - began:.1f}s"
        )
        print(
            f"\n{tally.acked} acknowledged ops on {len(history)} keys, {tally.failed_attempts} failed attempts "
            f"(retried), {tally.reads} reads ({tally.failed_reads} failed); {timings}"
        )
    finally:
        await transport.close()
    for proc in procs:
        if proc.address in live:
            assert "Traceback" not in proc.output(), proc.output()[-2000:]
