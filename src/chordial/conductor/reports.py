"""Exports of a run, so it can be studied after the fact: statistics over time as CSV, the event
log as JSON lines, and a one-page HTML summary whose charts are PNGs inlined as base64 (the page
needs no server and no network to open)."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from typing import Any

from chordial.conductor.protocol import Params

__all__ = ["CSV_COLUMNS", "events_jsonl", "stats_csv", "summary_html"]

CSV_COLUMNS = (
    "time",
    "node_count",
    "ops_per_s",
    "lookups_per_s",
    "hops_mean",
    "hops_p99",
    "latency_ms_mean",
    "latency_ms_p99",
    "failures",
    "timeouts",
    "stale_reads",
    "keys_min",
    "keys_mean",
    "keys_max",
    "keys_p99",
    "correct_successors",
    "correct_predecessors",
    "correct_fingers",
    "invariants_ok",
    "messages_per_s",
)


def _row(stats: dict[str, Any]) -> dict[str, Any]:
    keys = stats.get("keys_per_node") or {}
    right = stats.get("correctness") or {}
    row = {name: stats.get(name) for name in CSV_COLUMNS}
    row.update(
        keys_min=keys.get("min"),
        keys_mean=keys.get("mean"),
        keys_max=keys.get("max"),
        keys_p99=keys.get("p99"),
        correct_successors=right.get("successors"),
        correct_predecessors=right.get("predecessors"),
        correct_fingers=right.get("fingers"),
        messages_per_s=sum((stats.get("messages_per_s") or {}).values()),
    )
    return {k: ("" if v is None else round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}


def stats_csv(history: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for stats in history:
        writer.writerow(_row(stats))
    return out.getvalue()


def events_jsonl(events: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(e, separators=(",", ":"), ensure_ascii=False) + "\n" for e in events)


def _chart(history: list[dict[str, Any]], title: str, series: list[tuple[str, str]], ylabel: str) -> str:
    """One line chart as a base64 PNG (matplotlib's Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 2.6), dpi=90)
    times = [float(s.get("time") or 0.0) for s in history]
    for column, label in series:
        values = [_row(s).get(column) for s in history]
        points = [(t, float(v)) for t, v in zip(times, values, strict=True) if v not in ("", None)]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], label=label, linewidth=1.4)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def summary_html(params: Params, history: list[dict[str, Any]], event_count: int) -> str:
    """The one-page summary: parameters, last figures, and charts over the run."""
    last = history[-1] if history else {}
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in params.model_dump(mode="json").items()
    )
    figures = [
        ("nodes", last.get("node_count")),
        ("virtual/wall time", last.get("time")),
        ("ops/s (last)", last.get("ops_per_s")),
        ("hops mean / p99 (last)", f"{last.get('hops_mean')} / {last.get('hops_p99')}"),
        ("failures (cumulative)", last.get("failures")),
        ("timeouts (cumulative)", last.get("timeouts")),
        ("stale reads (cumulative)", last.get("stale_reads")),
        ("invariants", "ok" if last.get("invariants_ok", True) else "; ".join(last.get("violations") or [])),
        ("events logged", event_count),
        ("statistics rows", len(history)),
    ]
    figure_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in figures)
    charts = ""
    if history:
        specs = [
            ("Throughput", [("ops_per_s", "ops/s"), ("lookups_per_s", "lookups/s")], "per second"),
            ("Lookup hops", [("hops_mean", "mean"), ("hops_p99", "p99")], "hops"),
            ("Latency", [("latency_ms_mean", "mean"), ("latency_ms_p99", "p99")], "ms"),
            ("Failures", [("failures", "failures"), ("timeouts", "timeouts"), ("stale_reads", "stale reads")], "count"),
            ("Keys per node", [("keys_min", "min"), ("keys_mean", "mean"), ("keys_p99", "p99")], "keys"),
            ("Ring correctness", [("correct_successors", "successors"), ("correct_fingers", "fingers")], "fraction"),
        ]
        charts = "".join(
            f'<img alt="{html.escape(title)}" src="data:image/png;base64,{_chart(history, title, series, unit)}">'
            for title, series, unit in specs
        )
    else:
        charts = "<p>No statistics yet: start a simulation and let it run a few seconds.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Chordial run summary</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222 }}
table {{ border-collapse: collapse; margin-right: 2em; vertical-align: top; display: inline-table }}
th, td {{ text-align: left; padding: 2px 8px; border-bottom: 1px solid #eee }}
img {{ display: block; margin: 1em 0 }}
</style></head><body>
<h1>Chordial run summary</h1>
<table><caption>Parameters</caption>{rows}</table>
<table><caption>Figures</caption>{figure_rows}</table>
<h2>Over time</h2>
{charts}
</body></html>
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
