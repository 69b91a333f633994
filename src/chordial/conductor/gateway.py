"""``chordial gateway``: the conductor's JSON KV API (``GET/PUT/DELETE /api/kv/{key}``) in front
of any running ring, for people who prefer HTTP and JSON to gRPC.

Every request goes to the one node given with ``--node``, which routes it to the key's owner
like any client request; the answer carries the owner, the lookup path and the version.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from chordial.conductor.app import KvBackend, kv_router
from chordial.conductor.docs import serve_offline_docs
from chordial.conductor.live import client_kv
from chordial.conductor.world import WorldError
from chordial.core.messages import GetState, NodeState
from chordial.transport.base import TransportError

__all__ = ["create_gateway"]


def create_gateway(node: str, timeout: float = 5.0, carrier: str = "auto") -> FastAPI:
    """The KV API in front of the ring reached through ``node``; ``carrier`` is ``auto`` (each
    node's own: tcp by default, gRPC for nodes started with ``--transport grpc``), tcp or grpc."""
    from chordial.transport.carriers import make_transport

    transport = make_transport(carrier)
    bits: list[int] = []

    async def id_bits() -> int:
        """The ring's id size, asked of the node once (keys' ids and positions depend on it)."""
        if not bits:
            try:
                state = await transport.call(node, GetState(), timeout)
            except TransportError as exc:
                raise WorldError(f"node {node} unavailable: {exc}", 503) from None
            if not isinstance(state, NodeState):
                raise WorldError(f"node {node} answered GetState with {type(state).__name__}", 502)
            bits.append(state.id_bits)
        return bits[0]

    async def backend(op: str, key: str, value: Any, consistency: str | None) -> dict[str, Any]:
        return await client_kv(transport, node, op, key, value, consistency, await id_bits(), timeout)

    def get_backend() -> KvBackend:
        return backend

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await transport.close()

    app = FastAPI(
        title="Chordial gateway",
        version="1",
        summary=f"JSON key-value access to the Chord ring through {node}",
        lifespan=lifespan,
        docs_url=None,  # served offline below, not from a CDN
        redoc_url=None,
    )
    serve_offline_docs(app)
    app.include_router(kv_router(get_backend))
    return app
