import type { RefObject } from "react";
import type { Connection } from "../connection";
import type { ChordState } from "../reducer";
import type { RingRenderer } from "../renderer";
import type { Store, UiState } from "../store";
import { toast } from "./Controls";
import { shortId } from "./hooks";

interface Props {
  store: Store;
  conn: Connection;
  chord: ChordState;
  ui: UiState;
  onInspect: (id: string) => void;
  renderer: RefObject<RingRenderer | null>;
}

/** The actions on the node clicked on the ring (or the empty id slot, in teaching mode). */
export function NodeActions({ store, conn, chord, ui, onInspect }: Props) {
  const id = ui.selected;
  const node = id !== null ? chord.nodes.get(id) : undefined;

  async function act(action: "leave" | "crash", nodeId: string) {
    try {
      await conn.command(action, { node: nodeId });
      toast(store, `${action === "crash" ? "crashed" : "leaving"}: node ${shortId(nodeId, chord.idBits)}`);
    } catch (e) {
      toast(store, `${action}: ${e instanceof Error ? e.message : String(e)}`, true);
    }
  }

  if (id === null && ui.slot !== null) {
    const slot = ui.slot;
    return (
      <div className="node-actions" data-testid="node-actions">
        <div>
          id slot <b>{slot}</b> (no node)
        </div>
        <div className="row buttons">
          <button
            data-testid="btn-add-here"
            onClick={async () => {
              try {
                await conn.command("add_node", { id: String(slot) });
                toast(store, `node joining at ${slot}`);
                store.setUi({ slot: null });
              } catch (e) {
                toast(store, `add_node: ${e instanceof Error ? e.message : String(e)}`, true);
              }
            }}
          >
            + Add a node here
          </button>
          <button className="small" onClick={() => store.setUi({ slot: null })}>
            ×
          </button>
        </div>
      </div>
    );
  }
  if (id === null) return null;
  return (
    <div className="node-actions" data-testid="node-actions" data-node={id}>
      <div>
        node <b title={id}>{shortId(id, chord.idBits)}</b> {node ? <span className={`state state-${node.state}`}>{node.state}</span> : <span className="state">gone</span>}
        {node && <div className="addr">{node.address} · {node.keys} keys · {node.replicas} replicas</div>}
      </div>
      <div className="row buttons">
        <button data-testid="btn-inspect" onClick={() => onInspect(id)} title="open the node inspector">
          Inspect
        </button>
        <button data-testid="btn-leave" disabled={!node || node.state !== "live"} onClick={() => act("leave", id)} title="graceful leave: hands its keys to its successor">
          Leave
        </button>
        <button data-testid="btn-crash" className="danger" disabled={!node || node.state === "crashed" || node.state === "left"} onClick={() => act("crash", id)} title="crash: stops at once, the ring has to notice and heal">
          Crash
        </button>
        {chord.world === "virtual" && (
          <button
            data-testid="btn-partition"
            className="small"
            disabled={!node || node.state !== "live"}
            onClick={async () => {
              try {
                await conn.command("partition", { nodes: [id] });
                toast(store, `node ${shortId(id, chord.idBits)} cut off from the rest (Heal reconnects)`);
              } catch (e) {
                toast(store, `partition: ${e instanceof Error ? e.message : String(e)}`, true);
              }
            }}
            title="cut this node off the network (virtual): messages to and from it are lost until Heal"
          >
            Partition
          </button>
        )}
        <button className="small" onClick={() => store.setUi({ selected: null })} title="deselect">
          ×
        </button>
      </div>
    </div>
  );
}
