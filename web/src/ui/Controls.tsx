import { useEffect, useMemo, useRef, useState } from "react";
import type { Connection } from "../connection";
import { keyId } from "../keyid";
import { coerce, parseParamsInfo, tooltip, type ParamSpec } from "../params";
import { addUserPath, type ChordState } from "../reducer";
import { keyPosFrom } from "../renderer";
import type { Store, UiState } from "../store";
import type { KvResult } from "../types";
import { shortId } from "./hooks";

interface Props {
  store: Store;
  conn: Connection;
  chord: ChordState;
  ui: UiState;
  teaching: boolean;
  setTeaching: (on: boolean) => void;
}

const SPEEDS = ["0.1", "0.25", "0.5", "1", "2", "5", "10", "50", "100", "1000", "max"];

const PRESETS: { name: string; title: string; values: Record<string, string> }[] = [
  { name: "Classroom", title: "m = 6: 64 id positions, 8 nodes, slow — every finger visible", values: { world: "virtual", nodes: "8", id_bits: "6", workload_rate: "0.5", speed: "1" } },
  { name: "64 nodes", title: "the default ring", values: { world: "virtual", nodes: "64", id_bits: "32", workload_rate: "5" } },
  { name: "1,000 + churn", title: "1,000 nodes with joins and crashes", values: { world: "virtual", nodes: "1000", id_bits: "32", workload_rate: "20", join_rate: "0.2", crash_rate: "0.2" } },
  { name: "10,000", title: "10,000 nodes (the view aggregates)", values: { world: "virtual", nodes: "10000", id_bits: "160", workload_rate: "20" } },
  { name: "Live 10", title: "10 real node processes over gRPC", values: { world: "live", nodes: "10", id_bits: "32", workload_rate: "2" } },
];

export function toast(store: Store, text: string, error = false): void {
  store.setUi({ toast: { text, error, at: Date.now() } });
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function Controls({ store, conn, chord, ui, teaching, setTeaching }: Props) {
  const [specs, setSpecs] = useState<ParamSpec[]>([]);
  const [values, setValues] = useState<Record<string, string>>({});
  const [loadError, setLoadError] = useState<string | null>(null);
  const [formErrors, setFormErrors] = useState<string[]>([]);
  const [key, setKey] = useState("apple");
  const [keyAt, setKeyAt] = useState("");
  const [value, setValue] = useState("red");
  const [consistency, setConsistency] = useState("");
  const [kv, setKv] = useState<string>("");
  const [newId, setNewId] = useState("");
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let cancelled = false;
    fetch("api/params")
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`GET /api/params: ${r.status}`))))
      .then((info: unknown) => {
        if (cancelled) return;
        const s = parseParamsInfo(info);
        setSpecs(s);
        const v: Record<string, string> = {};
        for (const p of s) v[p.name] = String(p.default ?? "");
        setValues(v);
      })
      .catch((e: unknown) => !cancelled && setLoadError(errText(e)));
    return () => {
      cancelled = true;
    };
  }, []);

  // Until the user edits the form, it shows the parameters of the simulation being watched.
  const runParams = chord.params;
  const touched = useRef(false);
  useEffect(() => {
    if (!runParams || touched.current) return;
    setValues((old) => {
      const next = { ...old };
      for (const [k, v] of Object.entries(runParams)) next[k] = String(v);
      return next;
    });
  }, [runParams]);

  const groups = useMemo(() => {
    const m = new Map<string, ParamSpec[]>();
    for (const s of specs) m.set(s.group, [...(m.get(s.group) ?? []), s]);
    return [...m.entries()];
  }, [specs]);

  async function run(action: string, args: Record<string, unknown> = {}): Promise<Record<string, unknown> | null> {
    setBusy(true);
    try {
      return await conn.command(action, args);
    } catch (e) {
      toast(store, `${action}: ${errText(e)}`, true);
      return null;
    } finally {
      setBusy(false);
    }
  }

  function collect(names?: string[]): Record<string, unknown> | null {
    const args: Record<string, unknown> = {};
    const errors: string[] = [];
    for (const s of specs) {
      if (names && !names.includes(s.name)) continue;
      const r = coerce(s, values[s.name] ?? "");
      if ("error" in r) errors.push(r.error);
      else args[s.name] = r.value;
    }
    setFormErrors(errors);
    return errors.length > 0 ? null : args;
  }

  async function start() {
    const args = collect();
    if (!args) return;
    const r = await run("start", args);
    if (r) toast(store, `started: ${String(args.nodes ?? "")} nodes, ${String(args.world ?? "")} world`);
  }

  /** put / get / delete from the key box; `atId`: a put by key id (teaching mode, m ≤ 20). */
  async function kvOp(action: "put" | "get" | "delete", atId?: string) {
    if (!key && atId === undefined) return;
    setKv("");
    store.setUi({ toast: null });
    const args: Record<string, unknown> = atId !== undefined ? { key_id: atId } : { key };
    if (action === "put") {
      let v: unknown = value;
      try {
        v = JSON.parse(value);
      } catch {
        v = value; // plain text
      }
      args.value = v;
    }
    if (action === "get" && consistency) args.consistency = consistency;
    const data = await run(action, args);
    if (!data) {
      setKv("");
      return;
    }
    const res = data as unknown as KvResult;
    if (atId !== undefined) setKey(res.key);
    const path = Array.isArray(res.path) ? res.path : [];
    const found = action === "get" ? (res.found ? `= ${JSON.stringify(res.value)}` : "not found") : action === "put" ? "stored" : "deleted";
    setKv(
      `${action} ${res.key} (id ${shortId(res.key_id, chord.idBits)}): ${found} · owner ${shortId(res.owner, chord.idBits)}${res.owner_address ? ` (${res.owner_address})` : ""} · ${res.hops} hops${res.version !== null && res.version !== undefined ? ` · v${res.version}` : ""}`,
    );
    store.updateChord((s) => addUserPath(s, path, keyPosFrom(data, s.idBits), `${action} ${res.key}`));
  }

  const running = chord.status === "running";
  const paused = chord.status === "paused";
  const active = running || paused;
  const connected = ui.conn === "open";
  const set = (name: string, v: string) => {
    touched.current = true;
    setValues((old) => ({ ...old, [name]: v }));
  };

  return (
    <div className="controls">
      <section>
        <h2>Simulation</h2>
        <div className="row buttons">
          <button data-testid="btn-start" disabled={!connected || busy} onClick={start} title="start a new simulation with the parameters below (replaces the current one)">
            Start
          </button>
          <button data-testid="btn-stop" disabled={!connected || !active} onClick={() => run("stop")} title="stop the simulation (live: ends every node process)">
            Stop
          </button>
          <button data-testid="btn-pause" disabled={!connected || !active} onClick={() => run(paused ? "resume" : "pause")} title="pause or resume time">
            {paused ? "Resume" : "Pause"}
          </button>
          <button
            data-testid="btn-step"
            disabled={!connected || !active || chord.world !== "virtual"}
            onClick={() => run("step")}
            title="advance virtual time by one stabilize period (virtual world)"
          >
            Step
          </button>
        </div>
        <label className="row" title="virtual seconds per wall second; max: as fast as the CPU allows">
          Speed
          <select
            data-testid="speed"
            value={SPEEDS.includes(String(chord.speed)) ? String(chord.speed) : "1"}
            disabled={!connected || chord.world !== "virtual"}
            onChange={(e) => run("speed", { speed: e.target.value === "max" ? "max" : Number(e.target.value) })}
          >
            {SPEEDS.map((s) => (
              <option key={s} value={s}>
                {s === "max" ? "max" : `×${s}`}
              </option>
            ))}
          </select>
        </label>
        <div className="row presets">
          {PRESETS.map((p) => (
            <button key={p.name} className="small" title={p.title} onClick={() => {
                touched.current = true;
                setValues((old) => ({ ...old, ...p.values }));
              }}>
              {p.name}
            </button>
          ))}
        </div>
        <label className="row" title="teaching mode (m ≤ 8): every id position as a labelled tick, fingers with their intervals">
          <input type="checkbox" checked={teaching} onChange={(e) => setTeaching(e.target.checked)} data-testid="teaching" /> Teaching view
          {chord.idBits > 8 && teaching && <span className="hint"> (needs m ≤ 8)</span>}
        </label>
      </section>

      <section>
        <h2>Key</h2>
        <div className="row">
          <input
            data-testid="key-input"
            value={key}
            onChange={(e) => setKey(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && connected && active) void kvOp("get");
            }}
            placeholder="key"
            title="the key (hashed onto the ring with SHA-1); Enter: get"
          />
          <input data-testid="value-input" value={value} onChange={(e) => setValue(e.target.value)} placeholder="value (JSON or text)" title="value for put: JSON, or plain text" />
        </div>
        <div className="row buttons">
          <button data-testid="btn-put" disabled={!connected || !active} onClick={() => kvOp("put")} title="store the key on its owner (and replicas); the lookup path is drawn">
            Put
          </button>
          <button data-testid="btn-get" disabled={!connected || !active} onClick={() => kvOp("get")} title="read the key; the lookup path is drawn hop by hop">
            Get
          </button>
          <button data-testid="btn-delete" disabled={!connected || !active} onClick={() => kvOp("delete")} title="delete the key (a versioned tombstone)">
            Delete
          </button>
          <select value={consistency} onChange={(e) => setConsistency(e.target.value)} title="read consistency for get (default: the ring's mode)">
            <option value="">ring's mode</option>
            <option value="linearizable">linearizable</option>
            <option value="eventual">eventual</option>
          </select>
        </div>
        {chord.idBits <= 16 && key && (
          <div className="hint" data-testid="key-id-hint">
            “{key}” hashes to id {String(keyId(key, chord.idBits))} (top {chord.idBits} bits of its SHA-1)
          </div>
        )}
        {chord.idBits <= 20 && (
          <div className="row">
            <input
              data-testid="key-at-id"
              value={keyAt}
              onChange={(e) => setKeyAt(e.target.value)}
              placeholder={`id 0…${2 ** chord.idBits - 1}`}
              title="teaching: insert a key that lands on this id (the conductor names it: the first k0, k1, … hashing there)"
            />
            <button
              data-testid="btn-put-at-id"
              className="small"
              disabled={!connected || !active || !/^\d+$/.test(keyAt) || Number(keyAt) >= 2 ** chord.idBits}
              onClick={() => void kvOp("put", keyAt)}
            >
              Put a key at this id
            </button>
          </div>
        )}
        <div className="kv-result" data-testid="key-result">
          {kv}
        </div>
      </section>

      <section>
        <h2>Nodes</h2>
        <div className="row">
          <input
            data-testid="add-node-id"
            value={ui.slot !== null && newId === "" ? String(ui.slot) : newId}
            onChange={(e) => setNewId(e.target.value)}
            placeholder="id (optional)"
            title="join a node with this decimal id (teaching mode); empty: the hash of its address"
          />
          <button
            data-testid="btn-add-node"
            disabled={!connected || !active}
            onClick={async () => {
              const id = newId || (ui.slot !== null ? String(ui.slot) : "");
              const r = await run("add_node", id ? { id } : {});
              if (r) toast(store, `node joining${id ? ` at ${id}` : ""}`);
              setNewId("");
            }}
          >
            + Add node
          </button>
        </div>
        <p className="hint">Click a node on the ring to inspect it, make it leave or crash it.</p>
      </section>

      <section>
        <h2>Change while running</h2>
        <div className="row buttons">
          <button
            className="small"
            disabled={!connected || !active}
            title="apply the workload fields below (rate, mix, popularity) to the running simulation"
            onClick={() => {
              const a = collect(["workload_rate", "mix_get", "mix_put", "mix_delete", "mix_lookup", "popularity", "zipf_exponent"]);
              if (a)
                void run("set_workload", {
                  rate: a.workload_rate,
                  get: a.mix_get,
                  put: a.mix_put,
                  delete: a.mix_delete,
                  lookup: a.mix_lookup,
                  popularity: a.popularity,
                  zipf: a.zipf_exponent,
                });
            }}
          >
            Apply workload
          </button>
          <button
            className="small"
            disabled={!connected || !active}
            title="apply the churn rates below to the running simulation"
            onClick={() => {
              const a = collect(["join_rate", "leave_rate", "crash_rate"]);
              if (a) void run("set_churn", a);
            }}
          >
            Apply churn
          </button>
          <button className="small" disabled={!connected || !active || chord.world !== "virtual"} onClick={() => run("heal")} title="remove every partition (virtual)">
            Heal
          </button>
        </div>
      </section>

      <section>
        <h2>Dataset and reports</h2>
        <label className="row" title="upload a dataset: one record a line, text or JSON with key/value; then start with dataset = uploaded">
          <input
            type="file"
            data-testid="dataset-file"
            disabled={!connected}
            onChange={async (e) => {
              const file = e.target.files?.[0];
              if (!file) return;
              const form = new FormData();
              form.append("file", file);
              try {
                const r = await fetch("api/dataset", { method: "POST", body: form });
                const body = (await r.json()) as { keys?: number; detail?: string };
                if (!r.ok) throw new Error(body.detail ?? `HTTP ${r.status}`);
                touched.current = true;
                setValues((old) => ({ ...old, dataset: "uploaded" }));
                toast(store, `dataset uploaded: ${body.keys ?? "?"} keys (dataset = uploaded; press Start)`);
              } catch (err) {
                toast(store, `upload: ${errText(err)}`, true);
              }
            }}
          />
        </label>
        <div className="row reports">
          <a href="api/report/summary.html" target="_blank" rel="noreferrer" title="one page: parameters, figures and charts">
            summary
          </a>
          <a href="api/report/stats.csv" download="chordial-stats.csv" title="statistics over time (CSV)">
            stats.csv
          </a>
          <a href="api/report/events.jsonl" download="chordial-events.jsonl" title="the event log (JSON lines)">
            events.jsonl
          </a>
          <a href="docs" target="_blank" rel="noreferrer" title="the REST API (OpenAPI)">
            API
          </a>
        </div>
      </section>

      <section>
        <h2>Parameters</h2>
        {loadError && <p className="error">parameters unavailable: {loadError}</p>}
        {formErrors.length > 0 && (
          <ul className="error" data-testid="form-errors">
            {formErrors.map((e) => (
              <li key={e}>{e}</li>
            ))}
          </ul>
        )}
        {groups.map(([group, list]) => (
          <details key={group} open={group === "Ring" || group === "Workload"}>
            <summary>{group}</summary>
            {list.map((s) => (
              <label key={s.name} className="param" title={tooltip(s)} data-param={s.name}>
                <span className="pname">
                  {s.label}
                  {s.unit ? <span className="unit"> [{s.unit}]</span> : null}
                </span>
                {s.kind === "enum" ? (
                  <select value={values[s.name] ?? ""} onChange={(e) => set(s.name, e.target.value)}>
                    {s.choices.map((c) => (
                      <option key={c}>{c}</option>
                    ))}
                  </select>
                ) : s.kind === "bool" ? (
                  <input type="checkbox" checked={values[s.name] === "true"} onChange={(e) => set(s.name, String(e.target.checked))} />
                ) : (
                  <input
                    value={values[s.name] ?? ""}
                    onChange={(e) => set(s.name, e.target.value)}
                    inputMode={s.kind === "text" ? "text" : "decimal"}
                    className={"error" in coerce(s, values[s.name] ?? "") ? "invalid" : ""}
                  />
                )}
              </label>
            ))}
          </details>
        ))}
      </section>
      {ui.toast && (
        <div className={`toast ${ui.toast.error ? "toast-error" : ""}`} data-testid="toast" onClick={() => store.setUi({ toast: null })}>
          {ui.toast.text}
        </div>
      )}
    </div>
  );
}
