"""The report printed at the end of a run."""

from __future__ import annotations

import math
from typing import Any

from .histogram import Histogram
from .progress import fmt_seconds

__all__ = ["bars", "report"]

_PCT_KEYS = ("p50", "p75", "p90", "p95", "p99", "p99.9", "p99.99")


def bars(hist: Histogram, rows: int = 10, width: int = 40) -> list[str]:
    """A text histogram: ``rows`` log-spaced latency ranges from min to max."""
    if hist.count == 0:
        return []
    lo, hi = max(hist.min, 1), max(hist.max, 1)
    if hi <= lo:
        return [f"  {fmt_seconds(lo / 1e9):>10} [{hist.count}] " + "■" * width]
    edges = [lo * (hi / lo) ** (i / rows) for i in range(rows + 1)]
    counts = [0] * rows
    for lower, upper, count in hist.nonzero():
        mid = (lower + upper - 1) / 2
        i = 0 if mid <= lo else min(rows - 1, int(rows * math.log(mid / lo) / math.log(hi / lo)))
        counts[i] += count
    top = max(counts) or 1
    digits = len(str(top))
    return [
        f"  {fmt_seconds(edges[i + 1] / 1e9):>10} [{counts[i]:>{digits}}] "
        + "■" * round(width * counts[i] / top)
        for i in range(rows)
    ]


def report(outcome: Any, *, workers: str) -> str:
    """The human-readable report of a finished run."""
    s: dict[str, Any] = outcome.summary
    lat = s["latency"]
    lines = [
        "Summary:",
        f"  Calls:        {s['count']:,} ({s['ok']:,} ok, {s['errors']:,} errors"
        + (f", {s['unfinished']:,} unfinished)" if s.get("unfinished") else ")"),
        f"  Wall time:    {s['wall']:.3f} s",
        f"  Calls/s:      {s['rate'] or 0:,.1f}",
        f"  Workers:      {workers}",
    ]
    if s.get("target_rate") is not None:
        lines.append(
            f"  Target rate:  {s['target_rate']:,g} calls/s  "
            f"(late starts {s['late']:,}, dropped {s['dropped']:,})"
        )
    if lat["mean"] is not None:
        lines += [
            "",
            "Latency of successful calls:",
            f"  min {fmt_seconds(lat['min'])}   mean {fmt_seconds(lat['mean'])}   "
            f"stdev {fmt_seconds(lat['stdev'])}   max {fmt_seconds(lat['max'])}",
        ]
        sched = s.get("scheduled_latency")
        if sched and sched.get("mean") is not None:
            lines.append("  percentile   from actual start   from scheduled start")
            for key in _PCT_KEYS:
                lines.append(
                    f"  {key:<10} {fmt_seconds(lat[key]):>19} {fmt_seconds(sched[key]):>22}"
                )
        else:
            for key in _PCT_KEYS:
                lines.append(f"  {key:<8} {fmt_seconds(lat[key]):>12}")
        lines += ["", "Latency histogram:", *bars(outcome.histogram)]
    if s["results"]:
        lines += ["", "Results:"]
        for item in s["results"][:20]:
            lines.append(f"  {item['count']:>10,} x {item['value']!r}")
        if len(s["results"]) > 20:
            lines.append(f"  ... {len(s['results']) - 20} more kinds (see the trial)")
    if s["error_kinds"]:
        lines += ["", "Errors:"]
        for item in s["error_kinds"][:20]:
            lines.append(f"  {item['count']:>10,} x {item['type']}: {item['message']}")
        first = s["error_kinds"][0]["traceback"].rstrip().splitlines()
        if first:
            lines.append("  first traceback of the most common error:")
            lines.extend("    " + line for line in first[-12:])
    if s.get("overhead") is not None:
        lines += ["", f"Harness overhead: {fmt_seconds(s['overhead'])} per measured call"]
    for warning in s.get("warnings", []):
        lines.append(f"warning: {warning}")
    lines += ["", f"Trial: {outcome.trial.url} ({outcome.state})"]
    return "\n".join(lines)
