// The websocket to the conductor: reconnects with backoff, feeds the reducer, and turns
// commands into promises of their `result`.

import { parseMessage, prefillStats, reduce, seriesFromCsv, setConnected } from "./reducer";
import type { Store } from "./store";
import type { ResultMsg } from "./types";

export class CommandError extends Error {}

interface Pending {
  resolve: (data: Record<string, unknown>) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export function wsUrl(loc: Location): string {
  const proto = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${loc.host}/ws`;
}

export class Connection {
  private ws: WebSocket | null = null;
  private pending = new Map<string, Pending>();
  private nextId = 1;
  private retryMs = 500;
  private closedByUs = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;

  /**
   * `historyUrl`: the conductor's statistics report (CSV); fetched after each snapshot so the
   * charts of a page opened mid-run start at the beginning of the run.
   */
  constructor(
    private readonly store: Store,
    private readonly url: string,
    private readonly historyUrl: string | null = null,
  ) {}

  connect(): void {
    this.closedByUs = false;
    this.store.setUi({ conn: "connecting" });
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.retryMs = 500;
      this.store.setUi({ conn: "open" });
      this.store.updateChord((s) => setConnected(s, true));
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data !== "string") return;
      const msg = parseMessage(ev.data);
      if (msg === null) return;
      if (msg.type === "result") {
        this.settle(msg);
        return;
      }
      if (msg.type === "error" && msg.request_id) {
        this.settle({ type: "result", v: 1, request_id: msg.request_id, ok: false, data: null, error: msg.message });
      }
      this.store.updateChord((s) => reduce(s, msg));
      if (msg.type === "snapshot") void this.loadHistory();
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.store.setUi({ conn: "closed" });
      this.store.updateChord((s) => setConnected(s, false));
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new CommandError("connection lost"));
        this.pending.delete(id);
      }
      if (!this.closedByUs) this.scheduleRetry();
    };
    ws.onerror = () => {
      // onclose follows and handles the retry.
    };
  }

  close(): void {
    this.closedByUs = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.ws?.close();
  }

  /** Send a command; resolves with its `data`, rejects with the server's one-line error. */
  command(action: string, args: Record<string, unknown> = {}, timeoutMs = 15000): Promise<Record<string, unknown>> {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new CommandError("not connected to the conductor"));
    }
    const requestId = `c${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new CommandError(`${action}: no answer within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(requestId, { resolve, reject, timer });
      ws.send(JSON.stringify({ type: "command", request_id: requestId, action, args }));
    });
  }

  private async loadHistory(): Promise<void> {
    if (this.historyUrl === null) return;
    try {
      const response = await fetch(this.historyUrl);
      if (!response.ok) return;
      const history = seriesFromCsv(await response.text());
      this.store.updateChord((s) => prefillStats(s, history));
    } catch {
      // No history: the charts start from now.
    }
  }

  private settle(msg: ResultMsg): void {
    const p = this.pending.get(msg.request_id);
    if (!p) return;
    this.pending.delete(msg.request_id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.data ?? {});
    else p.reject(new CommandError(msg.error ?? "command failed"));
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== null) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(5000, this.retryMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }
}
