"""Chordial against the Python peer, bmuller/kademlia (PyPI ``kademlia``), side by side.

For each ring size N (16 and 64), both DHTs run N nodes in this one process on 127.0.0.1 (one
event loop, uvloop when installed, for both), then 2,000 sets and 2,000 gets of 100-byte
values, sequentially and with 32 in flight: ops/s, p50/p99 latency, fraction of operations
that succeeded (a get succeeds when it returns the value set) and CPU per operation (the whole
process: load generator and every node).

* kademlia (2.2.3, ksize 20, alpha 3): each operation starts at a random node. Its best chance:
  UDP receive buffers of 8 MB (``SO_RCVBUFFORCE`` where allowed, else ``SO_RCVBUF``, which the
  kernel caps at ``net.core.rmem_max``: the size granted is printed); its figures with the
  default buffers are printed too.
* Chordial: k = 3 linearizable replication (the default), TCP carrier, every node of the
  ring sharing one transport. Two clients: the library's :class:`ChordClient` with its route
  cache (one call to the owner once it knows the ring), and requests routed by the ring
  (``ClientPut``/``ClientGet`` to a random node, as kademlia's).

Targets (issue 6): Chordial get ≥ 8× kademlia get, Chordial put (k = 3 linearizable) ≥ 25×
kademlia set, no failed Chordial operation.

    uv run python bench/peers.py [--quick] [--sizes 16 64] [--ops 2000] [--no-uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import socket
from collections.abc import Awaitable, Callable

from common import Figures, header, measure, ratio, start_ring, stop_ring
from kademlia.network import Server  # type: ignore[import-untyped]

from chordial.client import ChordClient
from chordial.core import ChordConfig
from chordial.core.messages import ClientGet, ClientPut, DataReply
from chordial.runtime.process import free_port, run, uvloop_available
from chordial.transport.tcp import TcpTransport

BIG_BUFFER = 8 * 1024 * 1024
VALUE = "v" * 100
Op = Callable[[int], Awaitable[bool]]


def _set_receive_buffer(server: Server, size: int) -> int:
    """Raise the node's UDP receive buffer; returns what the kernel granted."""
    sock: socket.socket = server.transport.get_extra_info("socket")
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    try:
        if force is None:
            raise PermissionError
        sock.setsockopt(socket.SOL_SOCKET, force, size)
    except (PermissionError, OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    granted: int = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    return granted // 2  # Linux reports twice the size it was asked for (bookkeeping overhead)


async def kademlia_run(size: int, ops: int, big_buffers: bool) -> tuple[list[Figures], int]:
    servers: list[Server] = []
    granted = 0
    for _ in range(size):
        server = Server()
        await server.listen(free_port(), interface="127.0.0.1")
        if big_buffers:
            granted = _set_receive_buffer(server, BIG_BUFFER)
        else:
            granted = server.transport.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
        servers.append(server)
    first = ("127.0.0.1", servers[0].transport.get_extra_info("sockname")[1])
    for server in servers[1:]:
        await server.bootstrap([first])
    for server in servers:  # a second round fills the tables of the early joiners
        await server.bootstrap([first])
    rng = random.Random(size)
    label = f"kademlia N={size} {'8MB' if big_buffers else 'default'} buf"
    figures: list[Figures] = []
    try:
        for concurrency, tag in ((1, "seq"), (32, "c32")):
            keys = [f"{tag}-{i}" for i in range(ops)]

            async def put(i: int, keys: list[str] = keys) -> bool:
                return bool(await rng.choice(servers).set(keys[i], VALUE))

            async def get(i: int, keys: list[str] = keys) -> bool:
                return bool(await rng.choice(servers).get(keys[i]) == VALUE)

            figures.append(await measure(f"{label} set {tag}", ops, concurrency, put))
            figures.append(await measure(f"{label} get {tag}", ops, concurrency, get))
    finally:
        for server in servers:
            server.stop()
        await asyncio.sleep(0.1)
    return figures, granted


async def chordial_run(size: int, ops: int) -> list[Figures]:
    shared = TcpTransport()
    nodes = await start_ring(size, ChordConfig(), lambda: shared, settle=3.0)
    addresses = [n.address for n in nodes]
    rng = random.Random(size)
    client = ChordClient(addresses[0], timeout=10.0, transport=TcpTransport())
    routed = TcpTransport()
    value = VALUE.encode()
    figures: list[Figures] = []
    try:
        for concurrency, tag in ((1, "seq"), (32, "c32")):
            keys = [f"{tag}-{i}" for i in range(ops)]

            async def cached_put(i: int, keys: list[str] = keys) -> bool:
                reply = await client.put(keys[i], value)
                return reply.entry is not None and reply.entry.value == value

            async def cached_get(i: int, keys: list[str] = keys) -> bool:
                return await client.get(keys[i]) == value

            async def routed_put(i: int, keys: list[str] = keys) -> bool:
                reply = await routed.call(rng.choice(addresses), ClientPut("r" + keys[i], value), 10.0)
                return isinstance(reply, DataReply) and reply.entry is not None

            async def routed_get(i: int, keys: list[str] = keys) -> bool:
                reply = await routed.call(rng.choice(addresses), ClientGet("r" + keys[i]), 10.0)
                return isinstance(reply, DataReply) and reply.entry is not None and reply.entry.value == value

            label = f"chordial N={size}"
            figures.append(await measure(f"{label} put {tag}", ops, concurrency, cached_put))
            figures.append(await measure(f"{label} get {tag}", ops, concurrency, cached_get))
            figures.append(await measure(f"{label} routed put {tag}", ops, concurrency, routed_put))
            figures.append(await measure(f"{label} routed get {tag}", ops, concurrency, routed_get))
        stats = client.route_stats
        print(
            f"  chordial N={size} route cache: hit rate {stats.hit_rate:.3f} ({stats.hits} hits, "
            f"{stats.misses} misses, {stats.stale} stale, {stats.learnt} owners asked)"
        )
    finally:
        await client.close()
        await routed.close()
        await stop_ring(nodes, [shared])
    return figures


async def main(sizes: list[int], ops: int, use_uvloop: bool) -> None:
    logging.getLogger("kademlia").setLevel(logging.CRITICAL)
    loop = "uvloop" if use_uvloop and uvloop_available() else "asyncio"
    print(f"Chordial (tcp, k = 3 linearizable) vs kademlia 2.2.3, one process, 127.0.0.1, {loop}, {ops} ops per row")
    width = 40
    failed = False
    for size in sizes:
        rows: dict[str, Figures] = {}
        chordial = await chordial_run(size, ops)
        big, granted_big = await kademlia_run(size, ops, True)
        small, granted_small = await kademlia_run(size, ops, False)
        print(
            f"  kademlia UDP receive buffers: {granted_big:,} bytes granted when 8 MB asked; default {granted_small:,}"
        )
        print(header(width))
        for fig in chordial + big + small:
            rows[fig.label] = fig
            print(fig.row(width))
        for tag in ("seq", "c32"):
            k_set, k_get = rows[f"kademlia N={size} 8MB buf set {tag}"], rows[f"kademlia N={size} 8MB buf get {tag}"]
            d_set = rows[f"kademlia N={size} default buf set {tag}"]
            d_get = rows[f"kademlia N={size} default buf get {tag}"]
            c_put, c_get = rows[f"chordial N={size} put {tag}"], rows[f"chordial N={size} get {tag}"]
            r_put, r_get = rows[f"chordial N={size} routed put {tag}"], rows[f"chordial N={size} routed get {tag}"]
            get_x, put_x = c_get.rate / k_get.rate, c_put.rate / k_set.rate
            print(
                f"  N={size} {tag}: chordial get / kademlia get {get_x:.1f}× (target ≥ 8×: "
                f"{'met' if get_x >= 8 else 'NOT met'}), chordial put / kademlia set {put_x:.1f}× (target ≥ 25×: "
                f"{'met' if put_x >= 25 else 'NOT met'}); routed: get {ratio(r_get.rate, k_get.rate)}, "
                f"put {ratio(r_put.rate, k_set.rate)}; against kademlia with default buffers: get "
                f"{ratio(c_get.rate, d_get.rate)}, put {ratio(c_put.rate, d_set.rate)}; kademlia ok fraction "
                f"set/get {k_set.ok_fraction:.3f}/{k_get.ok_fraction:.3f} (default buffers "
                f"{d_set.ok_fraction:.3f}/{d_get.ok_fraction:.3f})"
            )
            for fig in (c_put, c_get, r_put, r_get):
                failed |= fig.ok != fig.ops
    print(f"  chordial failed operations: {'some (see the ok column)' if failed else 'none'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke test: N = 8, 60 operations per row")
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--no-uvloop", action="store_true", help="run both on the standard asyncio loop")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.ops = [8], 60
    run(main(args.sizes, args.ops, not args.no_uvloop), use_uvloop=not args.no_uvloop)
