"""Reading a root written by ``_workload.work`` back and checking that nothing was lost,
corrupted or mixed up between trials."""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any

from _workload import WORK_NAME, payload

import votakvot
from votakvot import _yaml


@dataclasses.dataclass
class Findings:
    """What a check of one root found; every list must end up empty."""

    yaml_files: int = 0
    trials_read: int = 0
    report_rows: int = 0
    corrupt_yaml: list[str] = dataclasses.field(default_factory=list)
    corrupt_metrics: list[str] = dataclasses.field(default_factory=list)
    lost: list[str] = dataclasses.field(default_factory=list)
    mixups: list[str] = dataclasses.field(default_factory=list)
    wrong_state: list[str] = dataclasses.field(default_factory=list)
    torn_lines: int = 0
    states: dict[str, int] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)

    def problems(self) -> dict[str, list[str]]:
        return {
            name: value[:20]
            for name in ("corrupt_yaml", "corrupt_metrics", "lost", "mixups", "wrong_state")
            if (value := getattr(self, name))
        }


def parse_all_yaml(root: str, findings: Findings) -> None:
    """Every ``votakvot.yaml`` under ``root`` parses to a mapping."""
    for folder, _, files in os.walk(root):
        if "votakvot.yaml" in files:
            findings.yaml_files += 1
            path = os.path.join(folder, "votakvot.yaml")
            try:
                with open(path, "rb") as f:
                    data = _yaml.load(f.read())
                if not isinstance(data, dict) or "tid" not in data or "state" not in data:
                    raise ValueError(f"not a trial record: {str(data)[:200]}")
            except Exception as exc:
                findings.corrupt_yaml.append(f"{path}: {type(exc).__name__}: {exc}")


def _torn(folder: str) -> int:
    torn = 0
    for name in os.listdir(folder):
        if name.startswith("votakvot.metrics."):
            with open(os.path.join(folder, name), "rb") as f:
                data = f.read()
            torn += bool(data) and not data.endswith(b"\n")
    return torn


def _check_work_trial(trial: Any, findings: Findings) -> None:
    params = trial.params
    key = f"{params['worker']}:{params['i']}"
    rows = params["rows"]
    where = f"{trial.tid} ({key}, {trial.state})"
    info_key = trial.info.get("key")
    if info_key is not None and info_key != key:
        findings.mixups.append(f"{where}: info.key is {info_key}")
    try:
        frame = votakvot.load_metrics(trial)
    except Exception as exc:
        findings.corrupt_metrics.append(f"{where}: {type(exc).__name__}: {exc}")
        return
    if len(frame):
        keys = set(frame["key"].astype(str))
        if keys != {key}:
            findings.mixups.append(f"{where}: metric rows of {sorted(keys)[:5]}")
        steps = [int(s) for s in frame["step"]]
        if steps != list(range(len(steps))):
            findings.corrupt_metrics.append(f"{where}: metric steps {steps[:50]} have gaps")
        values = [int(v) for v in frame["value"]]
        if values != [params["i"] * 100_000 + s for s in steps]:
            findings.mixups.append(f"{where}: metric values do not match the params")
    if len(frame) > rows:
        findings.corrupt_metrics.append(f"{where}: {len(frame)} metric rows of {rows}")
    if trial.state == "done":
        if trial.result != {"key": key, "rows": rows}:
            findings.mixups.append(f"{where}: result {trial.result}")
        if len(frame) != rows:
            findings.corrupt_metrics.append(f"{where}: done with {len(frame)} rows of {rows}")
        with trial.attach("payload.txt", "rb") as f:
            if f.read().decode() != payload(key):
                findings.mixups.append(f"{where}: payload.txt holds another trial's text")
        if info_key != key:
            findings.mixups.append(f"{where}: done without info.key")


def check_root(
    root: str,
    started: set[str] | None = None,
    done_keys: set[str] | None = None,
    final_only: bool = False,
) -> Findings:
    """Read ``root`` with every reader and check each trial of ``_workload.work``.

    Args:
        started: tids that reached the tracked function's body; each must be read back.
        done_keys: keys of calls that returned; each trial must be ``done``.
        final_only: every trial must have ended (no process was killed).
    """
    findings = Findings()
    parse_all_yaml(root, findings)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = votakvot.load_report(root)
        trials = votakvot.load_trials(root)
    findings.warnings = [str(w.message) for w in caught]
    findings.report_rows = len(report)
    findings.trials_read = len(trials)
    listed = set(report["tid"]) if len(report) else set()
    for tid in sorted((started or set()) - (set(trials) & listed)):
        findings.lost.append(tid)
    for tid, trial in trials.items():
        state = trial.state
        findings.states[state] = findings.states.get(state, 0) + 1
        if final_only and state != "done":
            findings.wrong_state.append(f"{tid}: {state}")
        if state not in ("running", "stale", "done"):
            findings.wrong_state.append(f"{tid}: {state}")
        if tid.startswith(WORK_NAME + "/"):
            key = f"{trial.params['worker']}:{trial.params['i']}"
            if done_keys is not None and key in done_keys and state != "done":
                findings.wrong_state.append(f"{tid}: returned but recorded as {state}")
            _check_work_trial(trial, findings)
            findings.torn_lines += _torn(trial.path)
    return findings
