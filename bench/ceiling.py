"""The raw single-call ceiling of each carrier, and how close a cached-route get comes to it.

A ceiling call is one request to a server whose handler answers at once (``Ping`` → ``Pong``):
what the carrier costs with no protocol work. Both carriers are measured in this run, client
and server in this process on 127.0.0.1 (uvloop when installed), sequentially and with 32
calls in flight. Then a 16-node ring on the TCP carrier: a :class:`ChordClient` that has
learnt the ring's ranges sends each get straight to the key's owner (one call), against the
same get routed by the ring (``ClientGet`` to a random node: lookup hops plus the owner call).

    uv run python bench/ceiling.py [--quick]

Target (issue 6): a cached-route get reaches at least 50% of the TCP ceiling.
"""

from __future__ import annotations

import argparse
import random

from common import Figures, header, measure, ratio, start_ring, stop_ring

from chordial.client import ChordClient
from chordial.core import ChordConfig
from chordial.core.messages import ClientGet, DataReply, NodeRef, Ping, Pong, Request, Response
from chordial.runtime.process import run, uvloop_available
from chordial.transport.carriers import make_transport
from chordial.transport.tcp import TcpTransport

PONG = Pong(NodeRef(1, "127.0.0.1:1"), 160)


async def answer(_: Request) -> Response:
    return PONG


async def ceiling(carrier: str, calls: int) -> list[Figures]:
    server_side = make_transport(carrier)
    client = make_transport(carrier)
    server = await server_side.serve("127.0.0.1:0", answer)
    address = server.address

    async def ping(_: int) -> bool:
        return await client.call(address, Ping(), 5.0) == PONG

    try:
        await measure("warm-up", 200, 8, ping)
        return [
            await measure(f"{carrier} ceiling seq", calls, 1, ping),
            await measure(f"{carrier} ceiling c32", calls, 32, ping),
        ]
    finally:
        await server.stop()
        await client.close()
        await server_side.close()


async def ring_gets(size: int, keys: int, gets: int) -> list[Figures]:
    shared = TcpTransport()
    nodes = await start_ring(size, ChordConfig(), lambda: shared, settle=3.0)
    addresses = [n.address for n in nodes]
    names = [f"key-{i}" for i in range(keys)]
    value = b"v" * 100
    rng = random.Random(6)
    client = ChordClient(addresses[0], timeout=5.0, transport=TcpTransport())
    routed = TcpTransport()
    try:
        for name in names:
            await client.put(name, value)
        while len(client.routes) < size:  # learn every range (each miss asks one owner)
            for name in names[:200]:
                await client.get_entry(name)
        stats = client.route_stats
        hits0 = stats.hits

        async def cached_get(i: int) -> bool:
            return (await client.get_entry(names[i % keys])).found

        async def routed_get(i: int) -> bool:
            reply = await routed.call(rng.choice(addresses), ClientGet(names[i % keys]), 5.0)
            return isinstance(reply, DataReply) and reply.found

        figures = [
            await measure(f"N={size} cached-route get seq", gets, 1, cached_get),
            await measure(f"N={size} cached-route get c32", gets, 32, cached_get),
            await measure(f"N={size} routed get seq", gets, 1, routed_get),
            await measure(f"N={size} routed get c32", gets, 32, routed_get),
        ]
        print(
            f"  route cache: {stats.hits - hits0} hits of {2 * gets} cached gets, hit rate {stats.hit_rate:.3f} overall"
        )
        return figures
    finally:
        await client.close()
        await routed.close()
        await stop_ring(nodes, [shared])


async def main(quick: bool) -> None:
    calls = 500 if quick else 5000
    print(
        f"carrier ceiling (Ping → Pong, trivial handler), {calls} calls per row, loop: "
        f"{'uvloop' if uvloop_available() else 'asyncio'}"
    )
    print(header())
    rows: dict[str, Figures] = {}
    for carrier in ("tcp", "grpc"):
        for fig in await ceiling(carrier, calls if carrier == "tcp" else calls // 2):
            rows[fig.label] = fig
            print(fig.row())
    size = 8 if quick else 16
    figures = await ring_gets(size, 200 if quick else 1000, calls // 2 if quick else 3000)
    for fig in figures:
        rows[fig.label.split(" ", 1)[1]] = fig
        print(fig.row())
    for mode in ("seq", "c32"):
        tcp, grpc = rows[f"tcp ceiling {mode}"], rows[f"grpc ceiling {mode}"]
        cached, routed = rows[f"cached-route get {mode}"], rows[f"routed get {mode}"]
        share = cached.rate / tcp.rate
        print(
            f"  {mode}: tcp / grpc ceiling {ratio(tcp.rate, grpc.rate)}; cached get = {share:.0%} of the tcp "
            f"ceiling (target ≥ 50%: {'met' if share >= 0.5 else 'NOT met'}); cached / routed get "
            f"{ratio(cached.rate, routed.rate)}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke test: fewer calls, a smaller ring")
    run(main(parser.parse_args().quick))
