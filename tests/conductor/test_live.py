"""The live world: real node processes over gRPC, events pushed through Watch, real client
operations; crashes seen as the node's stream ending; nothing left running after a stop. And
``chordial gateway``'s KV API in front of one of those nodes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from chordial.conductor.gateway import create_gateway
from chordial.conductor.live import LiveWorld
from chordial.transport.tcp import TcpTransport
from tests.conductor.conftest import Browser, Conductor, Message
from tests.runtime.ring import Ring

FAST = {
    "world": "live",
    "nodes": 6,
    "workload_rate": 5,
    "stabilize_period": 0.2,
    "fix_fingers_period": 0.2,
    "check_predecessor_period": 0.3,
    "rpc_timeout": 0.5,
    "repair_period": 0.5,
}


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def _processes_where(field: int, value: int) -> list[int]:
    """Pids of live (not zombie) processes whose /proc stat field ``field`` (after the name:
    0 state, 1 parent pid, 2 process group) equals ``value``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[field]) == value and fields[0] != "Z":
                found.append(int(entry))
    return found


def group_members(pgid: int) -> list[int]:
    return _processes_where(2, pgid)


async def test_live_ring_stream_controls_and_clean_stop(conductor: Conductor, browser: Browser) -> None:
    started = await browser.ok("start", FAST, timeout=60)
    assert started["params"]["world"] == "live"
    snapshot = await browser.until(lambda m: m["type"] == "snapshot" and m["status"] == "running")
    assert snapshot["world"] == "live" and len(snapshot["nodes"]) == 6
    assert all(n["address"].startswith("127.0.0.1:") for n in snapshot["nodes"])
    assert all(int(n["address"].rsplit(":", 1)[1]) < 32768 for n in snapshot["nodes"])
    world = conductor.session.world
    assert isinstance(world, LiveWorld)
    groups = [w.pgid for w in world.workers]
    assert groups and all(group_members(g) for g in groups)

    # Events arrive pushed by the nodes (Watch), and the ring converges.
    stats = await browser.until(
        lambda m: m["type"] == "stats" and (m["correctness"] or {}).get("successors") == 1.0, 30
    )
    assert stats["node_count"] == 6
    put = await browser.ok("put", {"key": "apple", "value": "red"})
    assert put["found"] and put["owner_address"].startswith("127.0.0.1:")
    got = await browser.ok("get", {"key": "apple"})
    assert got["value"] == "red" and got["path"][-1] == got["owner"]
    await browser.until(lambda m: m["type"] == "stats" and m["ops_per_s"] > 0, 20)

    detail = await browser.ok("inspect", {"node": got["owner"]})
    assert any(k["key"] == "apple" and k["owned"] for k in detail["keys_held"])

    victim = next(n["id"] for n in snapshot["nodes"] if n["id"] != got["owner"])
    await browser.ok("crash", {"node": victim})
    await browser.until(
        lambda m: m["type"] == "delta" and any(v["id"] == victim and v["state"] == "crashed" for v in m["upserts"]),
        20,
    )
    leaver = next(n["id"] for n in snapshot["nodes"] if n["id"] not in (victim, got["owner"]))
    assert (await conductor.http.post(f"/api/nodes/{leaver}/leave")).status_code == 200
    await browser.until(
        lambda m: m["type"] == "delta" and any(v["id"] == leaver and v["state"] == "left" for v in m["upserts"]),
        20,
    )
    added = await browser.ok("add_node", {}, timeout=30)
    new_id = added["node"]["id"]
    await browser.until(
        lambda m: m["type"] == "delta" and any(v["id"] == new_id and v["state"] == "live" for v in m["upserts"]),
        20,
    )
    refused = await browser.command("step", {"seconds": 1})
    assert not refused["ok"] and "virtual" in refused["error"]
    partition = await browser.command("partition", {"nodes": [new_id]})
    assert not partition["ok"]

    # REST KV on the conductor reaches the same ring.
    assert (await conductor.http.get("/api/kv/apple")).json()["value"] == "red"

    # The gateway serves the same API in front of any node of the ring.
    gateway = create_gateway(put["owner_address"], timeout=5.0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as http:
        assert (await http.put("/api/kv/pear", json={"ripe": True})).status_code == 200
        assert (await http.get("/api/kv/pear")).json()["value"] == {"ripe": True}
        assert (await http.get("/api/kv/apple")).json()["value"] == "red"
        assert (await http.delete("/api/kv/pear")).json()["found"] is True
        assert (await http.get("/api/kv/pear")).status_code == 404
    assert (await conductor.http.get("/api/kv/pear")).status_code == 404

    await browser.ok("stop", timeout=30)
    for pgid in groups:
        assert group_members(pgid) == [], f"worker group {pgid} outlived the stop"
    assert all(not alive(w.proc.pid) for w in world.workers)


async def test_live_start_refused_beyond_the_limit(browser: Browser) -> None:
    refused = await browser.command("start", {**FAST, "nodes": 5000})
    assert not refused["ok"] and "live world" in refused["error"]


async def test_gateway_reports_an_unreachable_node() -> None:
    gateway = create_gateway("127.0.0.1:1", timeout=0.5)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as http:
        response = await http.get("/api/kv/anything")
    assert response.status_code == 503 and "unavailable" in response.json()["detail"]
    await asyncio.sleep(0)


def children_of(pid: int) -> list[int]:
    return _processes_where(1, pid)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_no_node_outlives_the_conductor(how: signal.Signals, tmp_path: Path) -> None:
    """Graceful exit stops the workers; a killed conductor closes their stdin, and they exit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path / "conductor.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "chordial", "conductor", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    workers: list[int] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            for _ in range(200):
                try:
                    await http.get("/api/params")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            started = await http.post("/api/sim", json={**FAST, "nodes": 3, "workload_rate": 0})
            assert started.status_code == 200, started.text
        workers = children_of(proc.pid)
        assert workers and all(alive(w) for w in workers)
        proc.send_signal(how)
        proc.wait(timeout=20)
        for _ in range(100):
            if not any(alive(w) for w in workers):
                break
            await asyncio.sleep(0.1)
        assert not any(alive(w) for w in workers), "a worker outlived the conductor"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for w in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(w, signal.SIGKILL)
        log.close()


async def test_live_churn_joins_leaves_and_crashes(conductor: Conductor, browser: Browser) -> None:
    await browser.ok("start", {**FAST, "nodes": 8, "workload_rate": 0}, timeout=60)
    snapshot = await browser.until(lambda m: m["type"] == "snapshot" and m["status"] == "running")
    first = {n["id"] for n in snapshot["nodes"]}
    await browser.ok("set_churn", {"join_rate": 1.5, "leave_rate": 1.0, "crash_rate": 1.0})
    seen: set[str] = set()

    def churned(message: Message) -> bool:
        if message["type"] == "delta":
            for event in message["events"]:
                if event["kind"] != "joined" or event["node"] not in first:
                    seen.add(event["kind"])
        return {"crashed", "left", "joined"} <= seen

    await browser.until(churned, 30)
    await browser.ok("set_churn", {"join_rate": 0, "leave_rate": 0, "crash_rate": 0})
    stats = await browser.until(lambda m: m["type"] == "stats", 10)
    assert stats["node_count"] >= 5  # churn never takes the ring below r + 1 (r = 4)
    await browser.ok("stop", timeout=30)


async def test_gateway_in_front_of_a_ring_on_the_default_tcp_carrier() -> None:
    ring = Ring(TcpTransport)
    try:
        first = await ring.add()
        await ring.add(join=first)
        await ring.converged()
        gateway = create_gateway(first.address, timeout=5.0)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as http:
            put = await http.put("/api/kv/apple", json={"colour": "red"})
            got = await http.get("/api/kv/apple")
            missing = await http.get("/api/kv/pear")
    finally:
        await ring.stop()
    assert put.status_code == 200, put.text
    assert got.status_code == 200 and got.json()["value"] == {"colour": "red"}, got.text
    assert missing.status_code == 404
