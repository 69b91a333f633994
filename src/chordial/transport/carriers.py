"""Choosing a carrier by name, and a client transport that speaks whichever one a node serves.

A node serves one carrier (``chordial node --transport tcp|grpc``, tcp by default). Clients
need not know which: :class:`AutoTransport` opens the fast TCP carrier first and, when the peer
answers in HTTP/2 (a gRPC node), remembers that and uses gRPC for that address from then on. So
the CLI and :class:`~chordial.client.ChordClient` reach a ring of either kind unchanged, and
gRPC stays the interface for other languages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final, Literal

from chordial.core.messages import Request, Response
from chordial.transport.base import Handler, Server, Transport, Watcher
from chordial.transport.grpc import GrpcTransport
from chordial.transport.tcp import TcpTransport, WrongCarrier

Carrier = Literal["tcp", "grpc"]
CARRIERS: Final[tuple[Carrier, ...]] = ("tcp", "grpc")
DEFAULT_CARRIER: Final[Carrier] = "tcp"
CLIENT_CARRIERS: Final[tuple[str, ...]] = ("auto", *CARRIERS)


def make_transport(name: str) -> Transport:
    """A fresh transport for ``name``: ``tcp``, ``grpc`` or (clients only) ``auto``."""
    if name == "tcp":
        return TcpTransport()
    if name == "grpc":
        return GrpcTransport()
    if name == "auto":
        return AutoTransport()
    raise ValueError(f"transport must be one of {', '.join(CLIENT_CARRIERS)}, got {name!r}")


class AutoTransport:
    """Client side that talks TCP to TCP nodes and gRPC to gRPC nodes, learning which per address.

    Serving is done in TCP (use a named carrier for nodes).
    """

    def __init__(self) -> None:
        self.tcp = TcpTransport()
        self._grpc: GrpcTransport | None = None
        self._grpc_peers: set[str] = set()

    @property
    def grpc(self) -> GrpcTransport:
        if self._grpc is None:
            self._grpc = GrpcTransport()
        return self._grpc

    def carrier_of(self, address: str) -> Carrier:
        """The carrier used for ``address`` so far (tcp until a peer turned out to be gRPC)."""
        return "grpc" if address in self._grpc_peers else "tcp"

    async def call(self, address: str, request: Request, timeout: float) -> Response:
        if address in self._grpc_peers:
            return await self.grpc.call(address, request, timeout)
        try:
            return await self.tcp.call(address, request, timeout)
        except WrongCarrier:
            self._grpc_peers.add(address)
            return await self.grpc.call(address, request, timeout)

    async def watch(self, address: str, timeout_first: float = 5.0) -> AsyncIterator[dict[str, object]]:
        if address not in self._grpc_peers:
            try:
                async for event in self.tcp.watch(address, timeout_first):
                    yield event
                return
            except WrongCarrier:
                self._grpc_peers.add(address)
        async for event in self.grpc.watch(address, timeout_first):
            yield event

    async def serve(self, address: str, handler: Handler, watcher: Watcher | None = None) -> Server:
        return await self.tcp.serve(address, handler, watcher)

    async def close(self) -> None:
        await self.tcp.close()
        if self._grpc is not None:
            await self._grpc.close()


__all__ = ["CARRIERS", "CLIENT_CARRIERS", "DEFAULT_CARRIER", "AutoTransport", "Carrier", "make_transport"]
