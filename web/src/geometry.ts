// Pure geometry of the ring view: ids → positions → angles → points, the zoom/pan transform,
// hit testing and Chord finger intervals. No DOM, no canvas: everything here is unit-tested.

export const TAU = Math.PI * 2;

/** An id (decimal string or bigint) as a fraction of the ring in [0, 1). */
export function idToPos(id: string | bigint, bits: number): number {
  const n = typeof id === "bigint" ? id : BigInt(id);
  const size = 1n << BigInt(bits);
  const v = ((n % size) + size) % size;
  if (bits <= 52) return Number(v) / Number(size);
  // Keep the 53 most significant bits: exact enough for any screen.
  const shift = BigInt(bits - 53);
  return Number(v >> shift) / 2 ** 53;
}

/** Angle in radians for a ring position: 0 at the top, growing clockwise. */
export function posToAngle(pos: number): number {
  return pos * TAU;
}

export interface Point {
  x: number;
  y: number;
}

/** World coordinates (ring of radius r around the origin, y down as on a canvas). */
export function posToXY(pos: number, r = 1): Point {
  const a = posToAngle(pos);
  return { x: Math.sin(a) * r, y: -Math.cos(a) * r };
}

/** The ring position under a world point (the inverse of posToXY's angle). */
export function xyToPos(x: number, y: number): number {
  let a = Math.atan2(x, -y);
  if (a < 0) a += TAU;
  const p = a / TAU;
  return p >= 1 ? 0 : p;
}

/** Clockwise distance from a to b on the unit ring, in [0, 1). */
export function clockwise(a: number, b: number): number {
  const d = (b - a) % 1;
  return d < 0 ? d + 1 : d;
}

/** Shortest distance between two ring positions, in [0, 0.5]. */
export function ringDistance(a: number, b: number): number {
  const d = clockwise(a, b);
  return Math.min(d, 1 - d);
}

// ---------------------------------------------------------------- view transform

/** Zoom and pan of the view: screen = centre + (world · base · zoom) + pan. */
export interface View {
  zoom: number;
  panX: number;
  panY: number;
}

export interface Size {
  width: number;
  height: number;
}

export const IDENTITY_VIEW: View = { zoom: 1, panX: 0, panY: 0 };
export const MIN_ZOOM = 0.5;
export const MAX_ZOOM = 200;

/** Screen pixels per world unit at zoom 1: the ring fills most of the smaller side. */
export function baseScale(size: Size): number {
  return Math.max(1, Math.min(size.width, size.height) * 0.4);
}

export function worldToScreen(view: View, size: Size, x: number, y: number): Point {
  const k = baseScale(size) * view.zoom;
  return { x: size.width / 2 + view.panX + x * k, y: size.height / 2 + view.panY + y * k };
}

export function screenToWorld(view: View, size: Size, sx: number, sy: number): Point {
  const k = baseScale(size) * view.zoom;
  return { x: (sx - size.width / 2 - view.panX) / k, y: (sy - size.height / 2 - view.panY) / k };
}

/** Zoom by `factor` keeping the world point under (sx, sy) where it is. */
export function zoomAt(view: View, size: Size, sx: number, sy: number, factor: number): View {
  const zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, view.zoom * factor));
  const w = screenToWorld(view, size, sx, sy);
  const k = baseScale(size) * zoom;
  return { zoom, panX: sx - size.width / 2 - w.x * k, panY: sy - size.height / 2 - w.y * k };
}

export function panBy(view: View, dx: number, dy: number): View {
  return { zoom: view.zoom, panX: view.panX + dx, panY: view.panY + dy };
}

// ---------------------------------------------------------------- hit testing

/** Index of the first element of a sorted array that is >= v (binary search). */
export function lowerBound<T extends number | bigint>(sorted: ArrayLike<T>, v: T): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The node nearest to a world point, if any lies within `tolerance` (world units) of it.
 * `sortedPos` holds the nodes' ring positions in ascending order; nodes sit on the ring of
 * radius `r`. Returns the index into `sortedPos`, or -1. O(log n) plus a few neighbours.
 */
export function hitTest(sortedPos: ArrayLike<number>, x: number, y: number, tolerance: number, r = 1): number {
  const n = sortedPos.length;
  if (n === 0) return -1;
  const radial = Math.hypot(x, y);
  if (Math.abs(radial - r) > tolerance) return -1;
  const p = xyToPos(x, y);
  const i = lowerBound(sortedPos, p);
  let best = -1;
  let bestD = Infinity;
  for (const j of [i - 2, i - 1, i, i + 1]) {
    const k = ((j % n) + n) % n;
    const q = posToXY(sortedPos[k], r);
    const d = Math.hypot(q.x - x, q.y - y);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return bestD <= tolerance ? best : -1;
}

/** The id slot (0 … 2^bits − 1) nearest to a ring position: teaching mode's clickable ticks. */
export function nearestSlot(pos: number, bits: number): number {
  const size = 2 ** bits;
  return Math.round(pos * size) % size;
}

// ---------------------------------------------------------------- Chord fingers

/** Start of finger `index` (0-based) of node `id`: (id + 2^index) mod 2^bits. */
export function fingerStart(id: bigint, index: number, bits: number): bigint {
  const size = 1n << BigInt(bits);
  return (id + (1n << BigInt(index))) % size;
}

export interface FingerInterval {
  index: number;
  start: bigint;
  /** Exclusive end: the next finger's start (the node itself for the last finger). */
  end: bigint;
  startPos: number;
  endPos: number;
}

/** The interval [start_i, start_{i+1}) that finger i covers, for every i in 0 … bits − 1. */
export function fingerIntervals(id: bigint, bits: number): FingerInterval[] {
  const out: FingerInterval[] = [];
  for (let i = 0; i < bits; i++) {
    const start = fingerStart(id, i, bits);
    const end = i + 1 < bits ? fingerStart(id, i + 1, bits) : id;
    out.push({ index: i, start, end, startPos: idToPos(start, bits), endPos: idToPos(end, bits) });
  }
  return out;
}

/** The first id in `sortedIds` at or after `key` clockwise (Chord's successor(key)). */
export function successorOf<T extends number | bigint>(sortedIds: readonly T[], key: T): T | null {
  if (sortedIds.length === 0) return null;
  const i = lowerBound(sortedIds, key);
  return i === sortedIds.length ? sortedIds[0] : sortedIds[i];
}

/**
 * Control point of the curve drawn for a hop between two ring positions: chords bow toward
 * the centre, more for longer hops, so paths stay readable and never leave the ring.
 */
export function hopControl(a: number, b: number, r = 1): Point {
  const pa = posToXY(a, r);
  const pb = posToXY(b, r);
  const mx = (pa.x + pb.x) / 2;
  const my = (pa.y + pb.y) / 2;
  const bow = 1 - ringDistance(a, b) * 1.2; // 1 for neighbours, 0.4 for opposite nodes
  return { x: mx * bow, y: my * bow };
}

/** Point at parameter t ∈ [0, 1] on the quadratic curve p0 → c → p1. */
export function quadPoint(p0: Point, c: Point, p1: Point, t: number): Point {
  const u = 1 - t;
  return {
    x: u * u * p0.x + 2 * u * t * c.x + t * t * p1.x,
    y: u * u * p0.y + 2 * u * t * c.y + t * t * p1.y,
  };
}

/** Progress of a hop-by-hop animation: which hop is drawing, and how far along it. */
export function hopProgress(elapsedMs: number, hops: number, msPerHop: number): { hop: number; t: number; done: boolean } {
  if (hops <= 0) return { hop: 0, t: 1, done: true };
  const total = elapsedMs / msPerHop;
  if (total >= hops) return { hop: hops - 1, t: 1, done: true };
  const hop = Math.max(0, Math.floor(total));
  return { hop, t: total - hop, done: false };
}

/** Node radius in pixels: shrinks as nodes get denser so the ring stays legible. */
export function nodeRadius(count: number, ringPixels: number, load = 0, maxLoad = 0): number {
  const spacing = (TAU * ringPixels) / Math.max(1, count);
  const base = Math.max(1.2, Math.min(9, spacing * 0.35));
  if (maxLoad <= 0) return base;
  return base * (0.75 + 0.75 * Math.sqrt(Math.min(1, load / maxLoad)));
}
