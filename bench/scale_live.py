"""A live ring of 1,000 nodes in one process: how long until it is right, and what each node costs.

Starts N real nodes (TCP carrier, one transport shared by every node of the process, so
outgoing connections are shared per peer; ports below 32768; the file limit raised; uvloop
when installed) with stabilize every 1 s. Nodes join in waves, each wave up to four times the
ring so far (``--growth``), all of a wave at once through random members, and the next wave
starts when the ring is right again: a join finds its successor by a lookup, which is only exact
in a right ring (Zave), and a joiner given a successor far round the ring walks back to the right
one (up to 8 closer successors per stabilize round). Then it measures:

* the time from the last join until every node's successor and predecessor are right, and
  until every successor list is right (r = 4);
* the CPU the process spends per node per second of maintenance once the ring is right, and
  the resident memory per node.

    uv run python bench/scale_live.py [--quick] [--nodes 1000]

Target (issue 6): the ring correct within 60 s of the last join.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import time

from common import stop_ring

from chordial.core import ChordConfig
from chordial.runtime import NodeRuntime, start_node
from chordial.runtime.process import free_port, raise_fd_limit, run, uvloop_available
from chordial.transport.tcp import TcpTransport

CONFIG = ChordConfig(stabilize_period=1.0, fix_fingers_period=1.0, check_predecessor_period=1.0, repair_period=10.0)


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def wrong_nodes(nodes: list[NodeRuntime], full_lists: bool) -> int:
    """How many nodes have a wrong successor or predecessor (or successor list)."""
    live = [n.node for n in nodes if n.node.status == "active"]
    ids = sorted(node.id for node in live)
    size = len(ids)
    index = {node_id: i for i, node_id in enumerate(ids)}
    r = min(CONFIG.successors, size - 1)
    wrong = 0
    for node in live:
        i = index[node.id]
        pred = node.predecessor
        if node.awaiting_handoff or pred is None or pred.id != ids[i - 1]:
            wrong += 1
        elif full_lists:
            if [s.id for s in node.successors[:r]] != [ids[(i + k) % size] for k in range(1, r + 1)]:
                wrong += 1
        elif node.successor.id != ids[(i + 1) % size]:
            wrong += 1
    return wrong


async def until_right(nodes: list[NodeRuntime], limit: float) -> None:
    deadline = time.monotonic() + limit
    while wrong_nodes(nodes, full_lists=True) and time.monotonic() < deadline:
        await asyncio.sleep(0.25)


async def main(count: int, limit: float, growth: float) -> None:
    fds = raise_fd_limit()
    loop = "uvloop" if uvloop_available() else "asyncio"
    print(
        f"{count} live nodes in one process, tcp, {loop}, stabilize {CONFIG.stabilize_period:g} s, fix_fingers "
        f"{CONFIG.fix_fingers_period:g} s, check_predecessor {CONFIG.check_predecessor_period:g} s, "
        f"r = {CONFIG.successors}, waves of {growth:.0%} of the ring, open-file limit {fds}"
    )
    shared = TcpTransport()
    rng = random.Random(1000)
    rss0, cpu0, wall0 = rss_bytes(), time.process_time(), time.monotonic()
    nodes: list[NodeRuntime] = []
    try:
        nodes.append(await start_node(shared, f"127.0.0.1:{free_port()}", config=CONFIG, seed=0))
        failed_joins = 0
        while len(nodes) < count:
            wave = min(count - len(nodes), max(1, int(len(nodes) * growth)))
            vias = [rng.choice(nodes).address for _ in range(wave)]
            ports = [free_port() for _ in range(wave)]
            started = await asyncio.gather(
                *(
                    start_node(shared, f"127.0.0.1:{port}", join=via, config=CONFIG, seed=len(nodes) + i)
                    for i, (port, via) in enumerate(zip(ports, vias, strict=True))
                ),
                return_exceptions=True,
            )
            for result in started:
                if isinstance(result, NodeRuntime):
                    nodes.append(result)
                else:
                    failed_joins += 1
            last_join = time.monotonic()
            if len(nodes) < count:
                await until_right(nodes, limit)
            print(f"  {len(nodes)} nodes after {time.monotonic() - wall0:.1f} s (wave of {wave})")
        join_cpu = time.process_time() - cpu0
        print(
            f"  all {count} joined in {last_join - wall0:.1f} s ({failed_joins} failed join(s) retried in later "
            f"waves), {join_cpu:.1f} CPU-s"
        )
        successors_right: float | None = None
        lists_right: float | None = None
        next_report = last_join + 5
        while time.monotonic() - last_join < limit:
            if time.monotonic() >= next_report:
                next_report += 5
                print(
                    f"  {time.monotonic() - last_join:.0f} s after the last join: {wrong_nodes(nodes, False)} node(s) "
                    f"with a wrong successor or predecessor, {wrong_nodes(nodes, True)} with a wrong list"
                )
            if successors_right is None and wrong_nodes(nodes, full_lists=False) == 0:
                successors_right = time.monotonic() - last_join
                print(f"  every successor and predecessor right {successors_right:.1f} s after the last join")
            if successors_right is not None and wrong_nodes(nodes, full_lists=True) == 0:
                lists_right = time.monotonic() - last_join
                print(f"  every successor list right {lists_right:.1f} s after the last join")
                break
            await asyncio.sleep(0.25)
        if successors_right is None:
            print(f"  NOT right within {limit:g} s: {wrong_nodes(nodes, False)} node(s) with a wrong neighbour")
        window = 10.0
        cpu1, wall1 = time.process_time(), time.monotonic()
        await asyncio.sleep(window)
        cpu_share = (time.process_time() - cpu1) / (time.monotonic() - wall1)
        rss = rss_bytes()
        max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(
            f"  steady maintenance: {cpu_share:.2f} CPU cores for {count} nodes = "
            f"{cpu_share / count * 1e3:.2f} ms CPU per node per second"
        )
        print(
            f"  memory: {(rss - rss0) / count / 1024:.0f} KiB resident per node ({rss / 2**20:.0f} MiB in all, "
            f"peak {max_rss / 2**20:.0f} MiB)"
        )
        verdict = "met" if successors_right is not None and successors_right <= 60 else "NOT met"
        print(f"  target: ring right within 60 s of the last join: {verdict}")
    finally:
        await stop_ring(nodes, [shared])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke test: 30 nodes")
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--growth", type=float, default=4.0, help="size of a wave of joins, against the ring")
    parser.add_argument("--limit", type=float, default=180.0, help="give up after this many seconds")
    args = parser.parse_args()
    run(main(30 if args.quick else args.nodes, args.limit, args.growth))
