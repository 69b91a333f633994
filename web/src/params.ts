// The parameter form's model, read from GET /api/params (defaults + the Params JSON schema
// with ranges, units and help). Pure: unit-tested against a schema like pydantic's.

export type ParamKind = "int" | "float" | "enum" | "bool" | "speed" | "text";

export interface ParamSpec {
  name: string;
  label: string;
  kind: ParamKind;
  default: unknown;
  min: number | null;
  max: number | null;
  choices: string[];
  unit: string;
  help: string;
  group: string;
}

type Json = Record<string, unknown>;

const GROUPS: [string, RegExp][] = [
  ["Ring", /^(world|nodes|id_bits|seed|successors|speed)$/],
  ["Maintenance", /period|rpc_timeout|check_invariants/],
  ["Replication", /^(replicas|consistency)$/],
  ["Workload", /^(workload_rate|mix_|popularity|zipf|dataset|preload)/],
  ["Churn", /_rate$/],
  ["Network", /^(latency|loss)/],
];

export function groupOf(name: string): string {
  for (const [group, re] of GROUPS) if (re.test(name)) return group;
  return "Other";
}

function labelOf(name: string): string {
  const s = name.replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function resolve(schema: Json, prop: Json): Json {
  const ref = prop.$ref;
  if (typeof ref === "string" && ref.startsWith("#/$defs/")) {
    const defs = (schema.$defs ?? {}) as Json;
    const target = defs[ref.slice("#/$defs/".length)];
    if (typeof target === "object" && target !== null) return { ...(target as Json), ...prop };
  }
  return prop;
}

/** One field of a JSON schema (pydantic style) as a form parameter. */
export function specOf(schema: Json, name: string, raw: Json, fallback: unknown): ParamSpec {
  const prop = resolve(schema, raw);
  const spec: ParamSpec = {
    name,
    label: typeof prop.title === "string" ? prop.title : labelOf(name),
    kind: "text",
    default: prop.default !== undefined ? prop.default : fallback,
    min: num(prop.minimum) ?? num(prop.exclusiveMinimum),
    max: num(prop.maximum) ?? num(prop.exclusiveMaximum),
    choices: [],
    unit: typeof prop.unit === "string" ? prop.unit : "",
    help: typeof prop.description === "string" ? prop.description : "",
    group: groupOf(name),
  };
  if (fallback !== undefined) spec.default = fallback;
  const variants = Array.isArray(prop.anyOf) ? (prop.anyOf as Json[]) : null;
  if (variants) {
    const numeric = variants.find((v) => v.type === "number" || v.type === "integer");
    const consts = variants.filter((v) => v.const !== undefined || Array.isArray(v.enum));
    if (numeric && consts.length > 0) {
      spec.kind = "speed";
      spec.min = num(numeric.minimum);
      spec.max = num(numeric.maximum);
      spec.choices = consts.flatMap((v) => (Array.isArray(v.enum) ? v.enum.map(String) : [String(v.const)]));
      return spec;
    }
  }
  if (Array.isArray(prop.enum)) {
    spec.kind = "enum";
    spec.choices = prop.enum.map(String);
  } else if (prop.type === "integer") {
    spec.kind = "int";
  } else if (prop.type === "number") {
    spec.kind = "float";
  } else if (prop.type === "boolean") {
    spec.kind = "bool";
  } else if (typeof prop.const === "string") {
    spec.kind = "enum";
    spec.choices = [prop.const];
  }
  return spec;
}

/** GET /api/params → form specs, in the schema's order. Tolerates a bare schema too. */
export function parseParamsInfo(info: unknown): ParamSpec[] {
  if (typeof info !== "object" || info === null) return [];
  const obj = info as Json;
  const schema = (typeof obj.schema === "object" && obj.schema !== null ? obj.schema : obj) as Json;
  const defaults = (typeof obj.defaults === "object" && obj.defaults !== null ? obj.defaults : {}) as Json;
  const props = (schema.properties ?? {}) as Json;
  const out: ParamSpec[] = [];
  for (const [name, raw] of Object.entries(props)) {
    if (typeof raw !== "object" || raw === null) continue;
    out.push(specOf(schema, name, raw as Json, defaults[name]));
  }
  return out;
}

/** Validate one form value against its spec; returns the parsed value or an error line. */
export function coerce(spec: ParamSpec, text: string): { value: unknown } | { error: string } {
  switch (spec.kind) {
    case "bool":
      return { value: text === "true" };
    case "enum":
    case "text":
      if (spec.kind === "enum" && !spec.choices.includes(text)) return { error: `${spec.label}: one of ${spec.choices.join(", ")}` };
      return { value: text };
    case "speed":
    case "int":
    case "float": {
      if (spec.kind === "speed" && spec.choices.includes(text)) return { value: text };
      const v = Number(text);
      if (text.trim() === "" || !Number.isFinite(v)) return { error: `${spec.label}: not a number` };
      if (spec.kind === "int" && !Number.isInteger(v)) return { error: `${spec.label}: a whole number` };
      if (spec.min !== null && v < spec.min) return { error: `${spec.label}: at least ${spec.min}` };
      if (spec.max !== null && v > spec.max) return { error: `${spec.label}: at most ${spec.max}` };
      return { value: v };
    }
  }
}

/** The tooltip: meaning, range and unit. */
export function tooltip(spec: ParamSpec): string {
  const parts = [spec.help || spec.label];
  const unit = spec.unit ? ` ${spec.unit}` : "";
  if (spec.min !== null || spec.max !== null) parts.push(`range ${spec.min ?? "…"} – ${spec.max ?? "…"}${unit}`);
  else if (unit) parts.push(`unit:${unit}`);
  if (spec.choices.length > 0) parts.push(`choices: ${spec.choices.join(", ")}`);
  parts.push(`default ${JSON.stringify(spec.default)}`);
  return parts.join("\n");
}
