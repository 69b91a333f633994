import type { ChordState } from "../reducer";
import { LOAD_COLOURS, STATE_COLOURS } from "../renderer";
import type { UiState } from "../store";
import { shortId } from "./hooks";

/** A card by the pointer with the hovered node's summary. */
export function HoverCard({ chord, ui }: { chord: ChordState; ui: UiState }) {
  if (ui.hovered === null || ui.hoverAt === null) return null;
  const n = chord.nodes.get(ui.hovered);
  if (!n) return null;
  const bits = chord.idBits;
  return (
    <div className="hover-card" style={{ left: ui.hoverAt.x + 14, top: ui.hoverAt.y + 14 }} data-testid="hover-card">
      <div>
        <b>{shortId(n.id, bits)}</b> <span className={`state state-${n.state}`}>{n.state}</span>
      </div>
      <div className="addr">{n.address}</div>
      <div>
        {n.keys} keys owned · {n.replicas} replica copies
      </div>
      <div>
        pred {shortId(n.predecessor, bits)} · succ {shortId(n.successors[0], bits)}
      </div>
      {n.fingers && <div>{n.fingers.length} distinct fingers (drawn in cyan)</div>}
    </div>
  );
}

const swatch = (colour: string, shape: "dot" | "line" | "cross" = "dot") => (
  <span className={`sw sw-${shape}`} style={shape === "line" ? { borderColor: colour } : { background: colour }} />
);

/** What the colours on the ring mean. */
export function Legend() {
  // Open by default where the ring has room beside it; a click folds it away.
  return (
    <details className="legend" data-testid="legend" open={window.innerWidth >= 1400}>
      <summary>legend</summary>
      <div>
        {LOAD_COLOURS.map((c) => (
          <span key={c} className="sw sw-dot" style={{ background: c }} />
        ))}{" "}
        live node, shade and size by keys owned
      </div>
      <div>
        {swatch(STATE_COLOURS[1])} joining {swatch(STATE_COLOURS[2])} leaving {swatch(STATE_COLOURS[3])} crashed
      </div>
      <div>
        {swatch("rgba(148, 163, 184, 0.8)", "line")} successor {swatch("rgba(244, 114, 182, 0.9)", "line")} wrong successor{" "}
        {swatch("#22d3ee", "line")} fingers
      </div>
      <div>
        {swatch("rgba(255, 255, 255, 0.5)", "line")} ids the selected node owns
      </div>
      <div>
        {swatch("#f0abfc", "line")} your lookup, hop by hop {swatch("rgba(52, 211, 153, 0.85)", "line")} workload lookups
      </div>
    </details>
  );
}
