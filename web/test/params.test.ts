import { describe, expect, it } from "vitest";
import { coerce, parseParamsInfo, tooltip } from "../src/params";

// Shaped like pydantic's Params.model_json_schema() inside GET /api/params.
const info = {
  defaults: { world: "virtual", nodes: 64, loss: 0, speed: 1, preload: true },
  schema: {
    properties: {
      world: { default: "virtual", description: "where it runs", enum: ["virtual", "live"], title: "World", type: "string" },
      nodes: { default: 64, description: "Nodes at the start", maximum: 100000, minimum: 1, title: "Nodes", type: "integer", unit: "nodes" },
      loss: { default: 0, description: "loss probability", maximum: 0.5, minimum: 0, title: "Loss", type: "number" },
      speed: {
        anyOf: [{ maximum: 1000, minimum: 0.1, type: "number" }, { const: "max", type: "string" }],
        default: 1,
        title: "Speed",
      },
      preload: { default: true, type: "boolean", title: "Preload" },
      popularity: { $ref: "#/$defs/Pop", default: "uniform" },
    },
    $defs: { Pop: { enum: ["uniform", "zipf"], type: "string" } },
  },
  live_node_limit: 400,
  detail_limit: 2000,
};

describe("params form", () => {
  const specs = parseParamsInfo(info);
  const by = (n: string) => specs.find((s) => s.name === n)!;

  it("reads kinds, ranges, units and defaults", () => {
    expect(specs.map((s) => s.name)).toEqual(["world", "nodes", "loss", "speed", "preload", "popularity"]);
    expect(by("world")).toMatchObject({ kind: "enum", choices: ["virtual", "live"], default: "virtual", group: "Ring" });
    expect(by("nodes")).toMatchObject({ kind: "int", min: 1, max: 100000, unit: "nodes", default: 64 });
    expect(by("loss")).toMatchObject({ kind: "float", min: 0, max: 0.5, group: "Network" });
    expect(by("speed")).toMatchObject({ kind: "speed", min: 0.1, max: 1000, choices: ["max"] });
    expect(by("preload")).toMatchObject({ kind: "bool", default: true });
    expect(by("popularity")).toMatchObject({ kind: "enum", choices: ["uniform", "zipf"] });
  });

  it("validates values", () => {
    expect(coerce(by("nodes"), "200")).toEqual({ value: 200 });
    expect(coerce(by("nodes"), "0")).toEqual({ error: "Nodes: at least 1" });
    expect(coerce(by("nodes"), "2.5")).toEqual({ error: "Nodes: a whole number" });
    expect(coerce(by("loss"), "x")).toEqual({ error: "Loss: not a number" });
    expect(coerce(by("speed"), "max")).toEqual({ value: "max" });
    expect(coerce(by("speed"), "5000")).toEqual({ error: "Speed: at most 1000" });
    expect(coerce(by("world"), "mars")).toHaveProperty("error");
    expect(coerce(by("preload"), "false")).toEqual({ value: false });
  });

  it("writes tooltips with meaning, range and unit", () => {
    const t = tooltip(by("nodes"));
    expect(t).toContain("Nodes at the start");
    expect(t).toContain("range 1 – 100000 nodes");
    expect(t).toContain("default 64");
  });

  it("survives junk", () => {
    expect(parseParamsInfo(null)).toEqual([]);
    expect(parseParamsInfo({ schema: { properties: { x: 3 } } })).toEqual([]);
  });
});
