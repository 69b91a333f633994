import { describe, expect, it } from "vitest";
import {
  addUserPath,
  emptySeries,
  filterEvents,
  initialState,
  MAX_EVENTS,
  MAX_STATS,
  parseMessage,
  prefillStats,
  reduce,
  seriesFromCsv,
  setConnected,
  sortedNodes,
} from "../src/reducer";
import type { DeltaMsg, EventView, NodeView, SnapshotMsg, StatsMsg } from "../src/types";

function node(id: number, extra: Partial<NodeView> = {}): NodeView {
  return {
    id: String(id),
    pos: id / 256,
    address: `sim:${id}`,
    state: "live",
    predecessor: null,
    successors: [],
    fingers: [],
    keys: 0,
    replicas: 0,
    ...extra,
  };
}

function ev(parts: Partial<EventView> & { kind: string }): EventView {
  return {
    time: 1,
    node: "1",
    nodes: [],
    text: parts.kind,
    path: null,
    hops: null,
    key: null,
    key_id: null,
    key_pos: null,
    count: null,
    ...parts,
  };
}

function snapshot(nodes: NodeView[], seq = 10, time = 5): SnapshotMsg {
  return {
    type: "snapshot",
    v: 1,
    seq,
    time,
    world: "virtual",
    status: "running",
    speed: 1,
    params: { nodes: nodes.length } as unknown as SnapshotMsg["params"],
    id_bits: 8,
    nodes,
    detail: true,
  };
}

function delta(seq: number, parts: Partial<DeltaMsg> = {}): DeltaMsg {
  return { type: "delta", v: 1, seq, time: seq, upserts: [], removed: [], events: [], dropped: 0, ...parts };
}

function stats(time: number, ops = 1): StatsMsg {
  return {
    type: "stats",
    v: 1,
    time,
    node_count: 3,
    ops_per_s: ops,
    lookups_per_s: ops,
    hops_mean: 2,
    hops_p99: 4,
    latency_ms_mean: 10,
    latency_ms_p99: 30,
    failures: 0,
    timeouts: 0,
    stale_reads: 0,
    keys_per_node: { min: 0, mean: 1, max: 3, p99: 3 },
    correctness: { successors: 1, predecessors: 1, fingers: 1 },
    invariants_ok: true,
    violations: [],
    top_keys: [],
    messages_per_s: {},
  };
}

const lookup = (path: string[], key = "apple"): EventView =>
  ev({
  kind: "lookup_completed",
  time: 1,
  node: path[0],
  nodes: path,
  text: `lookup ${key}`,
  path,
  hops: path.length - 1,
  key,
  key_pos: 0.5,
  });

describe("snapshot", () => {
  it("replaces the state", () => {
    const s = reduce(initialState(), snapshot([node(1), node(200), node(90)]));
    expect(s.hasSnapshot).toBe(true);
    expect(s.nodes.size).toBe(3);
    expect(s.idBits).toBe(8);
    expect(s.status).toBe("running");
    expect(sortedNodes(s.nodes).map((n) => n.id)).toEqual(["1", "90", "200"]);
  });

  it("does not mutate the previous state", () => {
    const s0 = initialState();
    const s1 = reduce(s0, snapshot([node(1)]));
    expect(s0.nodes.size).toBe(0);
    expect(s1).not.toBe(s0);
  });
});

describe("delta", () => {
  const base = reduce(initialState(), snapshot([node(1), node(2), node(3)]));

  it("upserts and removes nodes", () => {
    const s = reduce(base, delta(11, { upserts: [node(2, { state: "crashed" }), node(4)], removed: ["1"] }));
    expect([...s.nodes.keys()].sort()).toEqual(["2", "3", "4"]);
    expect(s.nodes.get("2")?.state).toBe("crashed");
    expect(s.nodesVersion).toBe(base.nodesVersion + 1);
    expect(base.nodes.get("2")?.state).toBe("live");
    expect(s.seq).toBe(11);
  });

  it("tells membership changes from node changes", () => {
    const changedOnly = reduce(base, delta(11, { upserts: [node(2, { keys: 5 })] }));
    expect(changedOnly.membership).toBe(base.membership);
    expect(changedOnly.changed).toEqual(["2"]);
    const joined = reduce(changedOnly, delta(12, { upserts: [node(9)] }));
    expect(joined.membership).toBe(base.membership + 1);
    const left = reduce(joined, delta(13, { removed: ["9"] }));
    expect(left.membership).toBe(base.membership + 2);
    expect(left.changed).toEqual([]);
    const unknown = reduce(left, delta(14, { removed: ["404"] }));
    expect(unknown.membership).toBe(left.membership);
  });

  it("keeps the node map when only events arrive", () => {
    const s = reduce(base, delta(11, { events: [ev({ kind: "joined", time: 1, text: "x" })] }));
    expect(s.nodes).toBe(base.nodes);
    expect(s.events).toHaveLength(1);
    expect(s.events[0].n).toBe(1);
  });

  it("ignores old and duplicate deltas, counts gaps", () => {
    const s = reduce(base, delta(10, { removed: ["1"] }));
    expect(s).toBe(base);
    const g = reduce(base, delta(14));
    expect(g.gaps).toBe(1);
    expect(g.seq).toBe(14);
  });

  it("queues lookup paths from events", () => {
    const s = reduce(base, delta(11, { events: [lookup(["1", "2", "3"]), ev({ kind: "joined", time: 1, text: "j" })] }));
    expect(s.paths).toHaveLength(1);
    expect(s.paths[0]).toMatchObject({ path: ["1", "2", "3"], keyPos: 0.5, source: "event", ok: true });
  });

  it("bounds the event log and counts dropped events", () => {
    let s = base;
    for (let i = 0; i < 30; i++) {
      const events = Array.from({ length: 100 }, (_, k) => ev({ kind: "joined", time: i, text: `e${i}.${k}` }));
      s = reduce(s, delta(11 + i, { events, dropped: 2 }));
    }
    expect(s.events).toHaveLength(MAX_EVENTS);
    expect(s.events[s.events.length - 1].text).toBe("e29.99");
    expect(s.eventSerial).toBe(3000);
    expect(s.dropped).toBe(60);
  });
});

describe("stats, status and the rest", () => {
  it("appends stats columns and bounds them", () => {
    let s = initialState();
    for (let t = 0; t < MAX_STATS + 5; t++) s = reduce(s, stats(t, t));
    expect(s.stats.time).toHaveLength(MAX_STATS);
    expect(s.stats.ops[s.stats.ops.length - 1]).toBe(MAX_STATS + 4);
    expect(s.stats.keysMax.every((v) => v === 3)).toBe(true);
    expect(s.lastStats?.time).toBe(MAX_STATS + 4);
  });

  it("restarts the series when time goes back", () => {
    let s = reduce(initialState(), stats(5));
    s = reduce(s, stats(6));
    s = reduce(s, stats(1));
    expect(s.stats.time).toEqual([1]);
  });

  it("tracks status, errors and connection", () => {
    let s = reduce(initialState(), { type: "status", v: 1, status: "paused", time: 3, speed: 2, world: "virtual" });
    expect(s.status).toBe("paused");
    s = reduce(s, { type: "error", v: 1, message: "bad", request_id: null });
    expect(s.lastError).toBe("bad");
    expect(setConnected(s, true).connected).toBe(true);
    expect(setConnected(s, false)).toBe(s);
  });

  it("adds the key box's paths", () => {
    const s = addUserPath(initialState(), ["1", "2"], 0.3, "get apple");
    expect(s.paths[0]).toMatchObject({ source: "user", path: ["1", "2"], label: "get apple" });
  });

  it("filters the log by kind and text", () => {
    const s = reduce(
      reduce(initialState(), snapshot([node(1)])),
      delta(11, {
        events: [
          lookup(["1", "77"], "pear"),
          ev({ kind: "crashed", time: 2, node: "77", nodes: ["77"], text: "node 77 crashed" }),
          ev({ kind: "joined", time: 3, node: "5", nodes: ["5"], text: "node 5 joined" }),
        ],
      }),
    );
    expect(filterEvents(s.events, null, "").length).toBe(3);
    expect(filterEvents(s.events, new Set(["crashed", "joined"]), "").map((e) => e.kind)).toEqual(["crashed", "joined"]);
    expect(filterEvents(s.events, null, "77").length).toBe(2);
    expect(filterEvents(s.events, null, "PEAR").map((e) => e.kind)).toEqual(["lookup_completed"]);
  });

  it("parses frames defensively", () => {
    expect(parseMessage("not json")).toBeNull();
    expect(parseMessage("[1]")).toBeNull();
    expect(parseMessage('{"type":"nope"}')).toBeNull();
    const d = parseMessage('{"type":"delta","v":1,"seq":3,"time":0}');
    expect(d?.type).toBe("delta");
    if (d?.type === "delta") expect(d.upserts).toEqual([]);
  });
});

describe("statistics history", () => {
  const csv = [
    "time,node_count,ops_per_s,lookups_per_s,hops_mean,hops_p99,latency_ms_mean,latency_ms_p99,failures,timeouts,stale_reads,keys_min,keys_mean,keys_max,keys_p99,correct_successors,correct_predecessors,correct_fingers,invariants_ok,messages_per_s",
    "1.0,64,5.0,60.0,3.5,6,200.1,300,0,0,0,0,1.0,4,4,1.0,1.0,1.0,True,300",
    "2.0,64,4.0,61.0,,,,,0,1,0,0,1.0,4,4,1.0,1.0,1.0,True,310",
    "3.0,64,6.0,62.0,3.0,5,190.0,280,1,1,0,0,1.0,4,4,1.0,1.0,1.0,True,320",
    "",
  ].join("\n");

  it("reads the conductor's CSV report", () => {
    const s = seriesFromCsv(csv);
    expect(s.time).toEqual([1, 2, 3]);
    expect(s.ops).toEqual([5, 4, 6]);
    expect(s.hopsMean).toEqual([3.5, null, 3]);
    expect(s.keysMax).toEqual([4, 4, 4]);
    expect(s.nodes).toEqual([64, 64, 64]);
    expect(seriesFromCsv("").time).toEqual([]);
    expect(seriesFromCsv("a,b\n1,2").time).toEqual([]);
  });

  it("puts the history in front of the streamed points, without overlap", () => {
    let state = reduce(initialState(), snapshot([node(1)], 10, 3));
    state = reduce(state, stats(3, 9));
    const merged = prefillStats(state, seriesFromCsv(csv));
    expect(merged.stats.time).toEqual([1, 2, 3]);
    expect(merged.stats.ops).toEqual([5, 4, 9]); // the streamed point wins at t = 3
    expect(prefillStats(merged, emptySeries())).toBe(merged);
  });

  it("ignores history from beyond the current time (another run)", () => {
    const state = reduce(initialState(), snapshot([node(1)], 10, 1.5));
    expect(prefillStats(state, seriesFromCsv(csv)).stats.time).toEqual([1]);
  });
});
