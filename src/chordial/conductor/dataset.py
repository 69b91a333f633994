"""Datasets a conductor workload draws keys from: built-in records, generated keys, uploads.

The built-in set is a few dozen short text records written for Chordial (facts about Chord and
distributed systems, and a few everyday things), so a first simulation stores something a
person can read in the node inspector rather than ``key-000042``.
"""

from __future__ import annotations

from chordial.sim.models import Dataset, DatasetError

__all__ = ["BUILTIN_RECORDS", "MAX_UPLOAD_BYTES", "builtin", "from_upload"]

MAX_UPLOAD_BYTES = 8 * 1024 * 1024

BUILTIN_RECORDS: tuple[tuple[str, str], ...] = (
    ("chord", "A ring of 2^m ids where every key lives on its successor node."),
    ("successor", "The first node clockwise from an id; it owns every key up to its own id."),
    ("predecessor", "The node just before you on the ring; rectify changes it, check_predecessor clears it."),
    ("finger", "Finger k of node n points at successor(n + 2^k): half the remaining distance per hop."),
    ("stabilize", "Ask your successor for its predecessor and successor list; adopt a closer one."),
    ("rectify", "Zave's replacement for notify: adopt a new predecessor only after the old one is dead."),
    ("successor-list", "r successors kept in order, so a crash of fewer than r neighbours is survivable."),
    ("lookup", "Follow fingers to the closest preceding node until the key's predecessor names its owner."),
    ("hops", "About half of log2(N) fingers to the predecessor, plus one hop to the owner."),
    ("consistent-hashing", "Adding or removing a node moves only the keys next to it (Karger et al., 1997)."),
    ("sha-1", "Chord hashes node addresses and keys with SHA-1 into the same id space."),
    ("zave", "Pamela Zave showed in 2012-2015 that no published Chord kept its invariants, and fixed it."),
    ("invariant:at-least-one-ring", "Following successors from any live node reaches a cycle of live nodes."),
    ("invariant:no-loops", "No cycle of successors wraps around the ring more than once."),
    ("invariant:ordered-ring", "On the ring's cycle, ids increase clockwise."),
    ("replication", "Each key is copied on the next k - 1 successors of its owner."),
    ("chain-replication", "Writes enter at the head, flow down the chain, and are acknowledged from its end."),
    ("eventual", "The owner acknowledges at once and pushes the write to its replicas later."),
    ("tombstone", "A delete leaves a versioned marker so an older copy cannot bring the key back."),
    ("anti-entropy", "Replicas compare what they hold and copy what is missing, every repair period."),
    ("churn", "Nodes joining, leaving and crashing while the ring keeps serving lookups."),
    ("crash", "A fail-stop node answers nothing; its neighbours find out by timeouts."),
    ("graceful-leave", "A leaving node hands its keys to its successor and tells its neighbours."),
    ("zipf", "A few keys are read far more than the rest: P(rank k) is proportional to 1/k^s."),
    ("virtual-time", "The simulator's clock jumps from event to event, so an hour can pass in a second."),
    ("grpc", "Live nodes talk protocol buffers over HTTP/2 on 127.0.0.1."),
    ("paper:chord", "Stoica, Morris, Karger, Kaashoek, Balakrishnan: Chord, SIGCOMM 2001."),
    ("paper:zave", "Pamela Zave: Reasoning about identifier spaces: how to make Chord correct, 2017."),
    ("paper:chain", "van Renesse and Schneider: Chain replication for supporting high throughput, OSDI 2004."),
    ("paper:kademlia", "Maymounkov and Mazieres: Kademlia, a peer-to-peer system based on the XOR metric, 2002."),
    ("paper:dynamo", "DeCandia et al.: Dynamo, Amazon's highly available key-value store, SOSP 2007."),
    ("fruit:apple", "red, green or yellow; keeps the doctor away"),
    ("fruit:banana", "yellow, curved, rich in potassium"),
    ("fruit:cherry", "small, red, with a stone"),
    ("fruit:fig", "sweet, purple or green, many tiny seeds"),
    ("fruit:lemon", "sour, yellow, good with tea"),
    ("fruit:mango", "orange flesh around one large flat stone"),
    ("fruit:pear", "shaped like a bell, soft when ripe"),
    ("colour:blue", "the sky on a clear day"),
    ("colour:green", "grass in spring"),
    ("colour:orange", "a fruit and a colour of the same name"),
    ("colour:violet", "the shortest wavelength we see"),
    ("city:lisbon", "capital of Portugal, on the Tagus estuary"),
    ("city:nairobi", "capital of Kenya, at 1,795 m"),
    ("city:oslo", "capital of Norway, at the head of its fjord"),
    ("city:quito", "capital of Ecuador, close to the equator"),
    ("city:seoul", "capital of South Korea, on the Han river"),
    ("city:montevideo", "capital of Uruguay, on the Rio de la Plata"),
    ("planet:mercury", "closest to the Sun; a year of 88 days"),
    ("planet:venus", "hottest planet, under thick clouds"),
    ("planet:earth", "third from the Sun; the only one known with life"),
    ("planet:mars", "red from iron oxide; two small moons"),
    ("planet:jupiter", "largest planet; the Great Red Spot"),
    ("planet:saturn", "rings of ice and rock"),
    ("planet:uranus", "rolls around the Sun on its side"),
    ("planet:neptune", "strongest winds in the solar system"),
    ("proverb:patience", "Slow and steady wins the race."),
    ("proverb:haste", "More haste, less speed."),
    ("proverb:eggs", "Don't put all your eggs in one basket: replicate."),
    ("proverb:rome", "Rome was not built in a day, nor is a converged ring."),
    ("unit:millisecond", "a thousandth of a second; a loopback gRPC call costs about one"),
    ("unit:hop", "one RPC to another node; the final hop to the owner counts"),
    ("hello", "world"),
    ("answer", "42"),
)


def builtin() -> Dataset:
    """The built-in records as a dataset (ranked in the order written: the first is most popular)."""
    return Dataset(
        tuple(k for k, _ in BUILTIN_RECORDS), tuple(v.encode("utf-8") for _, v in BUILTIN_RECORDS), "builtin"
    )


def from_upload(name: str, data: bytes) -> Dataset:
    """An uploaded file in the simulator's dataset format (see :meth:`Dataset.from_file`):
    one record a line, JSON objects with ``key``/``value`` or plain text lines.

    Raises :class:`DatasetError` with a reason meant for people.
    """
    import tempfile
    from pathlib import Path

    if len(data) > MAX_UPLOAD_BYTES:
        raise DatasetError(f"{name} is {len(data)} bytes; uploads are limited to {MAX_UPLOAD_BYTES} bytes")
    with tempfile.TemporaryDirectory(prefix="chordial-upload-") as folder:
        path = Path(folder) / "dataset.txt"
        path.write_bytes(data)
        try:
            loaded = Dataset.from_file(path)
        except DatasetError as exc:
            raise DatasetError(str(exc).replace(str(path), name)) from None
    return Dataset(loaded.keys, loaded.values, f"uploaded:{name}")
