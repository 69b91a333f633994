// The wire types, from protocol.ts (generated from the conductor's pydantic models by
// scripts/gen_ts_types.py — never edited by hand). This file only gives them the short
// names the client uses.

import type {
  Delta,
  ErrorMessage,
  EventView,
  FingerDetail,
  FingerRef,
  KeyHeld,
  KvResult,
  NodeDetail,
  NodeView,
  Params,
  ParamsInfo,
  Result,
  ServerMessage,
  Snapshot,
  Stats,
  StatusMessage,
} from "./protocol";

export type {
  EventView,
  FingerDetail,
  FingerRef,
  KeyHeld,
  KvResult,
  NodeDetail,
  NodeView,
  Params,
  ParamsInfo,
};

export type Id = string;
export type NodeState = NodeView["state"];
export type SimStatus = Snapshot["status"];
export type World = Snapshot["world"];
export type Speed = Snapshot["speed"];

export type SnapshotMsg = Snapshot;
export type DeltaMsg = Delta;
export type StatsMsg = Stats;
export type StatusMsg = StatusMessage;
export type ResultMsg = Result;
export type ErrorMsg = ErrorMessage;
export type ServerMsg = ServerMessage;
