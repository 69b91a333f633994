import { useCallback, useEffect, useRef, useState } from "react";
import type { Connection } from "../connection";
import { RingRenderer } from "../renderer";
import type { Store } from "../store";
import { ActivityLog } from "./ActivityLog";
import { Charts } from "./Charts";
import { Controls } from "./Controls";
import { fmtTime, useStore } from "./hooks";
import { Inspector } from "./Inspector";
import { NodeActions } from "./NodeActions";
import { HoverCard, Legend } from "./RingOverlay";

declare global {
  interface Window {
    chordial?: {
      store: Store;
      renderer: RingRenderer;
      conn: Connection;
      screenPointOf: (id: string) => { x: number; y: number } | null;
      screenPointOfPos: (pos: number) => { x: number; y: number };
    };
  }
}

export interface AppProps {
  store: Store;
  conn: Connection;
  bench: boolean;
}

export function App({ store, conn, bench }: AppProps) {
  const { chord, ui } = useStore(store);
  const canvasRef = useRef<HTMLCanvasElement | null>(null);
  const rendererRef = useRef<RingRenderer | null>(null);
  const [teaching, setTeaching] = useState(false);
  const [inspecting, setInspecting] = useState<string | null>(null);

  const onClickNode = useCallback(
    (id: string | null, slot: number | null) => {
      store.setUi({ selected: id, slot });
      if (id !== null) setInspecting(id);
    },
    [store],
  );

  useEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas) return;
    const r = new RingRenderer(canvas, store, onClickNode);
    r.continuous = bench;
    r.start();
    rendererRef.current = r;
    window.chordial = {
      store,
      renderer: r,
      conn,
      screenPointOf: (id: string) => {
        const p = r.screenPointOf(id);
        if (!p) return null;
        const rect = canvas.getBoundingClientRect();
        return { x: rect.left + p.x, y: rect.top + p.y };
      },
      screenPointOfPos: (pos: number) => {
        const p = r.screenPointOfPos(pos);
        const rect = canvas.getBoundingClientRect();
        return { x: rect.left + p.x, y: rect.top + p.y };
      },
    };
    return () => r.stop();
  }, [store, conn, bench, onClickNode]);

  // Teaching mode follows the id space: on for m ≤ 8, off above (the user may switch it).
  const smallRing = chord.idBits <= 8;
  useEffect(() => setTeaching(smallRing), [smallRing]);
  useEffect(() => rendererRef.current?.setTeaching(teaching), [teaching]);

  const stats = chord.lastStats;
  return (
    <div className="app">
      <header className="topbar">
        <h1>
          Chordial <span className="sub">a Chord ring you can watch and steer</span>
        </h1>
        <div className="status-line">
          <span className={`conn conn-${ui.conn}`} data-testid="conn-status" data-state={ui.conn} title="connection to the conductor">
            <span className="dot" />
            {bench ? "benchmark (offline)" : ui.conn === "open" ? "connected" : ui.conn === "connecting" ? "connecting…" : "disconnected — retrying"}
          </span>
          <span data-testid="sim-status" data-status={chord.status} className={`pill st-${chord.status}`}>
            {chord.world} · {chord.status}
          </span>
          <span title="virtual seconds (live: wall seconds since start)">t = {fmtTime(chord.time)}</span>
          <span data-testid="node-count">{chord.nodes.size} nodes</span>
          <span title="speed: virtual seconds per wall second">×{String(chord.speed)}</span>
          {stats && (
            <span className={stats.invariants_ok ? "ok" : "bad"} title={stats.violations.join("\n") || "Zave's invariants hold"}>
              invariants {stats.invariants_ok ? "ok" : "violated"}
            </span>
          )}
          {stats?.correctness && (
            <span title="fractions of nodes whose successor / predecessor / fingers are right">
              correct: succ {(stats.correctness.successors * 100).toFixed(0)}% · pred {(stats.correctness.predecessors * 100).toFixed(0)}% · fingers{" "}
              {(stats.correctness.fingers * 100).toFixed(0)}%
            </span>
          )}
        </div>
      </header>
      <aside className="left">
        <Controls store={store} conn={conn} chord={chord} ui={ui} teaching={teaching} setTeaching={setTeaching} />
      </aside>
      <main className="ring">
        <canvas ref={canvasRef} data-testid="ring-canvas" />
        <div className="ring-help">
          wheel: zoom · drag: pan · double-click: reset · click a node: act on it
          {teaching ? " · click an empty id tick: add a node there" : ""}
        </div>
        <NodeActions store={store} conn={conn} chord={chord} ui={ui} onInspect={setInspecting} renderer={rendererRef} />
        <HoverCard chord={chord} ui={ui} />
        <Legend />
      </main>
      <aside className="right">
        <Inspector conn={conn} chord={chord} nodeId={inspecting} onClose={() => setInspecting(null)} store={store} />
        <ActivityLog store={store} chord={chord} />
      </aside>
      <section className="charts">
        <Charts chord={chord} />
      </section>
    </div>
  );
}
