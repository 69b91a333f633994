// The stream reducer: snapshot + deltas + stats + status messages → the client's state.
// Pure: (state, message) → new state; the previous state is never mutated, so React and the
// renderer can compare by reference. Bounded: the event log, the path queue and the chart
// series keep a fixed number of entries however long the simulation runs.

import type { DeltaMsg, EventView, Id, NodeView, Params, ServerMsg, SimStatus, StatsMsg, World } from "./types";

export const MAX_EVENTS = 2000;
export const MAX_PATHS = 64;
export const MAX_STATS = 1800;

export interface LogEntry extends EventView {
  /** Serial number in arrival order (stable React key, highlight reference). */
  n: number;
}

export interface PathEntry {
  n: number;
  path: Id[];
  keyPos: number | null;
  time: number;
  ok: boolean;
  /** "event" for lookups from the stream, "user" for the key box's answers. */
  source: "event" | "user";
  label: string;
}

/** Charts' columns: one array per series, all the same length, time first. */
export interface StatsSeries {
  time: number[];
  ops: Point[];
  lookups: Point[];
  hopsMean: Point[];
  hopsP99: Point[];
  latencyMean: Point[];
  failures: Point[];
  timeouts: Point[];
  staleReads: Point[];
  keysMin: Point[];
  keysMean: Point[];
  keysP99: Point[];
  keysMax: Point[];
  nodes: Point[];
}

/** A chart value; null where the server had none (no lookups in that interval): a gap. */
export type Point = number | null;

export interface ChordState {
  connected: boolean;
  hasSnapshot: boolean;
  seq: number;
  time: number;
  world: World;
  status: SimStatus;
  speed: number | string;
  params: Params | null;
  idBits: number;
  detail: boolean;
  nodes: ReadonlyMap<Id, NodeView>;
  /** Grows whenever `nodes` changes (the renderer rebuilds its arrays then). */
  nodesVersion: number;
  /** Grows when nodes are added or removed (or a snapshot arrives), not when they only change. */
  membership: number;
  /** Ids upserted by the delta that made `nodesVersion` (the renderer patches just those). */
  changed: readonly Id[];
  events: readonly LogEntry[];
  eventSerial: number;
  dropped: number;
  paths: readonly PathEntry[];
  pathSerial: number;
  stats: StatsSeries;
  lastStats: StatsMsg | null;
  /** A delta arrived whose seq did not follow ours: the view may be stale until the next snapshot. */
  gaps: number;
  lastError: string | null;
}

export function emptySeries(): StatsSeries {
  return {
    time: [],
    ops: [],
    lookups: [],
    hopsMean: [],
    hopsP99: [],
    latencyMean: [],
    failures: [],
    timeouts: [],
    staleReads: [],
    keysMin: [],
    keysMean: [],
    keysP99: [],
    keysMax: [],
    nodes: [],
  };
}

export function initialState(): ChordState {
  return {
    connected: false,
    hasSnapshot: false,
    seq: 0,
    time: 0,
    world: "virtual",
    status: "idle",
    speed: 1,
    params: null,
    idBits: 160,
    detail: true,
    nodes: new Map(),
    nodesVersion: 0,
    membership: 0,
    changed: [],
    events: [],
    eventSerial: 0,
    dropped: 0,
    paths: [],
    pathSerial: 0,
    stats: emptySeries(),
    lastStats: null,
    gaps: 0,
    lastError: null,
  };
}

function capTail<T>(items: readonly T[], extra: readonly T[], cap: number): T[] {
  const all = items.length + extra.length;
  if (all <= cap) return [...items, ...extra];
  const fromOld = Math.max(0, cap - extra.length);
  return [...items.slice(items.length - fromOld), ...extra.slice(Math.max(0, extra.length - cap))];
}

function pathOf(ev: EventView): Id[] | null {
  return Array.isArray(ev.path) && ev.path.length > 0 ? ev.path : null;
}

function applyDelta(state: ChordState, msg: DeltaMsg): ChordState {
  if (state.hasSnapshot && msg.seq <= state.seq) return state; // duplicate or old
  const gap = state.hasSnapshot && msg.seq !== state.seq + 1 ? 1 : 0;
  let nodes = state.nodes;
  let nodesVersion = state.nodesVersion;
  let membership = state.membership;
  let changed = state.changed;
  if (msg.upserts.length > 0 || msg.removed.length > 0) {
    const next = new Map(state.nodes);
    let joined = false;
    for (const node of msg.upserts) {
      if (!joined && !next.has(node.id)) joined = true;
      next.set(node.id, node);
    }
    let gone = false;
    for (const id of msg.removed) gone = next.delete(id) || gone;
    nodes = next;
    nodesVersion += 1;
    if (joined || gone) membership += 1;
    changed = msg.upserts.map((n) => n.id);
  }
  let events = state.events;
  let eventSerial = state.eventSerial;
  let paths = state.paths;
  let pathSerial = state.pathSerial;
  if (msg.events.length > 0) {
    const entries: LogEntry[] = [];
    const newPaths: PathEntry[] = [];
    for (const ev of msg.events) {
      eventSerial += 1;
      entries.push({ ...ev, n: eventSerial });
      const path = pathOf(ev);
      if (path && (ev.kind === "lookup_completed" || ev.kind === "lookup_failed")) {
        pathSerial += 1;
        newPaths.push({
          n: pathSerial,
          path,
          keyPos: typeof ev.key_pos === "number" ? ev.key_pos : null,
          time: ev.time,
          ok: ev.kind === "lookup_completed",
          source: "event",
          label: ev.key ?? "",
        });
      }
    }
    events = capTail(state.events, entries, MAX_EVENTS);
    if (newPaths.length > 0) paths = capTail(state.paths, newPaths, MAX_PATHS);
  }
  return {
    ...state,
    seq: msg.seq,
    time: msg.time,
    nodes,
    nodesVersion,
    membership,
    changed,
    events,
    eventSerial,
    paths,
    pathSerial,
    dropped: state.dropped + (msg.dropped ?? 0),
    gaps: state.gaps + gap,
  };
}

function pushStats(series: StatsSeries, s: StatsMsg): StatsSeries {
  const cols: [keyof StatsSeries, number | null][] = [
    ["time", s.time],
    ["ops", s.ops_per_s],
    ["lookups", s.lookups_per_s],
    ["hopsMean", s.hops_mean],
    ["hopsP99", s.hops_p99],
    ["latencyMean", s.latency_ms_mean],
    ["failures", s.failures],
    ["timeouts", s.timeouts],
    ["staleReads", s.stale_reads],
    ["keysMin", s.keys_per_node.min],
    ["keysMean", s.keys_per_node.mean],
    ["keysP99", s.keys_per_node.p99],
    ["keysMax", s.keys_per_node.max],
    ["nodes", s.node_count],
  ];
  // Time going backwards means a new simulation: start the series afresh.
  const last = series.time.length > 0 ? series.time[series.time.length - 1] : -Infinity;
  const restart = s.time < last;
  const out = emptySeries();
  for (const [name, value] of cols) {
    const prev: Point[] = restart ? [] : series[name];
    const start = prev.length >= MAX_STATS ? prev.length - MAX_STATS + 1 : 0;
    const col = prev.slice(start);
    col.push(value !== null && Number.isFinite(value) ? value : null);
    (out as unknown as Record<string, Point[]>)[name] = col;
  }
  return out;
}

/** Apply one server message. Results and errors of commands are the caller's business. */
export function reduce(state: ChordState, msg: ServerMsg): ChordState {
  switch (msg.type) {
    case "snapshot": {
      const nodes = new Map<Id, NodeView>();
      for (const node of msg.nodes) nodes.set(node.id, node);
      const newRun = state.hasSnapshot && msg.time < state.time;
      return {
        ...state,
        hasSnapshot: true,
        seq: msg.seq,
        time: msg.time,
        world: msg.world,
        status: msg.status,
        speed: msg.speed,
        params: msg.params,
        idBits: msg.id_bits,
        detail: msg.detail,
        nodes,
        nodesVersion: state.nodesVersion + 1,
        membership: state.membership + 1,
        changed: [],
        paths: newRun ? [] : state.paths,
        stats: newRun ? emptySeries() : state.stats,
      };
    }
    case "delta":
      return applyDelta(state, msg);
    case "stats":
      return { ...state, lastStats: msg, stats: pushStats(state.stats, msg) };
    case "status":
      return { ...state, status: msg.status, time: msg.time, speed: msg.speed, world: msg.world };
    case "error":
      return { ...state, lastError: msg.message };
    case "result":
      return state;
    default:
      return state;
  }
}

export function setConnected(state: ChordState, connected: boolean): ChordState {
  return connected === state.connected ? state : { ...state, connected };
}

/** Queue a path the user asked for (put/get in the key box): drawn with priority. */
export function addUserPath(state: ChordState, path: Id[], keyPos: number | null, label: string, ok = true): ChordState {
  const n = state.pathSerial + 1;
  const entry: PathEntry = { n, path, keyPos, time: state.time, ok, source: "user", label };
  return { ...state, pathSerial: n, paths: capTail(state.paths, [entry], MAX_PATHS) };
}

/** Nodes sorted by ring position (what the renderer and hit testing index by). */
export function sortedNodes(nodes: ReadonlyMap<Id, NodeView>): NodeView[] {
  return [...nodes.values()].sort((a, b) => a.pos - b.pos);
}

/** Filter of the activity log: by kind and by a free-text match on text, key or node ids. */
export function filterEvents(events: readonly LogEntry[], kinds: ReadonlySet<string> | null, text: string): LogEntry[] {
  const needle = text.trim().toLowerCase();
  return events.filter((e) => {
    if (kinds && !kinds.has(e.kind)) return false;
    if (!needle) return true;
    return (
      e.text.toLowerCase().includes(needle) ||
      e.kind.includes(needle) ||
      (e.key ?? "").toLowerCase().includes(needle) ||
      (e.nodes ?? []).some((id) => id.includes(needle))
    );
  });
}

/** Parse one websocket frame; anything that is not a protocol object gives null. */
export function parseMessage(raw: string): ServerMsg | null {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const t = (value as { type?: unknown }).type;
  if (t === "snapshot" || t === "delta" || t === "stats" || t === "status" || t === "result" || t === "error") {
    const msg = value as ServerMsg;
    if (msg.type === "delta") {
      msg.upserts ??= [];
      msg.removed ??= [];
      msg.events ??= [];
    }
    return msg;
  }
  return null;
}

/** Columns of GET /api/report/stats.csv that feed the charts (the conductor's CSV_COLUMNS). */
const CSV_TO_SERIES: [string, keyof StatsSeries][] = [
  ["time", "time"],
  ["ops_per_s", "ops"],
  ["lookups_per_s", "lookups"],
  ["hops_mean", "hopsMean"],
  ["hops_p99", "hopsP99"],
  ["latency_ms_mean", "latencyMean"],
  ["failures", "failures"],
  ["timeouts", "timeouts"],
  ["stale_reads", "staleReads"],
  ["keys_min", "keysMin"],
  ["keys_mean", "keysMean"],
  ["keys_p99", "keysP99"],
  ["keys_max", "keysMax"],
  ["node_count", "nodes"],
];

/** The run's statistics so far, from the conductor's CSV report (empty cells: gaps). */
export function seriesFromCsv(text: string): StatsSeries {
  const out = emptySeries();
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  if (lines.length < 2) return out;
  const header = lines[0].split(",");
  const at = CSV_TO_SERIES.map(([col]) => header.indexOf(col));
  if (at[0] < 0) return out;
  for (const line of lines.slice(1)) {
    const cells = line.split(",");
    const t = Number(cells[at[0]]);
    if (!Number.isFinite(t)) continue;
    CSV_TO_SERIES.forEach(([, name], k) => {
      const cell = at[k] >= 0 ? cells[at[k]] : "";
      const v = cell === undefined || cell === "" ? NaN : Number(cell);
      if (name === "time") out.time.push(t);
      else (out[name] as Point[]).push(Number.isFinite(v) ? v : null);
    });
  }
  return out;
}

/**
 * Put the run's earlier statistics (from the CSV report) in front of what the stream brought
 * since the page connected, so the charts start at the beginning of the run.
 */
export function prefillStats(state: ChordState, history: StatsSeries): ChordState {
  const firstLive = state.stats.time.length > 0 ? state.stats.time[0] : Infinity;
  const keep = history.time.findIndex((t) => t >= firstLive || t > state.time);
  const upTo = keep < 0 ? history.time.length : keep;
  if (upTo === 0) return state;
  const out = emptySeries();
  for (const name of Object.keys(out) as (keyof StatsSeries)[]) {
    const merged = [...(history[name] as Point[]).slice(0, upTo), ...(state.stats[name] as Point[])];
    (out as unknown as Record<string, Point[]>)[name] = merged.slice(Math.max(0, merged.length - MAX_STATS));
  }
  return { ...state, stats: out };
}
