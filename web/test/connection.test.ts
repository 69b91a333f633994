import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CommandError, Connection, wsUrl } from "../src/connection";
import { Store } from "../src/store";

/** A WebSocket stand-in: records what is sent, lets the test play the server. */
class FakeSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 3;
  static all: FakeSocket[] = [];
  readyState = FakeSocket.CONNECTING;
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(data: string): void {
    this.sent.push(data);
  }
  close(): void {
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.();
  }
  // The server's side.
  open(): void {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.();
  }
  receive(msg: unknown): void {
    this.onmessage?.({ data: typeof msg === "string" ? msg : JSON.stringify(msg) });
  }
  drop(): void {
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.();
  }
  lastCommand(): { request_id: string; action: string; args: Record<string, unknown> } {
    return JSON.parse(this.sent[this.sent.length - 1]);
  }
}

const snapshot = {
  type: "snapshot",
  v: 1,
  seq: 1,
  time: 0,
  world: "virtual",
  status: "running",
  speed: 1,
  params: {},
  id_bits: 8,
  detail: true,
  nodes: [{ id: "5", pos: 5 / 256, address: "sim-0", state: "live", predecessor: null, successors: [], fingers: [], keys: 0, replicas: 0 }],
};

describe("connection", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.all = [];
    vi.stubGlobal("WebSocket", FakeSocket);
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it("builds the socket address from the page's", () => {
    expect(wsUrl({ protocol: "http:", host: "127.0.0.1:4321" } as Location)).toBe("ws://127.0.0.1:4321/ws");
    expect(wsUrl({ protocol: "https:", host: "example.org" } as Location)).toBe("wss://example.org/ws");
  });

  it("feeds the reducer and reports the connection state", () => {
    const store = new Store(0);
    const conn = new Connection(store, "ws://x/ws");
    conn.connect();
    expect(store.ui.conn).toBe("connecting");
    const ws = FakeSocket.all[0];
    ws.open();
    expect(store.ui.conn).toBe("open");
    expect(store.chord.connected).toBe(true);
    ws.receive(snapshot);
    ws.receive("garbage {");
    expect(store.chord.nodes.size).toBe(1);
    expect(store.chord.idBits).toBe(8);
  });

  it("answers commands with their results", async () => {
    const store = new Store(0);
    const conn = new Connection(store, "ws://x/ws");
    conn.connect();
    const ws = FakeSocket.all[0];
    ws.open();
    const ok = conn.command("get", { key: "apple" });
    const sent = ws.lastCommand();
    expect(sent).toMatchObject({ type: "command", action: "get", args: { key: "apple" } });
    ws.receive({ type: "result", v: 1, request_id: sent.request_id, ok: true, data: { hops: 2 }, error: null });
    await expect(ok).resolves.toEqual({ hops: 2 });

    const bad = conn.command("crash", { node: "404" });
    ws.receive({ type: "result", v: 1, request_id: ws.lastCommand().request_id, ok: false, data: null, error: "unknown node 404" });
    await expect(bad).rejects.toThrow("unknown node 404");

    const viaError = conn.command("inspect", { node: "x" });
    ws.receive({ type: "error", v: 1, message: "bad id", request_id: ws.lastCommand().request_id });
    await expect(viaError).rejects.toThrow("bad id");
  });

  it("times out, and refuses commands while disconnected", async () => {
    const store = new Store(0);
    const conn = new Connection(store, "ws://x/ws");
    await expect(conn.command("stop")).rejects.toBeInstanceOf(CommandError);
    conn.connect();
    FakeSocket.all[0].open();
    const slow = conn.command("step", {}, 1000);
    vi.advanceTimersByTime(1001);
    await expect(slow).rejects.toThrow("no answer");
  });

  it("fails pending commands on disconnect and reconnects with backoff", async () => {
    const store = new Store(0);
    const conn = new Connection(store, "ws://x/ws");
    conn.connect();
    FakeSocket.all[0].open();
    const pending = conn.command("get", { key: "k" });
    FakeSocket.all[0].drop();
    await expect(pending).rejects.toThrow("connection lost");
    expect(store.ui.conn).toBe("closed");
    expect(store.chord.connected).toBe(false);
    vi.advanceTimersByTime(499);
    expect(FakeSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(2); // first retry after 0.5 s
    FakeSocket.all[1].drop();
    vi.advanceTimersByTime(999);
    expect(FakeSocket.all).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(3); // then 1 s, doubling up to 5 s
    FakeSocket.all[2].open();
    expect(store.ui.conn).toBe("open");
    conn.close();
    vi.advanceTimersByTime(10_000);
    expect(FakeSocket.all).toHaveLength(3); // closed on purpose: no retry
  });
});

describe("store", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("throttles stream updates for React but not UI changes", () => {
    const store = new Store(150);
    const seen: number[] = [];
    store.subscribe(() => seen.push(store.getSnapshot().chord.seq));
    const bump = (seq: number) => store.updateChord((s) => ({ ...s, seq }));
    bump(1); // first change: at once
    bump(2);
    bump(3);
    expect(seen).toEqual([1]);
    vi.advanceTimersByTime(150);
    expect(seen).toEqual([1, 3]); // the rest coalesced into one
    store.setUi({ selected: "5" }); // a click: at once
    expect(seen).toHaveLength(3);
    expect(store.getSnapshot().ui.selected).toBe("5");
    const v = store.version;
    store.setChord(store.chord); // no change, no bump
    expect(store.version).toBe(v);
  });
});
