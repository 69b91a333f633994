import { describe, expect, it } from "vitest";
import {
  clockwise,
  fingerIntervals,
  fingerStart,
  hitTest,
  hopProgress,
  idToPos,
  nearestSlot,
  panBy,
  posToXY,
  ringDistance,
  screenToWorld,
  successorOf,
  worldToScreen,
  xyToPos,
  zoomAt,
  IDENTITY_VIEW,
  MAX_ZOOM,
} from "../src/geometry";

const close = (a: number, b: number, eps = 1e-9) => expect(Math.abs(a - b)).toBeLessThan(eps);

describe("ids and angles", () => {
  it("maps small ids exactly", () => {
    expect(idToPos("0", 3)).toBe(0);
    expect(idToPos("4", 3)).toBe(0.5);
    expect(idToPos(6n, 3)).toBe(0.75);
    expect(idToPos("9", 3)).toBe(0.125); // wraps modulo 2^m
  });

  it("maps 160-bit ids without losing the leading bits", () => {
    const half = (1n << 159n).toString();
    expect(idToPos(half, 160)).toBe(0.5);
    const top = ((1n << 160n) - 1n).toString();
    expect(idToPos(top, 160)).toBeLessThan(1);
    expect(idToPos(top, 160)).toBeGreaterThan(0.999999);
  });

  it("puts 0 at the top and goes clockwise", () => {
    const top = posToXY(0);
    close(top.x, 0);
    close(top.y, -1);
    const right = posToXY(0.25);
    close(right.x, 1);
    close(right.y, 0);
    const bottom = posToXY(0.5, 2);
    close(bottom.y, 2);
  });

  it("inverts positions from points", () => {
    for (const p of [0, 0.1, 0.25, 0.5, 0.75, 0.999]) {
      const q = posToXY(p, 3);
      close(xyToPos(q.x, q.y), p);
    }
  });

  it("measures ring distances", () => {
    close(clockwise(0.9, 0.1), 0.2);
    close(clockwise(0.1, 0.9), 0.8);
    close(ringDistance(0.1, 0.9), 0.2);
    expect(clockwise(0.3, 0.3)).toBe(0);
  });
});

describe("view transform", () => {
  const size = { width: 800, height: 600 };

  it("round-trips world and screen points", () => {
    const view = { zoom: 3.5, panX: 40, panY: -25 };
    const s = worldToScreen(view, size, 0.3, -0.7);
    const w = screenToWorld(view, size, s.x, s.y);
    close(w.x, 0.3);
    close(w.y, -0.7);
  });

  it("centres the ring at zoom 1", () => {
    const c = worldToScreen(IDENTITY_VIEW, size, 0, 0);
    expect(c).toEqual({ x: 400, y: 300 });
    const top = worldToScreen(IDENTITY_VIEW, size, 0, -1);
    close(top.y, 300 - 600 * 0.4);
  });

  it("zooms around the cursor", () => {
    const at = { x: 610, y: 120 };
    const before = screenToWorld(IDENTITY_VIEW, size, at.x, at.y);
    const view = zoomAt(IDENTITY_VIEW, size, at.x, at.y, 4);
    expect(view.zoom).toBe(4);
    const after = screenToWorld(view, size, at.x, at.y);
    close(after.x, before.x);
    close(after.y, before.y);
  });

  it("clamps the zoom", () => {
    expect(zoomAt(IDENTITY_VIEW, size, 0, 0, 1e9).zoom).toBe(MAX_ZOOM);
  });

  it("pans in screen pixels", () => {
    const view = panBy(IDENTITY_VIEW, 10, -5);
    const c = worldToScreen(view, size, 0, 0);
    expect(c).toEqual({ x: 410, y: 295 });
  });
});

describe("hit testing", () => {
  const sorted = Float64Array.from([0, 0.1, 0.25, 0.5, 0.9]);

  it("finds the node under the point", () => {
    const q = posToXY(0.25);
    expect(hitTest(sorted, q.x + 0.01, q.y, 0.05)).toBe(2);
    const z = posToXY(0.5);
    expect(hitTest(sorted, z.x, z.y - 0.02, 0.05)).toBe(3);
  });

  it("wraps around zero", () => {
    const q = posToXY(0.999);
    expect(hitTest(sorted, q.x, q.y, 0.05)).toBe(0);
    const r = posToXY(0.905);
    expect(hitTest(sorted, r.x, r.y, 0.05)).toBe(4);
  });

  it("misses empty space and the centre", () => {
    const q = posToXY(0.7);
    expect(hitTest(sorted, q.x, q.y, 0.05)).toBe(-1);
    expect(hitTest(sorted, 0, 0, 0.05)).toBe(-1);
    expect(hitTest(new Float64Array(0), 0, -1, 0.05)).toBe(-1);
  });

  it("scales to many nodes", () => {
    const many = Float64Array.from({ length: 10000 }, (_, i) => i / 10000);
    const q = posToXY(0.12342);
    expect(hitTest(many, q.x, q.y, 0.001)).toBe(1234);
  });

  it("snaps to id slots in teaching mode", () => {
    expect(nearestSlot(0.26, 3)).toBe(2);
    expect(nearestSlot(0.97, 3)).toBe(0);
    expect(nearestSlot(0.5, 8)).toBe(128);
  });
});

describe("fingers", () => {
  it("starts finger i at n + 2^i", () => {
    expect(fingerStart(1n, 0, 3)).toBe(2n);
    expect(fingerStart(1n, 2, 3)).toBe(5n);
    expect(fingerStart(6n, 2, 3)).toBe(2n); // wraps
  });

  it("gives the paper's intervals for node 1 of a 3-bit ring", () => {
    const iv = fingerIntervals(1n, 3);
    expect(iv.map((f) => [f.start, f.end])).toEqual([
      [2n, 3n],
      [3n, 5n],
      [5n, 1n],
    ]);
    expect(iv[2].startPos).toBe(5 / 8);
    expect(iv[2].endPos).toBe(1 / 8);
  });

  it("resolves successors like Chord", () => {
    const ids = [0n, 1n, 3n];
    expect(successorOf(ids, 2n)).toBe(3n);
    expect(successorOf(ids, 3n)).toBe(3n);
    expect(successorOf(ids, 6n)).toBe(0n);
    expect(successorOf([], 6n)).toBeNull();
    // The paper's example (Fig. 3b): node 1's fingers point at 3, 3 and 0.
    expect(fingerIntervals(1n, 3).map((f) => successorOf(ids, f.start))).toEqual([3n, 3n, 0n]);
  });
});

describe("hop animation", () => {
  it("advances hop by hop", () => {
    expect(hopProgress(0, 3, 100)).toEqual({ hop: 0, t: 0, done: false });
    expect(hopProgress(150, 3, 100)).toEqual({ hop: 1, t: 0.5, done: false });
    expect(hopProgress(300, 3, 100)).toEqual({ hop: 2, t: 1, done: true });
    expect(hopProgress(50, 0, 100).done).toBe(true);
  });
});
