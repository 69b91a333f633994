// The ring view's canvas renderer. Draws from the store every animation frame when something
// changed (or an animation runs): no per-node objects are allocated per frame, successor edges
// and each node colour class are one path each, labels appear only when there is room, and
// above a few thousand nodes the ring also shows an aggregate load band.

import {
  baseScale,
  fingerIntervals,
  hitTest,
  hopControl,
  hopProgress,
  idToPos,
  nearestSlot,
  nodeRadius,
  posToXY,
  quadPoint,
  screenToWorld,
  worldToScreen,
  xyToPos,
  zoomAt,
  panBy,
  IDENTITY_VIEW,
  TAU,
  type Size,
  type View,
} from "./geometry";
import type { PathEntry } from "./reducer";
import type { Store } from "./store";
import type { Id, NodeView } from "./types";

// State classes (index into STATE_STYLE); live nodes are further split by load bucket.
const S_LIVE = 0;
const S_JOINING = 1;
const S_LEAVING = 2;
const S_CRASHED = 3;
const S_LEFT = 4;
const STATE_INDEX: Record<string, number> = { live: S_LIVE, joining: S_JOINING, leaving: S_LEAVING, crashed: S_CRASHED, left: S_LEFT };
export const STATE_COLOURS = ["#3b82f6", "#facc15", "#fb923c", "#ef4444", "#6b7280"];
/** Live nodes' fill by key load, light (few keys) to dark (many). */
export const LOAD_COLOURS = ["#93c5fd", "#60a5fa", "#3b82f6", "#2563eb", "#1e3a8a"];
const BG = "#0f172a";
const RING = "#334155";
const EDGE = "rgba(148, 163, 184, 0.55)";
const EDGE_WRONG = "rgba(244, 114, 182, 0.9)";
const FINGER = "#22d3ee";
const USER_PATH = "#f0abfc";
const EVENT_PATH = "rgba(52, 211, 153, 0.85)";
const FAILED_PATH = "rgba(248, 113, 113, 0.9)";
const MAX_EVENT_ANIMS = 6;
const AGG_BINS = 360;

interface Anim {
  entry: PathEntry;
  start: number;
  msPerHop: number;
  hold: number;
}

export interface RenderStats {
  fps: number;
  /** Mean time to draw one frame (ms, exponentially smoothed). */
  frameMs: number;
  /** Time the last node-array update took (ms). */
  rebuildMs: number;
  frames: number;
  nodes: number;
  sampledPaths: number;
}

export class RingRenderer {
  view: View = IDENTITY_VIEW;
  teaching = false;
  /** Redraw every frame (benchmarks) instead of only on change. */
  continuous = false;
  readonly stats: RenderStats = { fps: 0, frameMs: 0, rebuildMs: 0, frames: 0, nodes: 0, sampledPaths: 0 };

  private ctx: CanvasRenderingContext2D;
  private size: Size = { width: 1, height: 1 };
  private dpr = 1;
  private raf = 0;
  private lastVersion = -1;
  private lastNodesVersion = -1;
  private dirty = true;
  // Node arrays, rebuilt when the node set changes (sorted by ring position).
  private sorted: NodeView[] = [];
  private pos = new Float64Array(0);
  private xs = new Float64Array(0);
  private ys = new Float64Array(0);
  private cls = new Uint8Array(0);
  private load = new Float64Array(0);
  private succIdx = new Int32Array(0);
  private indexById = new Map<Id, number>();
  /** Node indices grouped by colour class; class c is classOrder[classStart[c] … classStart[c+1]). */
  private classOrder = new Int32Array(0);
  private classOf = new Uint8Array(0);
  private lastMembership = -1;
  private classStart = new Int32Array(LOAD_COLOURS.length + 5);
  private maxLoad = 0;
  private aggCount = new Float64Array(AGG_BINS);
  private aggLoad = new Float64Array(AGG_BINS);
  private anims: Anim[] = [];
  private lastPathSerial = 0;
  private fpsFrames = 0;
  private fpsSince = 0;
  private drag: { x: number; y: number; moved: boolean } | null = null;
  private resizeObserver: ResizeObserver | null = null;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly store: Store,
    private readonly onClickNode: (id: Id | null, slot: number | null) => void,
  ) {
    const ctx = canvas.getContext("2d", { alpha: false });
    if (!ctx) throw new Error("no 2d canvas context");
    this.ctx = ctx;
  }

  start(): void {
    this.resize();
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(this.canvas);
    const c = this.canvas;
    c.addEventListener("wheel", this.onWheel, { passive: false });
    c.addEventListener("pointerdown", this.onPointerDown);
    c.addEventListener("pointermove", this.onPointerMove);
    c.addEventListener("pointerup", this.onPointerUp);
    c.addEventListener("pointerleave", this.onPointerLeave);
    c.addEventListener("dblclick", this.onDoubleClick);
    this.fpsSince = performance.now();
    this.raf = requestAnimationFrame(this.frame);
  }

  stop(): void {
    cancelAnimationFrame(this.raf);
    this.resizeObserver?.disconnect();
    const c = this.canvas;
    c.removeEventListener("wheel", this.onWheel);
    c.removeEventListener("pointerdown", this.onPointerDown);
    c.removeEventListener("pointermove", this.onPointerMove);
    c.removeEventListener("pointerup", this.onPointerUp);
    c.removeEventListener("pointerleave", this.onPointerLeave);
    c.removeEventListener("dblclick", this.onDoubleClick);
  }

  resetView(): void {
    this.view = this.teaching ? { zoom: 0.8, panX: 0, panY: 0 } : IDENTITY_VIEW;
    this.dirty = true;
  }

  setTeaching(on: boolean): void {
    if (on !== this.teaching) this.view = { zoom: on ? 0.8 : 1, panX: 0, panY: 0 };
    this.teaching = on;
    this.dirty = true;
  }

  /** Screen point (CSS pixels, relative to the canvas) of a node, or null if unknown. */
  screenPointOf(id: Id): { x: number; y: number } | null {
    this.rebuildIfNeeded();
    const i = this.indexById.get(id);
    if (i === undefined) return null;
    return worldToScreen(this.view, this.size, this.xs[i], this.ys[i]);
  }

  /** Screen point of an id slot (teaching mode). */
  screenPointOfPos(pos: number): { x: number; y: number } {
    const p = posToXY(pos);
    return worldToScreen(this.view, this.size, p.x, p.y);
  }

  private resize(): void {
    const rect = this.canvas.getBoundingClientRect();
    this.dpr = window.devicePixelRatio || 1;
    this.size = { width: Math.max(1, rect.width), height: Math.max(1, rect.height) };
    this.canvas.width = Math.round(this.size.width * this.dpr);
    this.canvas.height = Math.round(this.size.height * this.dpr);
    this.dirty = true;
  }

  private rebuildIfNeeded(): void {
    const chord = this.store.chord;
    if (chord.nodesVersion === this.lastNodesVersion) return;
    const t0 = performance.now();
    const nodes = chord.nodes;
    if (chord.membership !== this.lastMembership || this.sorted.length !== nodes.size) {
      this.rebuildAll();
    } else if (chord.nodesVersion === this.lastNodesVersion + 1) {
      // Only the last delta's nodes changed, and none joined or left: patch them in place.
      for (const id of chord.changed) {
        const i = this.indexById.get(id);
        const node = nodes.get(id);
        if (i === undefined || node === undefined) continue;
        this.sorted[i] = node;
        this.setNode(i, node);
        const s = node.successors[0];
        this.succIdx[i] = s === undefined ? -1 : (this.indexById.get(s) ?? -1);
      }
    } else {
      // Several deltas since the last frame, same members: refresh every node, no sort.
      for (let i = 0; i < this.sorted.length; i++) {
        const node = nodes.get(this.sorted[i].id);
        if (node === undefined) continue;
        this.sorted[i] = node;
        this.setNode(i, node);
        const s = node.successors[0];
        this.succIdx[i] = s === undefined ? -1 : (this.indexById.get(s) ?? -1);
      }
    }
    this.lastNodesVersion = chord.nodesVersion;
    this.lastMembership = chord.membership;
    this.derive();
    this.stats.rebuildMs = performance.now() - t0;
  }

  private setNode(i: number, node: NodeView): void {
    const p = node.pos;
    this.pos[i] = p;
    this.xs[i] = Math.sin(p * TAU);
    this.ys[i] = -Math.cos(p * TAU);
    this.cls[i] = STATE_INDEX[node.state] ?? S_LIVE;
    this.load[i] = node.keys;
  }

  private rebuildAll(): void {
    const sorted = [...this.store.chord.nodes.values()].sort((a, b) => a.pos - b.pos);
    const n = sorted.length;
    this.sorted = sorted;
    if (this.pos.length !== n) {
      this.pos = new Float64Array(n);
      this.xs = new Float64Array(n);
      this.ys = new Float64Array(n);
      this.cls = new Uint8Array(n);
      this.load = new Float64Array(n);
      this.succIdx = new Int32Array(n);
      this.classOf = new Uint8Array(n);
      this.classOrder = new Int32Array(n);
    }
    const index = new Map<Id, number>();
    for (let i = 0; i < n; i++) {
      index.set(sorted[i].id, i);
      this.setNode(i, sorted[i]);
    }
    for (let i = 0; i < n; i++) {
      const s = sorted[i].successors[0];
      this.succIdx[i] = s === undefined ? -1 : (index.get(s) ?? -1);
    }
    this.indexById = index;
  }

  /** Load scale, colour classes (a counting sort) and the aggregate bins: O(n) over typed arrays. */
  private derive(): void {
    const n = this.sorted.length;
    let maxLoad = 0;
    for (let i = 0; i < n; i++) if (this.load[i] > maxLoad) maxLoad = this.load[i];
    this.maxLoad = maxLoad;
    const classes = LOAD_COLOURS.length + 4;
    const classOf = this.classOf;
    const counts = new Int32Array(classes + 1);
    for (let i = 0; i < n; i++) {
      const st = this.cls[i];
      const c =
        st === S_LIVE
          ? maxLoad > 0
            ? Math.min(LOAD_COLOURS.length - 1, Math.floor((this.load[i] / maxLoad) * LOAD_COLOURS.length))
            : 1
          : LOAD_COLOURS.length + st - 1;
      classOf[i] = c;
      counts[c + 1] += 1;
    }
    for (let c = 0; c < classes; c++) counts[c + 1] += counts[c];
    this.classStart = counts.slice();
    for (let i = 0; i < n; i++) this.classOrder[counts[classOf[i]]++] = i;
    this.aggCount.fill(0);
    this.aggLoad.fill(0);
    for (let i = 0; i < n; i++) {
      const b = Math.min(AGG_BINS - 1, Math.floor(this.pos[i] * AGG_BINS));
      this.aggCount[b] += 1;
      this.aggLoad[b] += this.load[i];
    }
    this.stats.nodes = n;
    this.dirty = true;
  }

  private pickNewPaths(now: number): void {
    const chord = this.store.chord;
    if (chord.pathSerial === this.lastPathSerial) return;
    let events = 0;
    for (const a of this.anims) if (a.entry.source === "event") events += 1;
    for (const entry of chord.paths) {
      if (entry.n <= this.lastPathSerial) continue;
      if (entry.source === "user") {
        // A new answer in the key box replaces the previous one's path.
        this.anims = this.anims.filter((a) => a.entry.source !== "user");
        this.anims.push({ entry, start: now, msPerHop: 450, hold: 8000 });
      } else if (events < MAX_EVENT_ANIMS) {
        events += 1;
        this.anims.push({ entry, start: now, msPerHop: 220, hold: 700 });
      } else {
        this.stats.sampledPaths += 1;
      }
    }
    this.lastPathSerial = chord.pathSerial;
  }

  private frame = (now: number): void => {
    this.raf = requestAnimationFrame(this.frame);
    this.rebuildIfNeeded();
    this.pickNewPaths(now);
    const ui = this.store.ui;
    const animating = this.anims.length > 0 || (ui.highlight.length > 0 && now < ui.highlightUntil + 50);
    if (!this.continuous && !this.dirty && !animating && this.store.version === this.lastVersion) {
      this.countFps(now, false);
      return;
    }
    this.lastVersion = this.store.version;
    this.dirty = false;
    const t0 = performance.now();
    try {
      this.draw(now);
    } catch (err) {
      // Keep the loop alive and say so once, rather than leaving a silently blank ring.
      const text = `ring renderer: ${err instanceof Error ? err.message : String(err)}`;
      if (this.store.ui.toast?.text !== text) this.store.setUi({ toast: { text, error: true, at: Date.now() } });
    }
    const dt = performance.now() - t0;
    this.stats.frameMs = this.stats.frameMs === 0 ? dt : this.stats.frameMs * 0.9 + dt * 0.1;
    this.countFps(now, true);
  };

  private countFps(now: number, drew: boolean): void {
    if (drew) {
      this.fpsFrames += 1;
      this.stats.frames += 1;
    }
    if (now - this.fpsSince >= 1000) {
      this.stats.fps = (this.fpsFrames * 1000) / (now - this.fpsSince);
      this.fpsFrames = 0;
      this.fpsSince = now;
    }
  }

  // ------------------------------------------------------------------ drawing

  private draw(now: number): void {
    const ctx = this.ctx;
    const { width, height } = this.size;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = BG;
    ctx.fillRect(0, 0, width, height);
    const k = baseScale(this.size) * this.view.zoom;
    const cx = width / 2 + this.view.panX;
    const cy = height / 2 + this.view.panY;
    const n = this.sorted.length;
    const chord = this.store.chord;
    const ui = this.store.ui;

    // The ring itself.
    ctx.strokeStyle = RING;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.arc(cx, cy, k, 0, TAU);
    ctx.stroke();

    const teaching = this.teaching && chord.idBits <= 8;
    if (teaching) this.drawTicks(cx, cy, k, chord.idBits);

    if (n === 0) {
      ctx.fillStyle = "#94a3b8";
      ctx.font = "14px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.fillText(chord.hasSnapshot ? "no nodes — start a simulation" : "waiting for the conductor…", cx, cy);
      return;
    }

    const r = nodeRadius(n, k, 0, 0);
    const dense = n > 3000;
    if (dense) this.drawAggregate(cx, cy, k);

    // Successor edges: right ones (successor is the next node in id order) in one path,
    // wrong ones (a ring still converging, or a crash not yet noticed) in another.
    if (n <= 20000) {
      ctx.lineWidth = dense ? 0.5 : 1;
      ctx.strokeStyle = EDGE;
      ctx.beginPath();
      for (let i = 0; i < n; i++) {
        const j = this.succIdx[i];
        if (j < 0 || this.cls[i] === S_CRASHED || this.cls[i] === S_LEFT) continue;
        if (!this.isNextLive(i, j)) continue;
        ctx.moveTo(cx + this.xs[i] * k, cy + this.ys[i] * k);
        ctx.lineTo(cx + this.xs[j] * k, cy + this.ys[j] * k);
      }
      ctx.stroke();
      ctx.strokeStyle = EDGE_WRONG;
      ctx.beginPath();
      let wrong = 0;
      for (let i = 0; i < n && wrong < 2000; i++) {
        const j = this.succIdx[i];
        if (j < 0 || this.cls[i] === S_CRASHED || this.cls[i] === S_LEFT) continue;
        if (this.isNextLive(i, j)) continue;
        wrong += 1;
        const x0 = cx + this.xs[i] * k;
        const y0 = cy + this.ys[i] * k;
        const x1 = cx + this.xs[j] * k;
        const y1 = cy + this.ys[j] * k;
        ctx.moveTo(x0, y0);
        if (this.cls[j] === S_CRASHED || this.cls[j] === S_LEFT) {
          ctx.lineTo(x1, y1); // still points at a dead node: not noticed yet
        } else {
          const c = hopControl(this.pos[i], this.pos[j], 0.85);
          ctx.quadraticCurveTo(cx + c.x * k, cy + c.y * k, x1, y1);
        }
      }
      ctx.stroke();
    }

    // Fingers of the selected or hovered node.
    const focus = ui.hovered ?? ui.selected;
    if (focus !== null) this.drawFingers(focus, cx, cy, k, teaching);
    if (ui.selected !== null && ui.selected !== focus) this.drawFingers(ui.selected, cx, cy, k, teaching);

    // Nodes, one path per colour class; only those on screen.
    this.drawNodes(cx, cy, k, r);

    // Highlights (log clicks) and the selection.
    if (ui.highlight.length > 0 && now < ui.highlightUntil) {
      const pulse = 0.5 + 0.5 * Math.sin(now / 120);
      ctx.strokeStyle = `rgba(250, 204, 21, ${0.5 + 0.5 * pulse})`;
      ctx.lineWidth = 2.5;
      ctx.beginPath();
      for (const id of ui.highlight) {
        const i = this.indexById.get(id);
        if (i === undefined) continue;
        const x = cx + this.xs[i] * k;
        const y = cy + this.ys[i] * k;
        ctx.moveTo(x + r + 6, y);
        ctx.arc(x, y, r + 6, 0, TAU);
      }
      ctx.stroke();
    }
    if (ui.selected !== null) {
      const i = this.indexById.get(ui.selected);
      if (i !== undefined) {
        // The range of ids the node owns, (predecessor, node], as a band along the ring.
        const pred = this.sorted[i].predecessor;
        const j = pred === null ? undefined : this.indexById.get(pred);
        if (j !== undefined && j !== i) {
          const a0 = this.pos[j] * TAU - Math.PI / 2;
          let a1 = this.pos[i] * TAU - Math.PI / 2;
          if (a1 <= a0) a1 += TAU;
          ctx.strokeStyle = "rgba(255, 255, 255, 0.35)";
          ctx.lineWidth = 7;
          ctx.beginPath();
          ctx.arc(cx, cy, k, a0, a1);
          ctx.stroke();
        }
        ctx.strokeStyle = "#ffffff";
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.arc(cx + this.xs[i] * k, cy + this.ys[i] * k, r + 4, 0, TAU);
        ctx.stroke();
      }
    }

    this.drawPaths(now, cx, cy, k, r);
    this.drawLabels(cx, cy, k, r, teaching);
    this.drawLegend(n);
  }

  /** True when node j is the next non-crashed node after i in id order (a right successor). */
  private isNextLive(i: number, j: number): boolean {
    const n = this.sorted.length;
    let s = (i + 1) % n;
    for (let steps = 0; steps < n; steps++) {
      if (this.cls[s] !== S_CRASHED && this.cls[s] !== S_LEFT) return s === j;
      s = (s + 1) % n;
    }
    return false;
  }

  private drawTicks(cx: number, cy: number, k: number, bits: number): void {
    const ctx = this.ctx;
    const slots = 1 << bits;
    const spacing = (TAU * k) / slots;
    ctx.strokeStyle = "#475569";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let s = 0; s < slots; s++) {
      const a = (s / slots) * TAU;
      const sx = Math.sin(a);
      const sy = -Math.cos(a);
      ctx.moveTo(cx + sx * (k - 5), cy + sy * (k - 5));
      ctx.lineTo(cx + sx * (k + 5), cy + sy * (k + 5));
    }
    ctx.stroke();
    const every = spacing >= 16 ? 1 : spacing >= 8 ? 2 : spacing >= 4 ? 4 : 8;
    ctx.fillStyle = "#64748b";
    ctx.font = "10px ui-monospace, monospace";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    for (let s = 0; s < slots; s += every) {
      const a = (s / slots) * TAU;
      ctx.fillText(String(s), cx + Math.sin(a) * (k - 16), cy - Math.cos(a) * (k - 16));
    }
    if (this.store.ui.slot !== null) {
      const a = (this.store.ui.slot / slots) * TAU;
      ctx.strokeStyle = "#facc15";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(cx + Math.sin(a) * k, cy - Math.cos(a) * k, 7, 0, TAU);
      ctx.stroke();
    }
  }

  private drawAggregate(cx: number, cy: number, k: number): void {
    // Outward bars: node density per angular bin (height) coloured by mean keys per node.
    const ctx = this.ctx;
    let maxCount = 1;
    for (let b = 0; b < AGG_BINS; b++) if (this.aggCount[b] > maxCount) maxCount = this.aggCount[b];
    const maxLoad = Math.max(1, this.maxLoad);
    for (let bucket = 0; bucket < LOAD_COLOURS.length; bucket++) {
      ctx.fillStyle = LOAD_COLOURS[bucket];
      ctx.globalAlpha = 0.55;
      ctx.beginPath();
      for (let b = 0; b < AGG_BINS; b++) {
        const c = this.aggCount[b];
        if (c === 0) continue;
        const mean = this.aggLoad[b] / c;
        const lb = Math.min(LOAD_COLOURS.length - 1, Math.floor((mean / maxLoad) * LOAD_COLOURS.length * 2));
        if (lb !== bucket) continue;
        const a0 = (b / AGG_BINS) * TAU - Math.PI / 2;
        const a1 = ((b + 1) / AGG_BINS) * TAU - Math.PI / 2;
        const h = 6 + (c / maxCount) * 28;
        ctx.moveTo(cx + Math.cos(a0) * (k + 8), cy + Math.sin(a0) * (k + 8));
        ctx.arc(cx, cy, k + 8 + h, a0, a1);
        ctx.arc(cx, cy, k + 8, a1, a0, true);
        ctx.closePath();
      }
      ctx.fill();
    }
    ctx.globalAlpha = 1;
  }

  private drawNodes(cx: number, cy: number, k: number, r: number): void {
    const ctx = this.ctx;
    const n = this.sorted.length;
    const { width, height } = this.size;
    const maxLoad = this.maxLoad;
    const useRect = r < 2.2;
    const margin = r * 2 + 4;
    // One path per colour class (load buckets of live nodes, then joining, leaving, crashed,
    // left), walking the per-class index lists built with the node arrays.
    const classes = LOAD_COLOURS.length + 4;
    // Far too dense to tell live nodes apart (≈ 100,000 at zoom 1): one band stands for them
    // (the aggregate bars outside show density and load); other states are still drawn.
    const solid = (TAU * k) / Math.max(1, n) < 0.5;
    if (solid) {
      ctx.strokeStyle = LOAD_COLOURS[2];
      ctx.lineWidth = 3;
      ctx.beginPath();
      ctx.arc(cx, cy, k, 0, TAU);
      ctx.stroke();
    }
    for (let c = solid ? LOAD_COLOURS.length : 0; c < classes; c++) {
      const from = this.classStart[c];
      const to = this.classStart[c + 1];
      if (from === to) continue;
      ctx.fillStyle = c < LOAD_COLOURS.length ? LOAD_COLOURS[c] : STATE_COLOURS[c - LOAD_COLOURS.length + 1];
      ctx.beginPath();
      for (let o = from; o < to; o++) {
        const i = this.classOrder[o];
        const st = this.cls[i];
        const x = cx + this.xs[i] * k;
        const y = cy + this.ys[i] * k;
        if (x < -margin || y < -margin || x > width + margin || y > height + margin) continue;
        const big = st === S_CRASHED ? 1.6 : 1;
        const rr = (maxLoad > 0 && st === S_LIVE ? r * (0.8 + 0.6 * Math.sqrt(this.load[i] / maxLoad)) : r) * big;
        if (useRect && st !== S_CRASHED) {
          ctx.rect(x - rr, y - rr, rr * 2, rr * 2);
        } else {
          ctx.moveTo(x + rr, y);
          ctx.arc(x, y, rr, 0, TAU);
        }
      }
      ctx.fill();
    }
    // Crashed nodes get a cross, joining/leaving a ring, so they read apart without colour.
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#fecaca";
    ctx.beginPath();
    const rc = Math.max(3, r * 1.6);
    for (let i = 0; i < n; i++) {
      if (this.cls[i] !== S_CRASHED) continue;
      const x = cx + this.xs[i] * k;
      const y = cy + this.ys[i] * k;
      ctx.moveTo(x - rc, y - rc);
      ctx.lineTo(x + rc, y + rc);
      ctx.moveTo(x + rc, y - rc);
      ctx.lineTo(x - rc, y + rc);
    }
    ctx.stroke();
    if (n > 5000) return; // dense: the colour alone marks joining and leaving nodes
    ctx.strokeStyle = "#fde68a";
    ctx.setLineDash([2, 2]);
    ctx.beginPath();
    for (let i = 0; i < n; i++) {
      const st = this.cls[i];
      if (st !== S_JOINING && st !== S_LEAVING) continue;
      const x = cx + this.xs[i] * k;
      const y = cy + this.ys[i] * k;
      ctx.moveTo(x + r + 3, y);
      ctx.arc(x, y, r + 3, 0, TAU);
    }
    ctx.stroke();
    ctx.setLineDash([]);
  }

  private drawFingers(id: Id, cx: number, cy: number, k: number, teaching: boolean): void {
    const i = this.indexById.get(id);
    if (i === undefined) return;
    const node = this.sorted[i];
    const ctx = this.ctx;
    const bits = this.store.chord.idBits;
    if (teaching) {
      // Each finger's interval [start_i, start_{i+1}) as an arc outside the ring.
      const intervals = fingerIntervals(BigInt(node.id), bits);
      ctx.lineWidth = 3;
      for (const f of intervals) {
        const rad = k + 34 + f.index * 8;
        const a0 = f.startPos * TAU - Math.PI / 2;
        let a1 = f.endPos * TAU - Math.PI / 2;
        if (a1 <= a0) a1 += TAU;
        ctx.strokeStyle = `hsla(${190 + f.index * 25}, 80%, 60%, 0.9)`;
        ctx.beginPath();
        ctx.arc(cx, cy, rad, a0, a1);
        ctx.stroke();
        ctx.fillStyle = ctx.strokeStyle;
        ctx.font = "10px ui-monospace, monospace";
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        ctx.fillText(`${f.index}`, cx + Math.cos(a0) * (rad + 0), cy + Math.sin(a0) * rad - 7);
      }
    }
    const fingers = node.fingers ?? [];
    if (fingers.length === 0) return;
    ctx.strokeStyle = FINGER;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    const x0 = cx + this.xs[i] * k;
    const y0 = cy + this.ys[i] * k;
    for (const f of fingers) {
      const j = this.indexById.get(f.node);
      if (j === undefined || j === i) continue;
      const c = hopControl(this.pos[i], this.pos[j]);
      ctx.moveTo(x0, y0);
      ctx.quadraticCurveTo(cx + c.x * k, cy + c.y * k, cx + this.xs[j] * k, cy + this.ys[j] * k);
    }
    ctx.stroke();
    if (teaching) {
      ctx.fillStyle = FINGER;
      ctx.font = "11px ui-monospace, monospace";
      for (const f of fingers) {
        const j = this.indexById.get(f.node);
        if (j === undefined) continue;
        ctx.fillText(`f${f.index}`, cx + this.xs[j] * (k - 30), cy + this.ys[j] * (k - 30));
      }
    }
  }

  private drawPaths(now: number, cx: number, cy: number, k: number, r: number): void {
    const ctx = this.ctx;
    const keep: Anim[] = [];
    for (const a of this.anims) {
      const path = a.entry.path;
      const hops = path.length - 1;
      const elapsed = now - a.start;
      const prog = hopProgress(elapsed, hops, a.msPerHop);
      const doneAt = Math.max(0, hops) * a.msPerHop;
      // Event paths fade over their whole hold; the key box's stay solid until its last 1.5 s.
      const fadeMs = a.entry.source === "user" ? 1500 : a.hold;
      const fade = prog.done ? Math.min(1, (a.hold - (elapsed - doneAt)) / fadeMs) : 1;
      if (fade <= 0) continue;
      keep.push(a);
      const user = a.entry.source === "user";
      ctx.globalAlpha = Math.max(0, Math.min(1, fade));
      ctx.strokeStyle = !a.entry.ok ? FAILED_PATH : user ? USER_PATH : EVENT_PATH;
      ctx.lineWidth = user ? 3 : 1.6;
      ctx.beginPath();
      let headX = NaN;
      let headY = NaN;
      for (let h = 0; h <= prog.hop && h < hops; h++) {
        const i = this.indexById.get(path[h]);
        const j = this.indexById.get(path[h + 1]);
        if (i === undefined || j === undefined) continue;
        const p0 = { x: this.xs[i], y: this.ys[i] };
        const p1 = { x: this.xs[j], y: this.ys[j] };
        const c = hopControl(this.pos[i], this.pos[j]);
        const t = h < prog.hop ? 1 : prog.t;
        // Draw the curve up to t by subdividing (de Casteljau): control of the partial curve.
        const cpx = p0.x + (c.x - p0.x) * t;
        const cpy = p0.y + (c.y - p0.y) * t;
        const end = quadPoint(p0, c, p1, t);
        ctx.moveTo(cx + p0.x * k, cy + p0.y * k);
        ctx.quadraticCurveTo(cx + cpx * k, cy + cpy * k, cx + end.x * k, cy + end.y * k);
        headX = cx + end.x * k;
        headY = cy + end.y * k;
      }
      ctx.stroke();
      // Hop numbers on the visited nodes, a dot on the moving head and the key's position.
      if (user) {
        ctx.fillStyle = USER_PATH;
        ctx.font = "bold 12px system-ui, sans-serif";
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        let lx = NaN;
        let ly = NaN;
        for (let h = 0; h <= Math.min(hops, prog.hop + (prog.t >= 1 ? 1 : 0)); h++) {
          const i = this.indexById.get(path[h]);
          if (i === undefined) continue;
          const x = cx + this.xs[i] * (k - r - 14);
          const y = cy + this.ys[i] * (k - r - 14);
          if (Math.hypot(x - lx, y - ly) < 14) continue; // next to the previous number: skip
          ctx.fillText(String(h), x, y);
          lx = x;
          ly = y;
        }
        if (a.entry.keyPos !== null) {
          const kp = posToXY(a.entry.keyPos);
          const x = cx + kp.x * (k + r + 30);
          const y = cy + kp.y * (k + r + 30);
          ctx.beginPath();
          ctx.moveTo(x, y - 6);
          ctx.lineTo(x + 6, y);
          ctx.lineTo(x, y + 6);
          ctx.lineTo(x - 6, y);
          ctx.closePath();
          ctx.fill();
          ctx.fillText(a.entry.label, x, y - 14);
        }
      }
      if (!prog.done && Number.isFinite(headX)) {
        ctx.fillStyle = user ? "#ffffff" : EVENT_PATH;
        ctx.beginPath();
        ctx.arc(headX, headY, user ? 5 : 3, 0, TAU);
        ctx.fill();
      }
      ctx.globalAlpha = 1;
    }
    this.anims = keep;
  }

  private drawLabels(cx: number, cy: number, k: number, r: number, teaching: boolean): void {
    const n = this.sorted.length;
    const spacing = (TAU * k) / Math.max(1, n);
    if (!teaching && spacing < 42) return;
    const ctx = this.ctx;
    const { width, height } = this.size;
    ctx.fillStyle = "#e2e8f0";
    ctx.font = "11px ui-monospace, monospace";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    let drawn = 0;
    const bits = this.store.chord.idBits;
    let lastX = NaN;
    let lastY = NaN;
    let lastW = 0;
    for (let i = 0; i < n && drawn < 400; i++) {
      const x = cx + this.xs[i] * (k + r + 14);
      const y = cy + this.ys[i] * (k + r + 14);
      if (x < 0 || y < 0 || x > width || y > height) continue;
      const id = this.sorted[i].id;
      const text = bits <= 32 || id.length <= 10 ? id : `${id.slice(0, 6)}…`;
      const w = ctx.measureText(text).width;
      // Skip a label that would overlap the previous one (nodes close together on the ring).
      if (Math.abs(x - lastX) < (w + lastW) / 2 + 2 && Math.abs(y - lastY) < 12) continue;
      ctx.fillText(text, x, y);
      lastX = x;
      lastY = y;
      lastW = w;
      drawn += 1;
    }
  }

  private drawLegend(n: number): void {
    const ctx = this.ctx;
    ctx.fillStyle = "#94a3b8";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    const chord = this.store.chord;
    const detail = chord.detail ? "" : " · aggregated (no fingers)";
    const fps = this.stats.fps >= 1 ? ` · ${this.stats.fps.toFixed(0)} fps` : "";
    ctx.fillText(`${n} nodes · m = ${chord.idBits}${detail}${fps}`, 8, 8);
  }

  // ------------------------------------------------------------------ input

  private nodeAt(sx: number, sy: number): number {
    this.rebuildIfNeeded();
    const w = screenToWorld(this.view, this.size, sx, sy);
    const k = baseScale(this.size) * this.view.zoom;
    const tol = Math.max(10, nodeRadius(this.sorted.length, k) + 4) / k;
    return hitTest(this.pos, w.x, w.y, tol);
  }

  private local(ev: MouseEvent): { x: number; y: number } {
    const rect = this.canvas.getBoundingClientRect();
    return { x: ev.clientX - rect.left, y: ev.clientY - rect.top };
  }

  private onWheel = (ev: WheelEvent): void => {
    ev.preventDefault();
    const p = this.local(ev);
    const factor = Math.exp(-ev.deltaY * (ev.deltaMode === 1 ? 0.05 : 0.0015));
    this.view = zoomAt(this.view, this.size, p.x, p.y, factor);
    this.dirty = true;
  };

  private onPointerDown = (ev: PointerEvent): void => {
    const p = this.local(ev);
    this.drag = { x: p.x, y: p.y, moved: false };
    this.canvas.setPointerCapture?.(ev.pointerId);
  };

  private onPointerMove = (ev: PointerEvent): void => {
    const p = this.local(ev);
    if (this.drag) {
      const dx = p.x - this.drag.x;
      const dy = p.y - this.drag.y;
      if (this.drag.moved || Math.abs(dx) + Math.abs(dy) > 4) {
        this.drag.moved = true;
        this.view = panBy(this.view, dx, dy);
        this.drag.x = p.x;
        this.drag.y = p.y;
        this.dirty = true;
        return;
      }
    }
    const i = this.nodeAt(p.x, p.y);
    const id = i >= 0 ? this.sorted[i].id : null;
    if (id !== this.store.ui.hovered) {
      this.store.setUi({ hovered: id, hoverAt: id === null ? null : { x: p.x, y: p.y } });
      this.canvas.style.cursor = id ? "pointer" : "grab";
    }
  };

  private onPointerUp = (ev: PointerEvent): void => {
    const p = this.local(ev);
    const drag = this.drag;
    this.drag = null;
    if (drag?.moved) return;
    const i = this.nodeAt(p.x, p.y);
    if (i >= 0) {
      this.onClickNode(this.sorted[i].id, null);
      return;
    }
    const chord = this.store.chord;
    if (this.teaching && chord.idBits <= 8) {
      const w = screenToWorld(this.view, this.size, p.x, p.y);
      const radial = Math.hypot(w.x, w.y);
      const k = baseScale(this.size) * this.view.zoom;
      if (Math.abs(radial - 1) * k < 14) {
        const slot = nearestSlot(xyToPos(w.x, w.y), chord.idBits);
        this.onClickNode(null, slot);
        return;
      }
    }
    this.onClickNode(null, null);
  };

  private onPointerLeave = (): void => {
    this.drag = null;
    if (this.store.ui.hovered !== null) this.store.setUi({ hovered: null, hoverAt: null });
  };

  private onDoubleClick = (): void => {
    this.resetView();
  };
}

/** Ring position of a key for the key box (when the server did not send key_pos). */
export function keyPosFrom(data: Record<string, unknown>, bits: number): number | null {
  if (typeof data.key_pos === "number") return data.key_pos;
  if (typeof data.key_id === "string") return idToPos(data.key_id, bits);
  return null;
}

