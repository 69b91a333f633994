import { useSyncExternalStore } from "react";
import type { Snapshot, Store } from "../store";

/** The store as React sees it: throttled snapshots (see Store). */
export function useStore(store: Store): Snapshot {
  return useSyncExternalStore(store.subscribe, store.getSnapshot);
}

export function fmtTime(t: number): string {
  if (!Number.isFinite(t)) return "–";
  if (t < 60) return `${t.toFixed(1)} s`;
  const m = Math.floor(t / 60);
  const s = t - m * 60;
  if (m < 60) return `${m}:${s.toFixed(1).padStart(4, "0")}`;
  return `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${s.toFixed(0).padStart(2, "0")}`;
}

/** A short form of a node id: whole when small, else its first digits. */
export function shortId(id: string | null | undefined, bits: number): string {
  if (id === null || id === undefined) return "–";
  if (bits <= 32 || id.length <= 10) return id;
  return `${id.slice(0, 6)}…`;
}

/** A finger's start as the table shows it: the id on small rings, n + 2^i on big ones. */
export function fingerStartText(start: string, index: number, bits: number): string {
  return bits <= 32 ? start : `n+2^${index}`;
}
