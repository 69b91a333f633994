"""Carriers that move core messages between nodes: gRPC and an in-memory network."""

from chordial.transport.base import Handler, Server, Transport, TransportError, Unreachable

__all__ = ["Handler", "Server", "Transport", "TransportError", "Unreachable"]
