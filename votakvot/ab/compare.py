"""``votakvot-ab compare A B``: how run B differs from run A, and gates for CI.

A gate ``METRIC:+5%`` fails when B's metric is more than 5 % above A's;
``METRIC:-10%`` when it is more than 10 % below; an absolute change is written
with a unit (``p99:+2ms``, ``errors:+0``). Any failed gate makes the exit status 1.
"""

from __future__ import annotations

import argparse
import json
import posixpath
import re
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

from ..reading import find_trial_dirs, read_trial
from ..trial import Trial

__all__ = ["Gate", "compare", "load_ab_trial", "main", "parse_gate"]

PROG = "votakvot-ab compare"

LATENCY_METRICS = ("min", "mean", "stdev", "max", "p50", "p75", "p90", "p95", "p99",
                   "p99.9", "p99.99")  # fmt: skip
METRICS = ("rate", *LATENCY_METRICS, "errors", "error_rate")
HIGHER_IS_BETTER = {"rate"}
NOISE = 0.05
"""Changes smaller than this fraction are called noise in the verdict."""

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}


class CompareError(Exception):
    """A mistake in the command (no such trial, a bad gate); printed as one line."""


@dataclass
class Gate:
    """``metric`` may change by at most ``limit`` in the direction of its sign."""

    text: str
    metric: str
    limit: float
    """Signed: ``+0.05`` fails above +5 %, ``-0.1`` below -10 %."""
    relative: bool
    """``limit`` is a fraction of A's value, else an absolute amount (seconds for latency)."""

    def check(self, a: float | None, b: float | None) -> tuple[bool, str]:
        """``(passed, how much it changed)``."""
        if a is None or b is None:
            return True, "not measured"
        change = b - a
        if self.relative:
            if a == 0:
                rel = 0.0 if b == 0 else float("inf") * (1 if b > 0 else -1)
            else:
                rel = change / abs(a)
            shown = f"{rel:+.1%}"
            failed = rel > self.limit if self.limit >= 0 else rel < self.limit
        else:
            shown = _fmt_value(self.metric, change, signed=True)
            failed = change > self.limit if self.limit >= 0 else change < self.limit
        return not failed, shown


def parse_gate(text: str) -> Gate:
    metric, sep, rule = text.partition(":")
    metric = metric.strip()
    if not sep or metric not in METRICS:
        raise CompareError(
            f"--fail-if {text!r}: expected METRIC:+N% or METRIC:-N% with METRIC one of "
            f"{', '.join(METRICS)} (e.g. p99:+5%)"
        )
    m = re.fullmatch(r"\s*([+-])\s*([0-9]*\.?[0-9]+)\s*(%|ns|us|µs|ms|s)?\s*", rule)
    if not m:
        raise CompareError(
            f"--fail-if {text!r}: the limit needs a sign and a number, like +5%, -10% or +2ms"
        )
    sign = 1.0 if m.group(1) == "+" else -1.0
    number = float(m.group(2))
    unit = m.group(3)
    if unit == "%":
        return Gate(text, metric, sign * number / 100.0, True)
    if unit is not None and metric not in LATENCY_METRICS:
        raise CompareError(f"--fail-if {text!r}: {metric} is not a latency; drop the unit")
    if unit is None and metric in LATENCY_METRICS:
        raise CompareError(f"--fail-if {text!r}: give a unit (ns, us, ms, s) or a percentage")
    return Gate(text, metric, sign * number * (_UNITS[unit] if unit else 1.0), False)


def load_ab_trial(ref: str, root: str) -> Trial:
    """The ab trial ``ref`` names: a folder, a tid under ``root``, or a trial uuid.

    Any of them may be local or on any store ``root`` is on (``s3://...``).
    """
    for path in (ref, posixpath.join(root.rstrip("/"), ref)):
        trial = read_trial(path)
        if trial is not None:
            return _check_ab(trial, ref)
    suffix = "/" + ref.strip("/")
    found = [folder for folder in find_trial_dirs(root) if folder.rstrip("/").endswith(suffix)]
    if len(found) == 1:
        trial = read_trial(found[0])
        if trial is not None:
            return _check_ab(trial, ref)
    if len(found) > 1:
        raise CompareError(f"{ref!r} matches {len(found)} trials under {root}; give a full tid")
    raise CompareError(
        f"no trial {ref!r}: give a trial folder, a tid under -p/--path ({root}) or a uuid"
    )


def _check_ab(trial: Trial, ref: str) -> Trial:
    result = trial.data.get("result")
    if trial.data.get("kind") != "ab" or not isinstance(result, dict) or "latency" not in result:
        raise CompareError(f"{ref!r} ({trial.path}) is not a votakvot-ab trial with a summary")
    return trial


def metric(summary: dict[str, Any], name: str) -> float | None:
    if name in LATENCY_METRICS:
        value = (summary.get("latency") or {}).get(name)
    elif name == "error_rate":
        count = summary.get("count") or 0
        value = (summary.get("errors") or 0) / count if count else None
    else:
        value = summary.get(name)
    return None if value is None else float(value)


def compare(a: dict[str, Any], b: dict[str, Any], gates: list[Gate]) -> dict[str, Any]:
    """Per-metric values and changes, a verdict, and each gate's outcome."""
    rows = []
    better: list[str] = []
    worse: list[str] = []
    for name in METRICS:
        va, vb = metric(a, name), metric(b, name)
        rel = None
        if va is not None and vb is not None and va != 0:
            rel = (vb - va) / abs(va)
        rows.append({"metric": name, "a": va, "b": vb, "change": rel})
        if rel is None or name not in ("rate", "p50", "p99"):
            continue
        good = rel > 0 if name in HIGHER_IS_BETTER else rel < 0
        if abs(rel) >= NOISE:
            shown = "calls/s" if name == "rate" else name
            (better if good else worse).append(f"{shown} {rel:+.1%}")
    if better and not worse:
        verdict = f"B is faster ({', '.join(better)})"
    elif worse and not better:
        verdict = f"B is slower ({', '.join(worse)})"
    elif better and worse:
        verdict = f"mixed: better {', '.join(better)}; worse {', '.join(worse)}"
    else:
        verdict = f"no difference beyond {NOISE:.0%} in calls/s, p50 and p99"
    outcomes = []
    for gate in gates:
        passed, shown = gate.check(metric(a, gate.metric), metric(b, gate.metric))
        outcomes.append({"gate": gate.text, "passed": passed, "change": shown})
    return {"rows": rows, "verdict": verdict, "gates": outcomes}


def _fmt_value(name: str, value: float | None, signed: bool = False) -> str:
    from .progress import fmt_seconds

    if value is None:
        return "-"
    if name in LATENCY_METRICS:
        text = fmt_seconds(abs(value))
        return (("+" if value >= 0 else "-") + text) if signed else text
    if name == "error_rate":
        return f"{value:+.2%}" if signed else f"{value:.2%}"
    if name == "errors":
        return f"{value:+,.0f}" if signed else f"{value:,.0f}"
    return f"{value:+,.1f}" if signed else f"{value:,.1f}"


def render(result: dict[str, Any], a: Trial, b: Trial) -> str:
    lines = [f"A: {a.tid} ({a.state})", f"B: {b.tid} ({b.state})", ""]
    lines.append(f"  {'metric':<11}{'A':>14}{'B':>14}{'change':>12}")
    for row in result["rows"]:
        change = "-" if row["change"] is None else f"{row['change']:+.1%}"
        name = "calls/s" if row["metric"] == "rate" else row["metric"]
        lines.append(
            f"  {name:<11}{_fmt_value(row['metric'], row['a']):>14}"
            f"{_fmt_value(row['metric'], row['b']):>14}{change:>12}"
        )
    lines += ["", f"verdict: {result['verdict']}"]
    for gate in result["gates"]:
        status = "ok" if gate["passed"] else "FAILED"
        lines.append(f"gate {gate['gate']}: {status} ({gate['change']})")
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"{PROG}: error: {message} (see {PROG} --help)", file=sys.stderr)
        raise SystemExit(2)


def main(argv: list[str]) -> int:
    parser = _Parser(
        prog=PROG,
        description="Compare two votakvot-ab runs: B against the baseline A.",
        epilog="example: votakvot-ab compare BASE_UUID NEW_UUID --fail-if p99:+5% "
        "--fail-if rate:-10%\nexit status: 0 all gates pass, 1 a gate failed, 2 usage error",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("a", metavar="A", help="baseline: trial folder, tid or uuid")
    parser.add_argument("b", metavar="B", help="the run to judge: trial folder, tid or uuid")
    parser.add_argument("-p", "--path", default=".", help="results root for tids (default: .)")
    parser.add_argument("--fail-if", action="append", default=[], metavar="GATE",
                        help="METRIC:+N%% / METRIC:-N%% / p99:+2ms; metrics: "
                        + ", ".join(METRICS))  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    args = parser.parse_args(argv)
    try:
        gates = [parse_gate(text) for text in args.fail_if]
        ta = load_ab_trial(args.a, args.path)
        tb = load_ab_trial(args.b, args.path)
    except CompareError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    result = compare(ta.data["result"], tb.data["result"], gates)
    if args.json:
        print(json.dumps({"a": ta.tid, "b": tb.tid, **result}, indent=2))
    else:
        print(render(result, ta, tb))
    return 0 if all(g["passed"] for g in result["gates"]) else 1
