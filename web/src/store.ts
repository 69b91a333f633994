// The client's single store: protocol state (from the pure reducer) plus UI selection.
// The canvas reads it every frame; React subscribes to a throttled copy so a fast stream
// (deltas ~20/s) never re-renders the panels more than a few times a second.

import { initialState, type ChordState } from "./reducer";
import type { Id } from "./types";

export type ConnStatus = "connecting" | "open" | "closed";

export interface UiState {
  selected: Id | null;
  hovered: Id | null;
  /** Where the pointer was when `hovered` changed (CSS pixels in the canvas). */
  hoverAt: { x: number; y: number } | null;
  /** Nodes to ring (from a log entry click), until `highlightUntil` (performance.now ms). */
  highlight: Id[];
  highlightUntil: number;
  /** Teaching mode: slot clicked on the ring (an id without a node), for "add node here". */
  slot: number | null;
  conn: ConnStatus;
  toast: { text: string; error: boolean; at: number } | null;
}

export interface Snapshot {
  chord: ChordState;
  ui: UiState;
}

type Listener = () => void;

export class Store {
  chord: ChordState = initialState();
  ui: UiState = {
    selected: null,
    hovered: null,
    hoverAt: null,
    highlight: [],
    highlightUntil: 0,
    slot: null,
    conn: "connecting",
    toast: null,
  };
  /** Bumped on every change; the renderer redraws when it moves. */
  version = 0;
  private view: Snapshot = { chord: this.chord, ui: this.ui };
  private listeners = new Set<Listener>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastNotify = 0;

  constructor(private readonly throttleMs = 150) {}

  setChord(next: ChordState): void {
    if (next === this.chord) return;
    this.chord = next;
    this.changed(false);
  }

  updateChord(fn: (s: ChordState) => ChordState): void {
    this.setChord(fn(this.chord));
  }

  setUi(patch: Partial<UiState>): void {
    this.ui = { ...this.ui, ...patch };
    this.changed(true);
  }

  /** For useSyncExternalStore: a stable object between notifications. */
  getSnapshot = (): Snapshot => this.view;

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  private changed(urgent: boolean): void {
    this.version += 1;
    const now = Date.now();
    if (urgent || now - this.lastNotify >= this.throttleMs) {
      this.flush();
    } else if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), this.throttleMs - (now - this.lastNotify));
    }
  }

  private flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.lastNotify = Date.now();
    this.view = { chord: this.chord, ui: this.ui };
    for (const l of this.listeners) l();
  }
}
