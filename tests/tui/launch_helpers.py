"""Helpers of the launch/monitor/jobs tests (issue 7): user modules, fake ab trials."""

from __future__ import annotations

import json
import os
import textwrap
import uuid
from pathlib import Path
from typing import Any

from votakvot import _yaml


def user_module(folder: Path, code: str, prefix: str = "usermod") -> str:
    """Write a uniquely named module into ``folder``; returns its name.

    Unique names: the app imports the module to check a callable, and a module
    of the same name from another test must not be found in ``sys.modules``.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    (folder / f"{name}.py").write_text(textwrap.dedent(code))
    return name


AB_T0 = 1773480413.0
"""2026-03-14 09:26:53 UTC: when the fake ab run started."""


def write_ab_trial(
    root: Path,
    tid: str = "ab/bench.get/26-03-14/09:26:53/00000000-0000-4000-8000-0000000000ab",
    *,
    state: str = "done",
    seconds: int = 8,
    slower: float = 1.0,
) -> Path:
    """A fixed, fake ``votakvot-ab`` trial: per-second metrics, histogram, summary, status."""
    import datetime

    folder = root / tid
    folder.mkdir(parents=True, exist_ok=True)
    t0 = datetime.datetime.fromtimestamp(AB_T0, datetime.UTC)
    series = []
    total = 0
    for s in range(1, seconds + 1):
        calls = 1000 + 100 * (s % 3)
        errors = 5 * (s % 2)
        total += calls
        series.append(
            {
                "at": AB_T0 + s,
                "second": float(s),
                "calls": calls,
                "errors": errors,
                "p50": 0.0010 + 0.0001 * (s % 4),
                "p99": 0.0040 + 0.0005 * (s % 3),
                "max": 0.009,
            }
        )
    errors = sum(r["errors"] for r in series)
    buckets = [
        (lo, hi, n)
        for lo, hi, n in [
            (500_000, 600_000, 400),
            (600_000, 800_000, 1800),
            (800_000, 1_000_000, 3100),
            (1_000_000, 1_200_000, 2100),
            (1_200_000, 1_600_000, 900),
            (1_600_000, 2_400_000, 300),
            (2_400_000, 4_000_000, 120),
            (4_000_000, 9_000_000, 40),
        ]
    ]
    ok = total - errors
    summary_latency = {
        "min": 0.0005,
        "mean": 0.00105,
        "stdev": 0.0004,
        "max": 0.009,
        "p50": 0.00095,
        "p75": 0.00115,
        "p90": 0.0014,
        "p95": 0.0018,
        "p99": 0.0036,
        "p99.9": 0.0071,
        "p99.99": 0.0088,
    }
    summary_latency = {k: v * slower for k, v in summary_latency.items()}
    buckets = [(int(lo * slower), int(hi * slower), n) for lo, hi, n in buckets]
    summary: dict[str, Any] = {
        "count": total,
        "ok": ok,
        "errors": errors,
        "wall": float(seconds),
        "rate": total / seconds / slower,
        "latency": summary_latency,
        "results": [{"value": 200, "count": ok - 60}, {"value": 404, "count": 60}],
        "error_kinds": [
            {
                "type": "ConnectionError",
                "message": "connection refused",
                "count": errors,
                "traceback": 'Traceback (most recent call last):\n  File "bench.py", line 4, '
                "in get\n    return session.get(url)\nConnectionError: connection refused\n",
            }
        ],
        "stopped": None,
    }
    record: dict[str, Any] = {
        "votakvot": "0.2.0",
        "id": "00000000-0000-4000-8000-0000000000ab",
        "tid": tid,
        "state": state,
        "function": "bench.get",
        "at": {
            "created": t0,
            "started": t0,
            "finished": t0 + datetime.timedelta(seconds=seconds),
            "duration": float(seconds),
        },
        "params": {
            "callable": "bench.get",
            "args": {"url": "http://127.0.0.1:8000/"},
            "number": None,
            "duration": float(seconds),
            "concurrency": 10,
            "engine": "threads",
            "processes": 1,
            "warmup_calls": 0,
            "warmup_seconds": 0.0,
            "rate": None,
            "strict": False,
            "max_errors": None,
        },
        "info": {},
        "meta": {"system": {"node": "testbox"}, "process": {"pid": 4242}},
        "kind": "ab",
        "result": summary,
    }
    if state == "interrupted":
        record["error"] = {"type": "KeyboardInterrupt", "message": "stopped by SIGINT"}
    (folder / "votakvot.yaml").write_text(_yaml.dump(record))
    columns = ["at", "second", "calls", "errors", "p50", "p99", "max"]
    lines = [",".join(columns)] + [",".join(str(r[c]) for c in columns) for r in series]
    (folder / "votakvot.metrics.00000.csv").write_text("\n".join(lines) + "\n")
    hist = ["lower_ns,upper_ns,count"] + [f"{lo},{hi},{n}" for lo, hi, n in buckets]
    (folder / "ab.histogram.csv").write_text("\n".join(hist) + "\n")
    status = {
        "version": 1,
        "pid": 4242,
        "updated": AB_T0 + seconds,
        "state": state,
        "callable": "bench.get",
        "elapsed": float(seconds),
        "total": None,
        "duration": float(seconds),
        "done": total,
        "ok": ok,
        "errors": errors,
        "rate_now": None,
        "rate_avg": total / seconds,
        "p50": 0.00095,
        "p99": 0.0036,
        "max": 0.009,
        "mean": 0.00105,
        "target_rate": None,
        "late": 0,
        "histogram": [list(b) for b in buckets],
    }
    (folder / "ab.status.json").write_text(json.dumps(status))
    return folder


def write_status_only(folder: Path, **changes: Any) -> None:
    """A run that just started: only ``ab.status.json`` (no record yet)."""
    folder.mkdir(parents=True, exist_ok=True)
    status = {
        "version": 1,
        "pid": os.getpid(),
        "updated": 0.0,
        "state": "running",
        "callable": "m.f",
        "elapsed": 1.0,
        "total": 100,
        "duration": None,
        "done": 40,
        "ok": 39,
        "errors": 1,
        "rate_now": 40.0,
        "rate_avg": 40.0,
        "p50": 0.001,
        "p99": 0.002,
        "max": 0.003,
        "mean": 0.0011,
        "target_rate": None,
        "late": 0,
        "histogram": [[1_000_000, 1_100_000, 30], [2_000_000, 2_100_000, 9]],
    }
    status.update(changes)
    (folder / "ab.status.json").write_text(json.dumps(status))
