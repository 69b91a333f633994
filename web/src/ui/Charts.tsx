import { useEffect, useRef } from "react";
import uPlot from "uplot";
import { emptySeries, type ChordState, type StatsSeries } from "../reducer";

interface ChartDef {
  title: string;
  unit: string;
  /** `right`: on its own scale, with its axis on the right (a rate of another magnitude). */
  series: { label: string; col: keyof StatsSeries; colour: string; right?: boolean }[];
}

const CHARTS: ChartDef[] = [
  {
    title: "Operations",
    unit: "per second",
    series: [
      { label: "workload ops/s", col: "ops", colour: "#60a5fa" },
      { label: "all lookups/s (right axis)", col: "lookups", colour: "#34d399", right: true },
    ],
  },
  {
    title: "Lookup hops",
    unit: "hops",
    series: [
      { label: "mean", col: "hopsMean", colour: "#fbbf24" },
      { label: "p99", col: "hopsP99", colour: "#f87171" },
    ],
  },
  {
    title: "Failures (cumulative)",
    unit: "count",
    series: [
      { label: "failures", col: "failures", colour: "#f87171" },
      { label: "timeouts", col: "timeouts", colour: "#fb923c" },
      { label: "stale reads", col: "staleReads", colour: "#c084fc" },
    ],
  },
  {
    title: "Keys per node",
    unit: "keys",
    series: [
      { label: "min", col: "keysMin", colour: "#94a3b8" },
      { label: "mean", col: "keysMean", colour: "#60a5fa" },
      { label: "p99", col: "keysP99", colour: "#fbbf24" },
      { label: "max", col: "keysMax", colour: "#f87171" },
    ],
  },
];

function dataOf(def: ChartDef, s: StatsSeries): uPlot.AlignedData {
  return [s.time, ...def.series.map((x) => s[x.col] as (number | null)[])];
}

function Chart({ def, stats }: { def: ChartDef; stats: StatsSeries }) {
  const host = useRef<HTMLDivElement | null>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const axis = { stroke: "#94a3b8", grid: { stroke: "#1e293b" }, ticks: { stroke: "#334155" } };
    const opts: uPlot.Options = {
      width: Math.max(160, el.clientWidth),
      height: Math.max(80, el.clientHeight),
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false } },
      axes: [
        { ...axis, size: 24, values: (_u, ticks) => ticks.map((t) => `${t}s`) },
        { ...axis, size: 54 },
        ...(def.series.some((x) => x.right) ? [{ ...axis, scale: "right", side: 1, size: 50, grid: { show: false } }] : []),
      ],
      series: [
        { label: "t" },
        ...def.series.map((x) => ({ label: x.label, stroke: x.colour, width: 1.5, spanGaps: false, scale: x.right ? "right" : "y" })),
      ],
    };
    const u = new uPlot(opts, dataOf(def, emptySeries()), el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(160, el.clientWidth), height: Math.max(80, el.clientHeight) }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [def]);

  useEffect(() => {
    plot.current?.setData(dataOf(def, stats));
  }, [def, stats]);

  return (
    <div className="chart">
      <div className="chart-title">
        {def.title} <span className="unit">[{def.unit}]</span>
        <div className="chart-keys">
          {def.series.map((x) => (
            <span key={x.label} style={{ color: x.colour }}>
              ━ {x.label}
            </span>
          ))}
        </div>
      </div>
      <div className="chart-body" ref={host} />
    </div>
  );
}

function fmt(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits);
}

/** The latest figures that are not worth a chart: latency, top keys, messages by type. */
function Now({ chord }: { chord: ChordState }) {
  const s = chord.lastStats;
  if (!s) return <div className="now hint">no statistics yet</div>;
  const messages = Object.entries(s.messages_per_s)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6);
  return (
    <div className="now" data-testid="now">
      <div className="chart-title">Now</div>
      <div title="lookup latency, mean and 99th percentile">
        latency {fmt(s.latency_ms_mean)} / {fmt(s.latency_ms_p99)} ms
      </div>
      <div title="keys per node: min / mean / p99 / max">
        keys/node {fmt(s.keys_per_node.min, 0)} · {fmt(s.keys_per_node.mean)} · {fmt(s.keys_per_node.p99, 0)} · {fmt(s.keys_per_node.max, 0)}
      </div>
      {s.top_keys.length > 0 && (
        <div title="the most read keys">
          top keys:{" "}
          {s.top_keys
            .slice(0, 4)
            .map(([k, n]) => `${k} (${n})`)
            .join(", ")}
        </div>
      )}
      {messages.length > 0 && (
        <div title="protocol messages per second, by type">
          msgs/s: {messages.map(([k, v]) => `${k} ${v.toFixed(0)}`).join(" · ")}
        </div>
      )}
    </div>
  );
}

export function Charts({ chord }: { chord: ChordState }) {
  return (
    <div className="chart-row" data-testid="charts">
      {CHARTS.map((def) => (
        <Chart key={def.title} def={def} stats={chord.stats} />
      ))}
      <Now chord={chord} />
    </div>
  );
}
