import { useEffect, useRef, useState } from "react";
import type { Connection } from "../connection";
import type { ChordState } from "../reducer";
import type { Store } from "../store";
import type { NodeDetail } from "../types";
import { fingerStartText, shortId } from "./hooks";

interface Props {
  conn: Connection;
  chord: ChordState;
  store: Store;
  nodeId: string | null;
  onClose: () => void;
}

/** The node inspector: everything one node knows, from the `inspect` command, refreshed while open. */
export function Inspector({ conn, chord, store, nodeId, onClose }: Props) {
  const [detail, setDetail] = useState<NodeDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const bits = chord.idBits;
  const view = nodeId !== null ? chord.nodes.get(nodeId) : undefined;

  // Fetch on open, then once a second while this node's view keeps changing (one request in
  // flight at most; answers for a node no longer inspected are dropped).
  const viewRef = useRef(view);
  viewRef.current = view;
  useEffect(() => {
    setDetail(null);
    setError(null);
    if (nodeId === null) return;
    let cancelled = false;
    let inFlight = false;
    let fetchedView: unknown;
    const fetchNow = () => {
      if (inFlight) return;
      inFlight = true;
      fetchedView = viewRef.current;
      conn
        .command("inspect", { node: nodeId })
        .then((data) => {
          if (cancelled) return;
          setDetail(data as unknown as NodeDetail);
          setError(null);
        })
        .catch((e: unknown) => {
          if (!cancelled) setError(e instanceof Error ? e.message : String(e));
        })
        .finally(() => {
          inFlight = false;
        });
    };
    fetchNow();
    const timer = setInterval(() => {
      if (viewRef.current !== fetchedView) fetchNow();
    }, 1000);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, [conn, nodeId]);

  if (nodeId === null) return null;
  const highlight = (ids: (string | null)[]) =>
    store.setUi({ highlight: ids.filter((x): x is string => x !== null), highlightUntil: performance.now() + 3000 });
  const link = (id: string | null) =>
    id === null ? (
      "–"
    ) : (
      <a
        href="#"
        className="idlink"
        title={id}
        onClick={(e) => {
          e.preventDefault();
          store.setUi({ selected: id });
          highlight([id]);
        }}
      >
        {shortId(id, bits)}
      </a>
    );
  const d = detail;
  const owned = d ? d.keys_held.filter((k) => k.owned) : [];
  const copies = d ? d.keys_held.filter((k) => !k.owned) : [];
  return (
    <section className="inspector" data-testid="inspector" data-node={nodeId}>
      <h2>
        Node {shortId(nodeId, bits)}
        <button className="small close" onClick={onClose} title="close the inspector">
          ×
        </button>
      </h2>
      {error && <p className="error">{error}</p>}
      {!d && !error && <p className="hint">asking the node…</p>}
      {d && (
        <>
          <table className="kv">
            <tbody>
              <tr>
                <th>id</th>
                <td className="mono wrap" data-testid="inspector-id">
                  {d.id}
                </td>
              </tr>
              <tr>
                <th>address</th>
                <td className="mono">{d.address}</td>
              </tr>
              <tr>
                <th>state</th>
                <td>
                  <span className={`state state-${d.state}`}>{d.state}</span>
                </td>
              </tr>
              <tr>
                <th>predecessor</th>
                <td>{link(d.predecessor)}</td>
              </tr>
              <tr>
                <th>successors</th>
                <td>
                  {d.successors.map((s, i) => (
                    <span key={`${s}-${i}`}>
                      {i > 0 ? " → " : ""}
                      {link(s)}
                    </span>
                  ))}
                </td>
              </tr>
              <tr>
                <th>keys</th>
                <td>
                  {d.keys} owned · {d.replicas} replica copies
                </td>
              </tr>
            </tbody>
          </table>
          <h3>Finger table</h3>
          <table className="grid" data-testid="finger-table">
            <thead>
              <tr>
                <th title="finger index i (0-based): start = n + 2^i">i</th>
                <th>start</th>
                <th title="the ids this finger covers: [start, next start)">interval</th>
                <th title="successor(start), as this node believes">node</th>
              </tr>
            </thead>
            <tbody>
              {d.finger_table.map((f) => (
                <tr key={f.index} onMouseEnter={() => highlight([f.node])}>
                  <td>{f.index}</td>
                  <td className="mono" title={f.start}>
                    {fingerStartText(f.start, f.index, bits)}
                  </td>
                  <td className="mono" title={`[${f.start}, ${f.interval_end})`}>
                    {bits <= 32 ? `[${f.start}, ${f.interval_end})` : `${(f.start_pos * 100).toFixed(4)} % …`}
                  </td>
                  <td>{link(f.node)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h3>
            Keys held <span className="hint">({owned.length} owned, {copies.length} replica copies shown)</span>
          </h3>
          <table className="grid" data-testid="keys-held">
            <thead>
              <tr>
                <th>key</th>
                <th>key id</th>
                <th>version</th>
                <th>role</th>
              </tr>
            </thead>
            <tbody>
              {[...owned, ...copies].map((k) => (
                <tr key={`${k.key}-${k.owned}`} className={k.owned ? "owned" : "replica"}>
                  <td className="mono">{k.key}</td>
                  <td className="mono" title={k.key_id}>
                    {shortId(k.key_id, bits)}
                  </td>
                  <td>{k.version}</td>
                  <td>{k.owned ? "owner" : "replica"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
