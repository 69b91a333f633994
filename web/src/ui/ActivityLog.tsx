import { useMemo, useState } from "react";
import { addUserPath, filterEvents, type ChordState, type LogEntry } from "../reducer";
import type { Store } from "../store";
import { fmtTime } from "./hooks";

const FILTERS: { name: string; kinds: string[] }[] = [
  { name: "membership", kinds: ["joined", "left", "crashed", "peer_failed"] },
  { name: "ring", kinds: ["successor_changed", "predecessor_changed", "finger_updated"] },
  { name: "keys", kinds: ["keys_transferred", "key_written", "replicas_written", "replicas_repaired", "stale_read"] },
  { name: "lookups", kinds: ["lookup_completed", "lookup_failed"] },
  { name: "invariants", kinds: ["invariant_violated"] },
];
const SHOWN = 400;

function kindClass(kind: string): string {
  if (kind === "crashed" || kind === "lookup_failed" || kind === "invariant_violated" || kind === "peer_failed" || kind === "stale_read") return "ev-bad";
  if (kind === "joined" || kind === "left") return "ev-member";
  if (kind.startsWith("lookup")) return "ev-lookup";
  return "";
}

/** The scrolling, filterable event list; a click rings the entry's nodes and replays its path. */
export function ActivityLog({ store, chord }: { store: Store; chord: ChordState }) {
  const [on, setOn] = useState<Record<string, boolean>>(() => Object.fromEntries(FILTERS.map((f) => [f.name, true])));
  const [text, setText] = useState("");
  const [picked, setPicked] = useState<number | null>(null);

  const kinds = useMemo(() => {
    if (FILTERS.every((f) => on[f.name])) return null; // everything, including kinds not listed
    return new Set(FILTERS.filter((f) => on[f.name]).flatMap((f) => f.kinds));
  }, [on]);
  const shown = useMemo(() => {
    const list = filterEvents(chord.events, kinds, text);
    return list.slice(Math.max(0, list.length - SHOWN)).reverse();
  }, [chord.events, kinds, text]);

  function pick(e: LogEntry) {
    setPicked(e.n);
    const nodes = e.nodes.length > 0 ? e.nodes : [e.node];
    store.setUi({ highlight: nodes, highlightUntil: performance.now() + 4000 });
    if (e.path && e.path.length > 0) store.updateChord((s) => addUserPath(s, e.path ?? [], e.key_pos, e.key ?? e.kind, e.kind === "lookup_completed"));
  }

  return (
    <section className="log" data-testid="activity-log">
      <h2>
        Activity <span className="hint">{chord.events.length} events{chord.dropped > 0 ? ` · ${chord.dropped} sampled out` : ""}</span>
      </h2>
      <div className="row filters">
        {FILTERS.map((f) => (
          <label key={f.name} className="chip">
            <input type="checkbox" checked={on[f.name]} onChange={(ev) => setOn((o) => ({ ...o, [f.name]: ev.target.checked }))} />
            {f.name}
          </label>
        ))}
        <input className="grow" placeholder="filter: text, key or node id" value={text} onChange={(ev) => setText(ev.target.value)} data-testid="log-filter" />
      </div>
      <ol className="entries">
        {shown.map((e) => (
          <li key={e.n} className={`${kindClass(e.kind)} ${picked === e.n ? "picked" : ""}`} onClick={() => pick(e)} title={e.nodes.join(", ")} data-kind={e.kind}>
            <span className="t">{fmtTime(e.time)}</span>
            <span className="k">{e.kind.replace(/_/g, " ")}</span>
            <span className="x">{e.text}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
