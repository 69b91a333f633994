"""The conductor's web application: REST control API, the ``/ws`` stream, the KV API, reports,
and the built web client.

``create_app()`` builds a FastAPI app around one :class:`~chordial.conductor.session.Session`;
``chordial conductor`` serves it with uvicorn. The REST routes and the websocket share
``Session.execute``, so both refuse bad input with the same one-line reasons (4xx here, a
``result`` with ``ok: false`` there) and a refused request never stops the simulation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, File, HTTPException, Query, Request, UploadFile, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from chordial.conductor import reports
from chordial.conductor.dataset import MAX_UPLOAD_BYTES, from_upload
from chordial.conductor.docs import serve_offline_docs
from chordial.conductor.protocol import (
    COMMAND,
    DETAIL_LIMIT,
    LIVE_NODE_LIMIT,
    Consistency,
    KvResult,
    NodeDetail,
    Params,
    one_line_validation,
)
from chordial.conductor.session import Connection, Session
from chordial.conductor.world import WorldError
from chordial.sim.models import DatasetError

__all__ = ["DEFAULT_WEB_DIST", "KvBackend", "create_app", "kv_router"]

DEFAULT_WEB_DIST = Path(__file__).resolve().parents[3] / "web" / "dist"
MISSING_WEB = (
    "<!doctype html><title>Chordial conductor</title><p>The web client is not built: run "
    "<code>make demo</code> (or <code>npm run build</code> in <code>web/</code>) and reload. "
    'The API is at <a href="/docs">/docs</a>.</p>\n'
)

KvBackend = Callable[[str, str, Any, str | None], Awaitable[dict[str, Any]]]
"""``(op, key, value, consistency) -> KvResult dict``; raises WorldError to refuse."""


def _refuse(exc: WorldError) -> HTTPException:
    return HTTPException(exc.status_code, str(exc))


def kv_router(backend: Callable[[], KvBackend]) -> APIRouter:
    """``GET/PUT/DELETE /api/kv/{key}`` in front of whatever ``backend()`` returns (the running
    world in the conductor, a ChordClient in the gateway)."""
    router = APIRouter(prefix="/api/kv", tags=["kv"])

    @router.get("/{key}", response_model=KvResult, summary="Read a key (404 when absent)")
    async def get_key(key: str, consistency: Annotated[Consistency | None, Query()] = None) -> dict[str, Any]:
        try:
            result = await backend()("get", key, None, consistency)
        except WorldError as exc:
            raise _refuse(exc) from None
        if not result["found"]:
            raise HTTPException(404, f"key {key!r} not found (owner {result['owner_address']})")
        return result

    @router.put("/{key}", response_model=KvResult, summary="Write a key (the body is any JSON value)")
    async def put_key(key: str, value: Annotated[Any, Body()]) -> dict[str, Any]:
        try:
            return await backend()("put", key, value, None)
        except WorldError as exc:
            raise _refuse(exc) from None

    @router.delete("/{key}", response_model=KvResult, summary="Delete a key (found tells whether it existed)")
    async def delete_key(key: str) -> dict[str, Any]:
        try:
            return await backend()("delete", key, None, None)
        except WorldError as exc:
            raise _refuse(exc) from None

    return router


def create_app(
    session: Session | None = None, web_dist: Path | None = DEFAULT_WEB_DIST, start: Params | None = None
) -> FastAPI:
    """The conductor app. ``web_dist``: the built web client (a one-line page when missing);
    ``start``: a simulation to start when the server starts."""
    session = session or Session()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        session.open()
        if start is not None:
            await session.start(start)
        try:
            yield
        finally:
            await session.close()

    app = FastAPI(
        title="Chordial conductor",
        version="1",
        summary="Run, watch and steer Chord simulations (virtual or live); websocket stream at /ws.",
        lifespan=lifespan,
        docs_url=None,  # served offline below, not from a CDN
        redoc_url=None,
    )
    serve_offline_docs(app)
    app.state.session = session

    async def run(command: dict[str, Any]) -> dict[str, Any]:
        try:
            parsed = COMMAND.validate_python({"type": "command", "request_id": "rest", **command})
        except ValidationError as exc:
            raise HTTPException(422, one_line_validation(exc)) from None
        try:
            return await session.execute(parsed)
        except WorldError as exc:
            raise _refuse(exc) from None

    @app.get("/api/params", summary="Defaults, ranges, units and help of every parameter")
    async def get_params() -> dict[str, Any]:
        return {
            "defaults": Params().model_dump(mode="json"),
            "schema": Params.model_json_schema(),
            "live_node_limit": LIVE_NODE_LIMIT,
            "detail_limit": DETAIL_LIMIT,
        }

    @app.get("/api/state", summary="A snapshot of the running simulation (as the websocket sends it)")
    async def get_state() -> Response:
        return Response(session.snapshot_text(), media_type="application/json")

    @app.post("/api/sim", summary="Start a simulation (any subset of Params; the rest default)")
    async def start_sim(params: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        return await run({"action": "start", "args": params})

    @app.post("/api/sim/{action}", summary="stop | pause | resume | heal | step | speed")
    async def control(action: str, args: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
        if action not in ("stop", "pause", "resume", "heal", "step", "speed", "set_workload", "set_churn"):
            raise HTTPException(404, f"unknown simulation action {action!r}")
        return await run({"action": action, "args": args or {}})

    @app.post("/api/nodes", summary="Add a node (optionally at a chosen decimal id)")
    async def add_node(args: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
        return await run({"action": "add_node", "args": args or {}})

    @app.post("/api/nodes/{node}/{action}", summary="leave | crash a node")
    async def node_action(node: str, action: str) -> dict[str, Any]:
        if action not in ("leave", "crash"):
            raise HTTPException(404, f"unknown node action {action!r}: leave or crash")
        return await run({"action": action, "args": {"node": node}})

    @app.get("/api/nodes/{node}", response_model=NodeDetail, summary="Everything about one node")
    async def inspect(node: str) -> dict[str, Any]:
        return await run({"action": "inspect", "args": {"node": node}})

    @app.post("/api/dataset", summary="Upload a dataset (one record a line: text, or JSON with key/value)")
    async def upload(file: Annotated[UploadFile, File()]) -> dict[str, Any]:
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        try:
            dataset = from_upload(file.filename or "upload", data)
        except DatasetError as exc:
            raise HTTPException(400, str(exc)) from None
        session.uploaded = dataset
        return {"source": dataset.source, "keys": len(dataset), "sample": list(dataset.keys[:5])}

    @app.get("/api/report/stats.csv", summary="Statistics over time (CSV)")
    async def stats_csv() -> PlainTextResponse:
        return PlainTextResponse(reports.stats_csv(list(session.history)), media_type="text/csv")

    @app.get("/api/report/events.jsonl", summary="The event log (JSON lines)")
    async def events_jsonl() -> PlainTextResponse:
        return PlainTextResponse(reports.events_jsonl(list(session.event_log)), media_type="application/x-ndjson")

    @app.get("/api/report/summary.html", summary="One page: parameters, figures and charts")
    async def summary() -> HTMLResponse:
        history = list(session.history)
        params = session.world.params if session.world is not None else session.params
        html = await asyncio.to_thread(reports.summary_html, params, history, len(session.event_log))
        return HTMLResponse(html)

    def world_kv() -> KvBackend:
        try:
            return session.require_world().kv
        except WorldError as exc:
            raise _refuse(exc) from None

    app.include_router(kv_router(world_kv))

    @app.websocket("/ws")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        conn = Connection(websocket.send_text)
        session.attach(conn)
        sender = asyncio.create_task(conn.run(session), name="ws sender")
        pending: set[asyncio.Task[None]] = set()
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    data = message.get("bytes") or b""
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError:
                        text = "\x00not utf-8"
                # Commands run as tasks: a slow one (a get at 0.1×) must not stop the reading.
                task = asyncio.create_task(session.on_text(conn, text))
                pending.add(task)
                task.add_done_callback(pending.discard)
                if sender.done():
                    break
        except WebSocketDisconnect:
            pass
        finally:
            session.detach(conn)
            sender.cancel()
            for task in pending:
                task.cancel()
            with contextlib.suppress(BaseException):
                await sender

    @app.exception_handler(WorldError)
    async def world_error(_: Request, exc: WorldError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

    if web_dist is not None and (web_dist / "index.html").is_file():
        app.mount("/", StaticFiles(directory=web_dist, html=True), name="web")
    else:

        @app.get("/", include_in_schema=False)
        async def missing_web() -> HTMLResponse:
            return HTMLResponse(MISSING_WEB)

    return app
