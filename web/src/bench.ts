// Offline benchmark mode (`?bench=N`): a synthetic ring of N nodes with fingers, key load,
// a few crashed/joining nodes and a steady stream of lookup paths, rendered every frame.
// Measures the renderer alone (no conductor): the page shows its fps, and
// window.chordial.renderer.stats has fps and the mean draw time per frame.

import { successorOf } from "./geometry";
import { reduce } from "./reducer";
import type { Store } from "./store";
import type { EventView, NodeView } from "./types";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function syntheticRing(n: number, seed = 1): NodeView[] {
  const rand = rng(seed);
  const bits = 32;
  const ids = new Set<number>();
  while (ids.size < n) ids.add(Math.floor(rand() * 2 ** bits));
  const sorted = [...ids].sort((a, b) => a - b);
  const succ = (key: number) => successorOf(sorted, key) ?? sorted[0];
  return sorted.map((id, i) => {
    const fingers: { index: number; node: string }[] = [];
    let last = -1;
    for (let f = 0; f < bits; f++) {
      const target = succ((id + 2 ** f) % 2 ** bits);
      if (target !== last) fingers.push({ index: f, node: String(target) });
      last = target;
    }
    const r = rand();
    return {
      id: String(id),
      pos: id / 2 ** bits,
      address: `sim:${i}`,
      state: r < 0.01 ? "crashed" : r < 0.02 ? "joining" : "live",
      predecessor: String(sorted[(i - 1 + n) % n]),
      successors: [1, 2, 3, 4].map((k) => String(sorted[(i + k) % n])),
      fingers: n > 2000 ? null : fingers,
      keys: Math.floor(-Math.log(1 - rand()) * 10),
      replicas: 0,
    };
  });
}

export function startBench(store: Store, n: number): void {
  const nodes = syntheticRing(n);
  store.setUi({ conn: "closed" });
  store.updateChord((s) =>
    reduce(s, {
      type: "snapshot",
      v: 1,
      seq: 1,
      time: 0,
      world: "virtual",
      status: "running",
      speed: 1,
      params: null as unknown as never,
      id_bits: 32,
      detail: n <= 2000,
      nodes,
    }),
  );
  const rand = rng(7);
  const byIndex = nodes.map((x) => x.id);
  let seq = 1;
  // 20 deltas a second, each with a few lookups and a changed node, like a busy conductor.
  setInterval(() => {
    seq += 1;
    const events: EventView[] = [];
    for (let e = 0; e < 3; e++) {
      const start = Math.floor(rand() * n);
      const hops = 1 + Math.floor(rand() * Math.log2(n));
      const path = [byIndex[start]];
      let at = start;
      for (let h = 0; h < hops; h++) {
        at = (at + Math.max(1, Math.floor((n / 2 ** (h + 1)) * rand()))) % n;
        path.push(byIndex[at]);
      }
      events.push({ kind: "lookup_completed", time: seq / 20, node: path[0], nodes: path, text: `lookup (${hops} hops)`, path, hops, key: `k${seq}`, key_id: null, key_pos: null, count: null });
    }
    const changed = nodes[Math.floor(rand() * n)];
    const upsert = { ...changed, keys: changed.keys + 1 };
    store.updateChord((s) => reduce(s, { type: "delta", v: 1, seq, time: seq / 20, upserts: [upsert], removed: [], events, dropped: 0 }));
  }, 50);
}
