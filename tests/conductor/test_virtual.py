"""The conductor driving the simulator: the websocket stream, every control, the REST API, the
KV API, reports and uploads, on a real uvicorn server with a real websocket client."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from chordial.conductor.protocol import NodeDetail, Params
from tests.conductor.conftest import Browser, Conductor

SMALL = {"nodes": 200, "workload_rate": 50, "stabilize_period": 1.0, "latency_ms": 10}


async def start(browser: Browser, **params: object) -> dict[str, Any]:
    await browser.ok("start", {**SMALL, **params})
    snapshot = await browser.until(lambda m: m["type"] == "snapshot" and m["status"] == "running")
    return snapshot


async def test_first_messages_then_a_running_simulation(browser: Browser) -> None:
    status = await browser.recv()
    snapshot = await browser.recv()
    assert {status["type"], snapshot["type"]} == {"status", "snapshot"}
    snap = await start(browser)
    assert len(snap["nodes"]) == 200 and snap["detail"] is True
    assert snap["params"]["nodes"] == 200 and snap["world"] == "virtual"
    node = snap["nodes"][0]
    assert 0 <= node["pos"] < 1 and node["state"] == "live" and node["fingers"]
    assert int(node["id"]) < 2 ** snap["id_bits"]
    stats = await browser.until(lambda m: m["type"] == "stats" and m["ops_per_s"] > 0 and m["top_keys"])
    assert stats["node_count"] == 200
    assert stats["correctness"]["successors"] == 1.0
    assert stats["hops_mean"] is not None and stats["latency_ms_mean"] is not None
    # Deltas are batched: at most ~20 a second.
    began = time.monotonic()
    count = 0
    while time.monotonic() - began < 1.0:
        message = await browser.recv()
        count += message["type"] == "delta"
    assert count <= 22


async def test_put_get_delete_with_paths(browser: Browser) -> None:
    await start(browser)
    put = await browser.ok("put", {"key": "apple", "value": {"colour": "red"}})
    assert put["found"] and put["version"] >= 1 and put["path"][-1] == put["owner"]
    assert put["hops"] == len(put["path"]) - 1
    got = await browser.ok("get", {"key": "apple"})
    assert got["value"] == {"colour": "red"} and got["owner"] == put["owner"]
    gone = await browser.ok("delete", {"key": "apple"})
    assert gone["found"]
    missing = await browser.ok("get", {"key": "apple"})
    assert missing["found"] is False and missing["value"] is None


async def test_crash_leave_add_and_inspect(browser: Browser) -> None:
    snap = await start(browser, workload_rate=0)
    victim, leaver = snap["nodes"][3]["id"], snap["nodes"][7]["id"]
    await browser.ok("crash", {"node": victim})
    await browser.until(
        lambda m: m["type"] == "delta" and any(v["id"] == victim and v["state"] == "crashed" for v in m["upserts"])
    )
    await browser.ok("leave", {"node": leaver})
    await browser.until(lambda m: m["type"] == "delta" and any(e["kind"] == "left" for e in m["events"]))
    added = await browser.ok("add_node", {"id": "12345"})
    assert added["node"]["id"] == "12345"
    await browser.until(lambda m: m["type"] == "delta" and any(e["kind"] == "joined" for e in m["events"]), 20)
    detail = NodeDetail.model_validate(await browser.ok("inspect", {"node": snap["nodes"][0]["id"]}))
    assert detail.finger_table and detail.successors
    assert all(0 <= f.start_pos < 1 for f in detail.finger_table)


async def test_teaching_ring_lists_every_finger(browser: Browser) -> None:
    snap = await start(browser, nodes=8, id_bits=6)
    assert all(int(n["id"]) < 64 for n in snap["nodes"])
    detail = await browser.ok("inspect", {"node": snap["nodes"][0]["id"]})
    assert [f["index"] for f in detail["finger_table"]] == list(range(6))
    placed = await browser.ok("put", {"key_id": "42", "value": "at 42"})
    assert placed["key_id"] == "42" and placed["key"].startswith("k")
    assert (await browser.ok("get", {"key": placed["key"]}))["value"] == "at 42"
    both = await browser.command("put", {"key": "a", "key_id": "1", "value": 1})
    assert not both["ok"] and "either key or key_id" in both["error"]
    outside = await browser.command("put", {"key_id": "64", "value": 1})
    assert not outside["ok"] and "does not fit" in outside["error"]


async def test_pause_step_resume_speed(browser: Browser) -> None:
    await start(browser)
    assert (await browser.ok("pause"))["status"] == "paused"
    await browser.until(lambda m: m["type"] == "status" and m["status"] == "paused")
    before = browser.messages[-1]["time"]
    stepped = await browser.ok("step", {"seconds": 2.5})
    assert stepped["time"] >= before + 2.5 - 1e-6
    # A get while paused runs the simulation just until it is answered.
    assert (await browser.ok("get", {"key": "hello"}))["key"] == "hello"
    refused = await browser.command("step", {"seconds": -1})
    assert not refused["ok"] and "seconds" in refused["error"]
    await browser.ok("resume")
    assert (await browser.ok("speed", {"speed": 10}))["speed"] == 10
    fast = await browser.until(lambda m: m["type"] == "status" and m["speed"] == 10)
    assert fast["status"] == "running"
    assert (await browser.ok("speed", {"speed": "max"}))["speed"] == "max"
    running = await browser.command("step", {"seconds": 1})
    assert not running["ok"] and "pause" in running["error"]


async def test_workload_churn_partition_changes(browser: Browser) -> None:
    snap = await start(browser)
    data = await browser.ok("set_workload", {"rate": 5, "put": 3, "popularity": "zipf", "zipf": 1.2})
    assert data["params"]["workload_rate"] == 5 and data["params"]["popularity"] == "zipf"
    data = await browser.ok("set_churn", {"join_rate": 0.5, "crash_rate": 0.5})
    assert data["params"]["join_rate"] == 0.5
    await browser.ok("partition", {"nodes": [n["id"] for n in snap["nodes"][:20]]})
    await browser.ok("heal")
    await browser.ok("speed", {"speed": 20})
    await browser.until(lambda m: m["type"] == "delta" and any(e["kind"] == "crashed" for e in m["events"]), 20)
    bad = await browser.command("set_workload", {"rate": 5, "get": 0, "put": 0, "delete": 0, "lookup": 0})
    assert not bad["ok"] and "mix" in bad["error"]


async def test_bad_input_gets_errors_and_the_run_goes_on(browser: Browser) -> None:
    await start(browser)
    await browser.send("{not json")
    assert "not JSON" in (await browser.until(lambda m: m["type"] == "error"))["message"]
    await browser.send({"type": "hello"})
    assert "unknown message type" in (await browser.until(lambda m: m["type"] == "error"))["message"]
    await browser.send({"type": "command", "v": 7, "action": "stop", "request_id": "v"})
    assert "version" in (await browser.until(lambda m: m["type"] == "error"))["message"]
    unknown = await browser.command("explode")
    assert not unknown["ok"] and "explode" in unknown["error"]
    out_of_range = await browser.command("start", {"nodes": 0})
    assert not out_of_range["ok"] and "nodes" in out_of_range["error"]
    incoherent = await browser.command("start", {"replicas": 9, "successors": 2})
    assert not incoherent["ok"] and "replicas" in incoherent["error"]
    typo = await browser.command("start", {"nodez": 5})
    assert not typo["ok"] and "nodez" in typo["error"]
    nobody = await browser.command("crash", {"node": "999999999"})
    assert not nobody["ok"] and "no live node" in nobody["error"]
    not_an_id = await browser.command("leave", {"node": "abc"})
    assert not not_an_id["ok"] and "not an id" in not_an_id["error"]
    too_big = await browser.command("inspect", {"node": str(2**40)})
    assert not too_big["ok"] and "does not fit" in too_big["error"]
    bad_speed = await browser.command("speed", {"speed": 5000})
    assert not bad_speed["ok"]
    await browser.send({"type": "command", "action": "crash", "args": {}})  # no request_id, missing node
    assert (await browser.until(lambda m: m["type"] == "error"))["request_id"] is None
    # Still running, still streaming.
    await browser.until(lambda m: m["type"] == "stats" and m["node_count"] == 200)
    assert browser.messages[-1]["type"] == "stats"


async def test_rest_control_kv_and_reports(conductor: Conductor) -> None:
    http = conductor.http
    params = (await http.get("/api/params")).json()
    assert params["defaults"] == Params().model_dump(mode="json")
    assert params["schema"]["properties"]["nodes"]["maximum"] == 100_000
    assert (await http.get("/api/kv/apple")).status_code == 409  # nothing running yet
    response = await http.post("/api/sim", json={"nodes": 0})
    assert response.status_code == 422 and "nodes" in response.json()["detail"]
    assert (await http.post("/api/sim", json={**SMALL, "nodes": 50})).status_code == 200
    state = (await http.get("/api/state")).json()
    assert state["type"] == "snapshot" and len(state["nodes"]) == 50
    put = await http.put("/api/kv/colour", json=["blue", 3])
    assert put.status_code == 200 and put.json()["found"]
    assert (await http.get("/api/kv/colour")).json()["value"] == ["blue", 3]
    assert (await http.get("/api/kv/colour", params={"consistency": "eventual"})).status_code == 200
    assert (await http.get("/api/kv/colour", params={"consistency": "sometimes"})).status_code == 422
    assert (await http.delete("/api/kv/colour")).json()["found"]
    missing = await http.get("/api/kv/colour")
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]
    node = state["nodes"][0]["id"]
    assert (await http.get(f"/api/nodes/{node}")).json()["id"] == node
    assert (await http.get("/api/nodes/77")).status_code == 404
    assert (await http.post(f"/api/nodes/{node}/explode")).status_code == 404
    assert (await http.post(f"/api/nodes/{node}/crash")).status_code == 200
    assert (await http.post("/api/nodes", json={})).status_code == 200
    assert (await http.post("/api/sim/pause")).json()["status"] == "paused"
    assert (await http.post("/api/sim/step", json={"seconds": 1})).status_code == 200
    assert (await http.post("/api/sim/resume")).json()["status"] == "running"
    assert (await http.post("/api/sim/speed", json={"speed": 0.01})).status_code == 422
    assert (await http.post("/api/sim/fly")).status_code == 404
    await asyncio.sleep(2.2)  # two statistics rows
    rows = list(csv.DictReader(io.StringIO((await http.get("/api/report/stats.csv")).text)))
    assert len(rows) >= 2 and rows[-1]["node_count"]
    events = [json.loads(line) for line in (await http.get("/api/report/events.jsonl")).text.splitlines()]
    assert any(e["kind"] == "crashed" for e in events)
    page = (await http.get("/api/report/summary.html")).text
    assert "data:image/png;base64," in page and "Parameters" in page
    assert "not built" in (await http.get("/")).text
    assert (await http.get("/openapi.json")).json()["paths"]["/api/kv/{key}"]
    assert (await http.post("/api/sim/stop")).json()["status"] == "stopped"
    assert (await http.get("/api/kv/colour")).status_code == 409


async def test_dataset_upload(conductor: Conductor, browser: Browser) -> None:
    http = conductor.http
    refused = await http.post("/api/dataset", files={"file": ("empty.txt", b"\n\n")})
    assert refused.status_code == 400 and "empty" in refused.json()["detail"]
    binary = await http.post("/api/dataset", files={"file": ("x.bin", b"\xff\xfe")})
    assert binary.status_code == 400 and "UTF-8" in binary.json()["detail"]
    lines = b'{"key": "tea", "value": "green"}\n{"key": "coffee", "value": {"roast": "dark"}}\nplain line\n'
    uploaded = await http.post("/api/dataset", files={"file": ("drinks.jsonl", lines)})
    assert uploaded.status_code == 200 and uploaded.json()["keys"] == 3
    await start(browser, dataset="uploaded", workload_rate=0)
    assert (await browser.ok("get", {"key": "coffee"}))["value"] == {"roast": "dark"}
    assert (await browser.ok("get", {"key": "tea"}))["value"] == "green"


async def test_slow_browser_gets_coalesced_updates(conductor: Conductor, browser: Browser) -> None:
    await start(browser, workload_rate=200)
    await browser.ok("speed", {"speed": 50})
    (conn,) = conductor.session.connections
    await asyncio.sleep(3)  # read nothing: the conductor keeps only the latest state
    assert len(conn.events) <= 300 and len(conn.upserts) <= 5000 and len(conn.replies) <= 100
    message = await browser.until(lambda m: m["type"] in ("delta", "snapshot"))
    if message["type"] == "delta":
        ids = [v["id"] for v in message["upserts"]]
        assert len(ids) == len(set(ids))  # one view per node, the newest


async def test_large_ring_snapshot_has_no_detail(browser: Browser) -> None:
    snap = await start(browser, nodes=3000, workload_rate=0)
    assert snap["detail"] is False and len(snap["nodes"]) == 3000
    assert all(n["fingers"] is None and len(n["successors"]) <= 1 for n in snap["nodes"])
    began = time.monotonic()
    await browser.ok("inspect", {"node": snap["nodes"][0]["id"]})
    assert time.monotonic() - began < 2.0


async def test_several_browsers_watch_one_simulation(conductor: Conductor, browser: Browser) -> None:
    from websockets.asyncio.client import connect

    await start(browser, workload_rate=0)
    async with connect(conductor.ws_url, max_size=None) as ws:
        second = Browser(ws)
        snap = await second.until(lambda m: m["type"] == "snapshot")
        assert len(snap["nodes"]) == 200 and snap["status"] == "running"
        victim = snap["nodes"][0]["id"]
        await browser.ok("crash", {"node": victim})
        await second.until(
            lambda m: m["type"] == "delta" and any(v["id"] == victim and v["state"] == "crashed" for v in m["upserts"])
        )


async def test_app_starts_a_simulation_and_serves_the_built_client(tmp_path: Path) -> None:
    from chordial.conductor.app import create_app
    from chordial.conductor.session import Session

    (tmp_path / "index.html").write_text("<!doctype html><title>Chordial</title><div id=root></div>")
    app = create_app(Session(), web_dist=tmp_path, start=Params(nodes=16, workload_rate=0))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            state = (await http.get("/api/state")).json()
            assert state["status"] == "running" and len(state["nodes"]) == 16
            page = await http.get("/")
            assert page.status_code == 200 and "<div id=root>" in page.text
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)
