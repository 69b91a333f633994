"""The ``chordial`` command end to end: five node processes, driven through real CLI processes.

Tests run in file order against one ring; the ones that make nodes leave come last.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chordial.client import ChordClient, ChordialError, ring_problems
from chordial.core.ids import between_right_incl, key_id
from chordial.core.messages import NodeState
from chordial.demo import free_port_base

PERIODS = ("--stabilize", "0.1", "--fix-fingers", "0.1", "--check-predecessor", "0.3", "--rpc-timeout", "0.5")
READY = re.compile(r"^node \S+ listening on (\S+)$", re.MULTILINE)
RING_SIZE = 5


@dataclass
class NodeProc:
    address: str
    popen: subprocess.Popen[bytes]
    out: Path
    err: Path

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def describe(self) -> str:
        return f"{self.address} stdout: {self.stdout()[-500:]!r} stderr: {self.err.read_text()[-500:]!r}"


def spawn_node(port: int, directory: Path, *extra: str) -> NodeProc:
    out, err = directory / f"node-{port}.out", directory / f"node-{port}.err"
    with out.open("wb") as out_file, err.open("wb") as err_file:
        popen = subprocess.Popen(
            [sys.executable, "-m", "chordial", "node", "--host", "127.0.0.1", "--port", str(port), *PERIODS, *extra],
            stdin=subprocess.DEVNULL,
            stdout=out_file,
            stderr=err_file,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return NodeProc(f"127.0.0.1:{port}", popen, out, err)


def wait_ready(node: NodeProc, deadline: float) -> None:
    while True:
        match = READY.search(node.stdout())
        if match:
            assert match.group(1) == node.address
            return
        assert node.popen.poll() is None, f"node exited early: {node.describe()}"
        assert time.monotonic() < deadline, f"node not ready: {node.describe()}"
        time.sleep(0.05)


async def _overlay(address: str) -> list[NodeState]:
    async with ChordClient(address, timeout=2.0) as client:
        return await client.overlay()


def wait_for_ring(address: str, size: int, timeout: float = 20.0) -> list[NodeState]:
    deadline = time.monotonic() + timeout
    last = "nothing yet"
    while time.monotonic() < deadline:
        try:
            states = asyncio.run(_overlay(address))
        except ChordialError as exc:
            last = str(exc)
        else:
            problems = ring_problems(states)
            if len(states) == size and not problems:
                return states
            last = f"{len(states)} nodes, {problems[:1]}"
        time.sleep(0.1)
    raise AssertionError(f"ring of {size} not formed in {timeout}s: {last}")


def stop(node: NodeProc) -> None:
    if node.popen.poll() is None:
        node.popen.kill()
    node.popen.wait(10)


@dataclass
class Ring:
    nodes: list[NodeProc]
    directory: Path

    @property
    def entry(self) -> str:
        return self.nodes[0].address

    def node(self, address: str) -> NodeProc:
        return next(n for n in self.nodes if n.address == address)


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ring]:
    directory = tmp_path_factory.mktemp("ring")
    base = free_port_base(RING_SIZE + 4)
    nodes: list[NodeProc] = []
    try:
        deadline = time.monotonic() + 20
        nodes.append(spawn_node(base, directory))
        wait_ready(nodes[0], deadline)
        for port in range(base + 1, base + RING_SIZE):
            nodes.append(spawn_node(port, directory, "--join", nodes[0].address))
        for node in nodes:
            wait_ready(node, deadline)
        wait_for_ring(nodes[0].address, RING_SIZE)
        yield Ring(nodes, directory)
    finally:
        for node in nodes:
            stop(node)


@pytest.fixture
def spare_port() -> int:
    """A port below 32768 with nothing listening on it."""
    return free_port_base(1)


def cli(*args: str, stdin: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "chordial", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def keys_owned_by(states: list[NodeState], address: str, count: int, prefix: str) -> list[str]:
    """``count`` keys that fall in the arc (predecessor, node] of the node at ``address``."""
    state = next(s for s in states if s.node.address == address)
    assert state.predecessor is not None
    keys: list[str] = []
    index = 0
    while len(keys) < count:
        key = f"{prefix}-{index}"
        if between_right_incl(state.predecessor.id, key_id(key, state.id_bits), state.node.id):
            keys.append(key)
        index += 1
    return keys


# ------------------------------------------------------------------------------------------ node output


def test_nodes_announce_readiness_and_membership(ring: Ring) -> None:
    first = ring.nodes[0].stdout()
    assert "created a new ring" in first
    assert first.splitlines()[1] == "replication: k = 3 copies of each key, linearizable, repair every 2 s"
    assert re.search(r"predecessor .* -> ", first)
    for node in ring.nodes[1:]:
        assert "joined the ring, successor" in node.stdout()


# ------------------------------------------------------------------------------------------ data


def test_put_then_get_through_other_nodes(ring: Ring) -> None:
    put = cli("put", "greeting", "hello world", "--node", ring.nodes[1].address)
    assert put.returncode == 0, put.stderr
    assert "stored 'greeting'" in put.stdout and "version 1" in put.stdout
    for node in (ring.nodes[0], ring.nodes[4]):
        got = cli("get", "greeting", "--node", node.address)
        assert got.returncode == 0, got.stderr
        assert got.stdout == "hello world\n"
    data = as_json(cli("get", "greeting", "--node", ring.entry, "--json"))
    assert data["entry"]["value"] == "hello world"
    assert data["key_id"] == str(key_id("greeting"))


def test_get_of_a_missing_key_fails_with_not_found(ring: Ring) -> None:
    result = cli("get", "no-such-key", "--node", ring.entry)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "not found" in one_error_line(result)


def test_lookup_shows_owner_path_and_hops(ring: Ring) -> None:
    data = as_json(cli("lookup", "greeting", "--node", ring.nodes[2].address, "--json"))
    addresses = {n.address for n in ring.nodes}
    assert data["owner"]["address"] in addresses
    assert data["path"][0]["address"] == ring.nodes[2].address
    assert data["path"][-1] == data["owner"]
    assert data["hops"] == len(data["path"]) - 1
    assert int(data["owner"]["id"]) > 0  # full decimal ids in JSON
    text = cli("lookup", "greeting", "--node", ring.nodes[2].address)
    assert text.returncode == 0
    assert "owned by" in text.stdout and "hops:" in text.stdout
    assert data["owner"]["address"] in text.stdout


def test_query_a_key_and_everything(ring: Ring) -> None:
    for key, value in (("alpha", "1"), ("beta", "2"), ("gamma", "3")):
        assert cli("put", key, value, "--node", ring.entry).returncode == 0
    one = cli("query", "beta", "--node", ring.nodes[3].address)
    assert one.returncode == 0
    assert re.search(r"^value\s+2$", one.stdout, re.MULTILINE)
    assert re.search(r"^version\s+1$", one.stdout, re.MULTILINE)
    owner = as_json(cli("lookup", "beta", "--node", ring.entry, "--json"))["owner"]["address"]
    assert owner in one.stdout

    groups = as_json(cli("query", "*", "--node", ring.nodes[1].address, "--json"))
    assert sorted(g["node"]["address"] for g in groups) == sorted(n.address for n in ring.nodes)
    where = {e["key"]: g["node"]["address"] for g in groups for e in g["entries"]}
    assert {"alpha", "beta", "gamma", "greeting"} <= set(where)
    assert where["beta"] == owner
    assert sum(len(g["entries"]) for g in groups) == len(where)  # every key once
    text = cli("query", "*", "--node", ring.entry)
    assert text.returncode == 0
    assert re.search(r"^  beta = 2  \(version 1\)$", text.stdout, re.MULTILINE)
    missing = cli("query", "nothing-here", "--node", ring.entry)
    assert missing.returncode == 1 and "not found" in one_error_line(missing)


def test_overlay_json_and_table(ring: Ring) -> None:
    states = as_json(cli("overlay", "--node", ring.nodes[2].address, "--json"))
    assert len(states) == RING_SIZE
    ids = [int(s["id"]) for s in states]
    assert ids == sorted(ids)  # ring order from the smallest id
    for index, state in enumerate(states):
        assert state["successors"][0]["address"] == states[(index + 1) % RING_SIZE]["address"]
        assert state["predecessor"]["address"] == states[index - 1]["address"]
        assert state["status"] == "active"
        assert len(state["fingers"]) >= 1
    # k = 3: every live key owned once and copied on the owner's next two successors
    assert sum(s["replica_count"] for s in states) == 2 * sum(s["key_count"] for s in states) > 0
    table = cli("overlay", "--node", ring.entry)
    assert table.returncode == 0
    assert f"ring of {RING_SIZE} node(s)" in table.stdout
    assert re.search(r"\bkeys\s+copies\b", table.stdout)
    for node in ring.nodes:
        assert node.address in table.stdout
    assert "not yet stable" not in table.stdout


def test_delete(ring: Ring) -> None:
    assert cli("put", "doomed", "x", "--node", ring.entry).returncode == 0
    gone = cli("delete", "doomed", "--node", ring.nodes[3].address)
    assert gone.returncode == 0 and "deleted 'doomed'" in gone.stdout
    assert cli("get", "doomed", "--node", ring.entry).returncode == 1
    again = cli("delete", "doomed", "--node", ring.entry)
    assert again.returncode == 1 and "not found" in one_error_line(again)


# ------------------------------------------------------------------------------------------ replication


def test_reads_with_a_consistency(ring: Ring) -> None:
    assert cli("put", "modes", "m1", "--node", ring.entry).returncode == 0
    for mode in ("linearizable", "eventual"):
        got = cli("get", "modes", "--consistency", mode, "--node", ring.nodes[3].address)
        assert got.returncode == 0 and got.stdout == "m1\n", got.stderr
    assert as_json(cli("get", "modes", "--consistency", "eventual", "--json", "--node", ring.entry))["found"]


def test_writes_follow_the_ring_mode(ring: Ring) -> None:
    done = cli("put", "wmode", "w1", "--consistency", "linearizable", "--node", ring.entry)
    assert done.returncode == 0 and "stored 'wmode'" in done.stdout, done.stderr
    refused = cli("put", "wmode", "w2", "--consistency", "eventual", "--node", ring.entry)
    assert refused.returncode == 2 and refused.stdout == ""
    assert "writes follow the ring's mode, which is linearizable, not eventual" in one_error_line(refused)
    refused = cli("delete", "wmode", "--consistency", "eventual", "--node", ring.entry)
    assert refused.returncode == 2 and "not eventual" in one_error_line(refused)
    assert cli("get", "wmode", "--node", ring.entry).stdout == "w1\n"
    gone = cli("delete", "wmode", "--consistency", "linearizable", "--node", ring.entry)
    assert gone.returncode == 0 and "deleted 'wmode'" in gone.stdout


def test_query_replicas_shows_every_copy(ring: Ring) -> None:
    for value in ("c1", "c2"):
        assert cli("put", "copied", value, "--node", ring.entry).returncode == 0
    states = wait_for_ring(ring.entry, RING_SIZE)
    ordered = sorted((s.node for s in states), key=lambda ref: ref.id)
    owner = as_json(cli("lookup", "copied", "--node", ring.entry, "--json"))["owner"]["address"]
    start = [ref.address for ref in ordered].index(owner)
    group = [ordered[(start + i) % RING_SIZE].address for i in range(3)]

    data = as_json(cli("query", "copied", "--replicas", "--json", "--node", ring.nodes[2].address))
    assert data["k"] == 3 and data["owner"]["address"] == owner and data["newest_version"] == 2
    assert [c["node"]["address"] for c in data["copies"]] == group
    assert [c["role"] for c in data["copies"]] == ["owner", "replica", "replica"]
    for copy in data["copies"]:
        assert copy["status"] == "current"
        assert copy["entry"]["value"] == "c2" and copy["entry"]["version"] == 2

    text = cli("query", "copied", "--replicas", "--node", ring.entry)
    assert text.returncode == 0, text.stderr
    assert "key 'copied' (k = 3): copies on 3 of 3 node(s)" in text.stdout
    rows = [line.split() for line in text.stdout.splitlines()[1:]]
    assert [row[1] for row in rows] == [f"({address})" for address in group]
    assert [row[2:] for row in rows] == [["owner", "2", "current", "c2"]] + [["replica", "2", "current", "c2"]] * 2

    # --k 4 asks one node more, which holds no copy
    wider = as_json(cli("query", "copied", "--replicas", "--k", "4", "--json", "--node", ring.entry))
    assert [c["status"] for c in wider["copies"]] == ["current", "current", "current", "missing"]
    missing = cli("query", "never-stored", "--replicas", "--node", ring.entry)
    assert missing.returncode == 1 and "not found" in one_error_line(missing)


def test_query_everything_with_replica_copies(ring: Ring) -> None:
    owned = as_json(cli("query", "*", "--json", "--node", ring.entry))
    groups = as_json(cli("query", "*", "--replicas", "--json", "--node", ring.entry))
    assert sorted(g["node"]["address"] for g in groups) == sorted(n.address for n in ring.nodes)
    places: dict[str, list[bool]] = {}
    for group in groups:
        for entry in group["entries"]:
            places.setdefault(entry["key"], []).append(entry["replica"])
    assert set(places) == {e["key"] for g in owned for e in g["entries"]}
    assert all(sorted(flags) == [False, True, True] for flags in places.values()), places
    text = cli("query", "*", "--replicas", "--node", ring.entry)
    assert text.returncode == 0
    assert f"{len(places)} key(s) and {2 * len(places)} replica cop(ies) on {RING_SIZE} node(s)" in text.stdout
    assert len(re.findall(r"^  copied = c2  \(version 2, copy\)$", text.stdout, re.MULTILINE)) == 2
    assert len(re.findall(r"^  copied = c2  \(version 2\)$", text.stdout, re.MULTILINE)) == 1


def test_an_eventual_ring(tmp_path: Path) -> None:
    base = free_port_base(3)
    mode = ("--replicas", "2", "--successors", "2", "--consistency", "eventual", "--repair-period", "0.5")
    nodes: list[NodeProc] = []
    try:
        deadline = time.monotonic() + 20
        nodes.append(spawn_node(base, tmp_path, *mode))
        wait_ready(nodes[0], deadline)
        nodes += [spawn_node(port, tmp_path, *mode, "--join", nodes[0].address) for port in (base + 1, base + 2)]
        for node in nodes:
            wait_ready(node, deadline)
        assert "replication: k = 2 copies of each key, eventual, repair every 0.5 s" in nodes[1].stdout()
        entry = nodes[0].address
        wait_for_ring(entry, 3)
        stored = cli("put", "ev", "e1", "--consistency", "eventual", "--node", entry)
        assert stored.returncode == 0, stored.stderr
        refused = cli("get", "ev", "--consistency", "linearizable", "--node", entry)
        assert refused.returncode == 2 and refused.stdout == ""
        assert "linearizable reads are not available" in one_error_line(refused)
        refused = cli("put", "ev", "e2", "--consistency", "linearizable", "--node", entry)
        assert refused.returncode == 2 and "which is eventual, not linearizable" in one_error_line(refused)
        for node in nodes:  # eventual reads, the owner's included
            assert cli("get", "ev", "--node", node.address).stdout == "e1\n"
        copies = as_json(cli("query", "ev", "--replicas", "--k", "2", "--json", "--node", entry))["copies"]
        assert len(copies) == 2 and copies[0]["entry"]["value"] == "e1"
    finally:
        for node in nodes:
            stop(node)


async def test_query_replicas_marks_stale_missing_and_unavailable_copies(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process gRPC nodes, so that the test can age one copy, drop another and make a third
    node refuse reads; the CLI code runs as the command would (in a thread: it has its own loop)."""
    from chordial.cli import run as cli_run
    from chordial.core.config import ChordConfig
    from chordial.core.messages import Entry, ErrorReply, Fetch, Request
    from chordial.core.node import Handled
    from chordial.runtime import start_node
    from chordial.transport.grpc import GrpcTransport

    config = ChordConfig(
        stabilize_period=0.1, fix_fingers_period=0.1, check_predecessor_period=0.3, rpc_timeout=0.5, repair_period=600
    )
    transports = [GrpcTransport() for _ in range(4)]
    nodes = [await start_node(transports[0], "127.0.0.1:0", config=config, seed=0)]
    for index in range(1, 4):
        nodes.append(
            await start_node(transports[index], "127.0.0.1:0", join=nodes[0].address, config=config, seed=index)
        )
    try:
        async with ChordClient(nodes[0].address, timeout=2.0) as client:
            deadline = time.monotonic() + 10
            while True:
                states = await client.overlay()
                full = all(len(state.successors) == 3 for state in states)  # the copies' places are known
                if len(states) == 4 and not ring_problems(states) and full:
                    break
                assert time.monotonic() < deadline, ring_problems(states)
                await asyncio.sleep(0.05)
            await client.put("aged", "old")
            await client.put("aged", "new")
            group = await client.replica_group("aged", 4)
        runtime = {n.address: n for n in nodes}
        runtime[group[1].address].node.store.apply(Entry("aged", key_id("aged"), b"old", 1))
        runtime[group[2].address].node.store.pop_all()
        refusing = runtime[group[3].address].node
        serve = refusing.handle

        def refuse_reads(request: Request) -> Handled:
            return ErrorReply("unavailable", "not now") if isinstance(request, Fetch) else serve(request)

        monkeypatch.setattr(refusing, "handle", refuse_reads)
        args = ["query", "aged", "--replicas", "--k", "4", "--timeout", "1", "--node", nodes[0].address]
        capsys.readouterr()
        assert await asyncio.to_thread(cli_run, [*args, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert [c["node"]["address"] for c in data["copies"]] == [ref.address for ref in group]
        assert [c["status"] for c in data["copies"]] == ["current", "stale", "missing", "unavailable"]
        assert [c["entry"]["version"] if c["entry"] else None for c in data["copies"]] == [2, 1, None, None]
        assert await asyncio.to_thread(cli_run, args) == 0
        out = capsys.readouterr().out
        assert "copies on 2 of 4 node(s)" in out and "newest version 2" in out
        rows = [line.split()[2:] for line in out.splitlines()[1:]]
        assert rows == [
            ["owner", "2", "current", "new"],
            ["replica", "1", "stale", "old"],
            ["replica", "-", "missing", "-"],
            ["replica", "-", "unavailable", "-"],
        ]
    finally:
        for node in nodes:
            await node.crash()
        for transport in transports:
            await transport.close()


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("get", "k", "--node", "nonsense"), 2, "malformed address"),
        (("get", "k", "--node", "127.0.0.1:http"), 2, "port must be a number"),
        (("put", "k", "v", "--node", "[zz]:7001"), 2, "not an IPv6 address"),
        (("overlay", "--node", "127.0.0.1:0"), 2, "port 0"),
        (("get", "k", "--timeout", "-1"), 2, "--timeout must be positive"),
        (("get",), 2, "Missing argument"),
        (("frobnicate",), 2, "No such command"),
        (("get", "k", "--verbose"), 2, "No such option"),
        (("node", "--join", "nowhere"), 2, "--join: malformed address"),
        (("node", "--id-bits", "0"), 2, "id bits"),
        (("node", "--port", "70000"), 2, "--port"),
        (("node", "--node-id", "xyz"), 2, "--node-id"),
        (("shell", "--node", "bad address"), 2, "malformed address"),
        (("node", "--replicas", "0"), 2, "--replicas must be at least 1, got 0"),
        (("node", "--replicas", "6"), 2, "--replicas 6 needs --successors of at least 5"),
        (("node", "--replicas", "3", "--successors", "1"), 2, "--replicas 3 needs --successors of at least 2, got 1"),
        (("node", "--consistency", "strong"), 2, "--consistency must be linearizable or eventual, got 'strong'"),
        (("node", "--repair-period", "0"), 2, "--repair-period must be positive"),
        (("get", "k", "--consistency", "sequential"), 2, "--consistency must be linearizable or eventual"),
        (("put", "k", "v", "--consistency", "weak"), 2, "--consistency must be linearizable or eventual"),
        (("query", "k", "--replicas", "--k", "0"), 2, "--k must be at least 1, got 0"),
        (("node", "--transport", "udp"), 2, "--transport must be tcp or grpc, got 'udp'"),
        (("get", "k", "--transport", "http"), 2, "--transport must be auto, tcp, grpc, got 'http'"),
    ],
)
def test_bad_usage_gives_one_line_and_exit_2(args: tuple[str, ...], code: int, fragment: str) -> None:
    result = cli(*args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert fragment in one_error_line(result)


@pytest.mark.parametrize(
    ("command", "fragment"),
    [(("put", "", "v"), "key must not be empty"), (("get", "k" * 2000), "2000 bytes, the limit is 1024")],
)
def test_invalid_keys_are_refused(ring: Ring, command: tuple[str, ...], fragment: str) -> None:
    result = cli(*command, "--node", ring.entry)
    assert result.returncode == 2
    line = one_error_line(result)
    assert fragment in line and ring.entry in line


def test_a_grpc_node_is_reached_by_default_and_refuses_tcp(tmp_path: Path) -> None:
    """Nodes serve tcp unless told ``--transport grpc``; clients find out which by themselves."""
    node = spawn_node(free_port_base(1), tmp_path, "--transport", "grpc")
    try:
        wait_ready(node, time.monotonic() + 20)
        assert cli("put", "carrier", "grpc", "--node", node.address).returncode == 0
        for carrier in ("auto", "grpc"):
            result = cli("get", "carrier", "--node", node.address, "--transport", carrier)
            assert (result.returncode, result.stdout.strip()) == (0, "grpc")
        result = cli("get", "carrier", "--node", node.address, "--transport", "tcp", "--timeout", "2")
        assert result.returncode == 1
        assert "does not speak chordial-tcp" in one_error_line(result)
    finally:
        stop(node)


def test_unreachable_node(spare_port: int) -> None:
    result = cli("get", "k", "--node", f"127.0.0.1:{spare_port}", "--timeout", "0.5")
    assert result.returncode == 1
    assert f"node 127.0.0.1:{spare_port} unavailable" in one_error_line(result)


def test_silent_node_hits_the_timeout(spare_port: int) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never speaks HTTP/2
        silent.bind(("127.0.0.1", spare_port))
        silent.listen(8)
        started = time.monotonic()
        result = cli("overlay", "--node", f"127.0.0.1:{spare_port}", "--timeout", "0.5")
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "unavailable" in one_error_line(result)
    assert elapsed < 5


def test_node_that_cannot_join_exits_1(ring: Ring, spare_port: int) -> None:
    port = free_port_base(1)
    dead = cli("node", "--port", str(port), "--join", f"127.0.0.1:{spare_port}", "--rpc-timeout", "0.3", timeout=20)
    assert dead.returncode == 1
    assert "could not join the ring via" in one_error_line(dead)
    wrong = cli("node", "--port", str(port), "--join", ring.entry, "--id-bits", "16", timeout=20)
    assert wrong.returncode == 1
    assert "wrong ring" in one_error_line(wrong)
    taken = cli("node", "--port", ring.entry.rsplit(":", 1)[1], timeout=20)
    assert taken.returncode == 1
    assert f"cannot listen on {ring.entry}" in one_error_line(taken)


# ------------------------------------------------------------------------------------------ shell


def test_shell_through_a_pipe(ring: Ring) -> None:
    script = "\n".join(
        [
            "help",
            "insert shell-key hello shell",
            "query shell-key",
            "bogus command",
            "query never-there",
            "lookup shell-key",
            "replicas shell-key",
            "",
            'insert "spaced key" "two  spaces"',
            "query spaced key",  # unquoted: a usage error
            "overlay",
            "query *",
            "delete shell-key",
            "query shell-key",
            "exit",
            "insert after-exit nope",
        ]
    )
    result = cli("shell", "--node", ring.nodes[2].address, stdin=script + "\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "insert <key> <value>" in out  # help
    assert re.search(r"^value\s+hello shell$", out, re.MULTILINE)
    assert "hops:" in out
    assert "key 'shell-key' (k = 3): copies on 3 of 3 node(s)" in out
    assert f"ring of {RING_SIZE} node(s)" in out
    assert re.search(r"^  spaced key = two  spaces  \(version 1\)$", out, re.MULTILINE)
    assert "deleted 'shell-key'" in out
    errors = result.stderr.splitlines()
    assert all(line.startswith("error: ") for line in errors), errors
    assert len(errors) == 4, errors
    assert "unknown command 'bogus'" in errors[0]
    assert "'never-there' not found" in errors[1]
    assert "usage: query" in errors[2]
    assert "'shell-key' not found" in errors[3]
    assert cli("get", "after-exit", "--node", ring.entry).returncode == 1


def test_shell_ends_at_end_of_input(ring: Ring) -> None:
    result = cli("shell", "--node", ring.entry, stdin="insert eof-key v")
    assert result.returncode == 0 and "stored 'eof-key'" in result.stdout
    assert cli("get", "eof-key", "--node", ring.entry).stdout == "v\n"


# ------------------------------------------------------------------------------------------ leaving


def _put_all(address: str, keys: list[str]) -> None:
    async def run() -> None:
        async with ChordClient(address) as client:
            for key in keys:
                await client.put(key, f"value of {key}")

    asyncio.run(run())


def test_depart_hands_keys_over_and_stops_the_process(ring: Ring) -> None:
    states = wait_for_ring(ring.entry, RING_SIZE)
    leaver = ring.nodes[2]
    keys = keys_owned_by(states, leaver.address, 3, "depart")
    _put_all(ring.entry, keys)
    result = cli("depart", "--node", leaver.address)
    assert result.returncode == 0, result.stderr
    assert f"node {leaver.address} left the ring" in result.stdout
    assert leaver.popen.wait(10) == 0
    assert "departed on request" in leaver.stdout()
    for key in keys:
        got = cli("get", key, "--node", ring.entry)
        assert got.returncode == 0 and got.stdout == f"value of {key}\n"
    after = wait_for_ring(ring.entry, RING_SIZE - 1)
    assert leaver.address not in [s.node.address for s in after]
    gone = cli("depart", "--node", leaver.address, "--timeout", "1")
    assert gone.returncode == 1 and "unavailable" in one_error_line(gone)


def test_sigterm_leaves_gracefully(ring: Ring) -> None:
    states = wait_for_ring(ring.entry, RING_SIZE - 1)
    victim = ring.nodes[3]
    keys = keys_owned_by(states, victim.address, 3, "sigterm")
    _put_all(ring.entry, keys)
    victim.popen.send_signal(signal.SIGTERM)
    assert victim.popen.wait(10) == 0, victim.describe()
    out = victim.stdout()
    assert "leaving the ring" in out and "left the ring" in out and f"node {victim.address} stopped" in out
    for key in keys:
        got = cli("get", key, "--node", ring.nodes[1].address)
        assert got.returncode == 0 and got.stdout == f"value of {key}\n", got.stderr
    wait_for_ring(ring.entry, RING_SIZE - 2)


def test_nodes_wrote_no_traceback(ring: Ring) -> None:
    for node in ring.nodes:
        assert "Traceback" not in node.stdout() + node.err.read_text(errors="replace"), node.describe()


def test_demo_runs_a_ring_and_cleans_up() -> None:
    result = cli("demo", "--nodes", "3", "--operations", "30", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ring of 3 nodes stable" in result.stdout
    assert "mean hops:" in result.stdout and "½·log₂N = 0.79" in result.stdout
    assert "no process remains" in result.stdout
