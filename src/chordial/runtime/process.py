"""Process-level set-up for running many nodes: event loop, file descriptors, listening ports.

Why: one process may hold hundreds of nodes (the conductor's live world, the benchmarks). Each
node costs a listening socket plus about one connection per peer it talks to (both ends when
the peer is in the same process), so the soft ``RLIMIT_NOFILE`` (often 1,024) runs out long
before the CPU does; the hard limit here is 20,000. Listening ports are taken below 32768
because loopback's ephemeral range (32768–60999) is what outgoing connections use: a node
listening there could find its port taken by a connection when it restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import resource
import socket
from collections.abc import Coroutine
from typing import Any, Final, TypeVar

T = TypeVar("T")

LISTEN_PORTS: Final = range(20_000, 32_768)
"""Where :func:`free_port` looks: below the ephemeral range, above the usual service ports."""

_cursor = LISTEN_PORTS.start


def raise_fd_limit() -> int:
    """Raise the soft limit of open files to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20) if soft != resource.RLIM_INFINITY else soft
    if soft == resource.RLIM_INFINITY or soft >= hard:
        return soft
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


def uvloop_available() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool = True) -> T:
    """``asyncio.run(main)`` on uvloop when it is installed (and ``use_uvloop``), after raising
    the file-descriptor limit."""
    raise_fd_limit()
    if use_uvloop and uvloop_available():
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    return asyncio.run(main)


def free_port(host: str = "127.0.0.1") -> int:
    """A port of :data:`LISTEN_PORTS` free on ``host`` right now (tried in turn, process-wide,
    so that nodes started one after another get distinct ports without racing each other)."""
    global _cursor
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(len(LISTEN_PORTS)):
        port = _cursor
        _cursor = port + 1 if port + 1 < LISTEN_PORTS.stop else LISTEN_PORTS.start
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    continue
                raise
            return port
    raise OSError(errno.EADDRINUSE, f"no free port in {LISTEN_PORTS.start}-{LISTEN_PORTS.stop - 1} on {host}")


__all__ = ["LISTEN_PORTS", "free_port", "raise_fd_limit", "run", "uvloop_available"]
