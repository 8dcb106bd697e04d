"""Runs every reader over each case of the hostile corpus and prints what happened as JSON.

Started by the tests as a subprocess with resource limits (address space, CPU
time) and, when run as root, without the capabilities that let root read any
file, so the unreadable kinds are unreadable. Each case gets an alarm: a reader
that blocks (on a FIFO, on ``/dev/zero``) is interrupted and reported as hung
instead of hanging the test run. The process leaves with ``os._exit`` so a
reader thread still blocked cannot keep it alive.

Usage: ``python _probe.py OUT.json CASE_ROOT...``
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import logging
import os
import resource
import signal
import sys
import time
import traceback
import tracemalloc
import warnings
from typing import Any

CASE_SECONDS = 30
PEAKS: dict[str, int] = {}
"""The highest tracemalloc peak of each reader call in the current case."""


class Hung(Exception):
    """A reader did not return within CASE_SECONDS."""


def _alarm(signum: int, frame: Any) -> None:
    raise Hung(f"no answer within {CASE_SECONDS} s")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage())


def _safe_str(value: Any) -> str:
    return os.fsencode(str(value)).decode("utf-8", "backslashreplace") if value else ""


def _cli(argv: list[str]) -> dict[str, Any]:
    """``votakvot.cli.main`` in this process, with stdout/stderr as a strict UTF-8 pipe."""
    from votakvot import cli

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
    code: Any = None
    crash = ""
    takes_argv = bool(inspect.signature(cli.main).parameters)
    old_argv = sys.argv
    try:
        sys.argv = ["votakvot", *argv]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv) if takes_argv else cli.main()
            except SystemExit as exc:
                code = exc.code
            except BaseException:
                crash = traceback.format_exc()
    finally:
        sys.argv = old_argv
    return {
        "code": code if isinstance(code, int | None) else str(code),
        "stdout": out.buffer.getvalue().decode("utf-8", "replace")[-20000:],  # type: ignore[attr-defined]
        "stderr": err.buffer.getvalue().decode("utf-8", "replace")[-20000:],  # type: ignore[attr-defined]
        "crash": crash,
    }


FIELDS = ("tid", "id", "state", "params", "info", "meta", "created", "duration", "attached")


def _fields(trial: Any) -> str:
    """Touch every documented attribute of a Trial (result may raise TrialFailedError)."""
    from votakvot.exceptions import TrialFailedError

    for name in FIELDS:
        getattr(trial, name)
    try:
        trial.result  # noqa: B018 - reading it is the check
    except TrialFailedError:
        pass
    return "ok"


def _step(result: dict[str, Any], name: str, fn: Any) -> Any:
    """Run one reader; record its answer, or its exception with the traceback."""
    tracemalloc.reset_peak()
    signal.alarm(CASE_SECONDS)
    try:
        value = fn()
    except Hung as exc:
        result[name] = {"hung": str(exc)}
        raise
    except BaseException as exc:
        result[name] = {
            "error": f"{type(exc).__name__}: {exc}"[:2000],
            "clean": isinstance(exc, VotakvotError | OSError) and not isinstance(exc, Hung),
            "traceback": traceback.format_exc()[-4000:],
        }
        return None
    finally:
        signal.alarm(0)
    result[name] = {"ok": value}
    PEAKS[name] = max(PEAKS.get(name, 0), tracemalloc.get_traced_memory()[1])
    return value


from votakvot.exceptions import VotakvotError  # noqa: E402


def probe(root: str) -> dict[str, Any]:
    """Every reader over one case root, with what each returned or raised."""
    import votakvot

    result: dict[str, Any] = {"root": root}
    PEAKS.clear()
    collect = _Collect()
    logging.getLogger().addHandler(collect)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _readers(votakvot, root, result)
        except Hung as exc:
            # A reader thread may still be blocked; later readers would block on it too.
            result["hung"] = str(exc)
        finally:
            logging.getLogger().removeHandler(collect)
    result["messages"] = [_safe_str(w.message) for w in caught] + collect.messages
    result["peaks"] = dict(PEAKS)
    return result


def _readers(votakvot: Any, root: str, result: dict[str, Any]) -> None:
    _step(result, "load_report", lambda: [_safe_str(t) for t in votakvot.load_report(root)["tid"]])
    _step(result, "load_report_full", lambda: len(votakvot.load_report(root, full=True).columns))
    trials = _step(result, "load_trials", lambda: votakvot.load_trials(root))
    if trials is not None:
        result["load_trials"] = {"ok": [_safe_str(t) for t in trials]}
        metrics: dict[str, Any] = {}
        paths: dict[str, Any] = {}
        result["load_metrics"] = metrics
        result["load_metrics_path"] = paths
        fields: dict[str, Any] = {}
        result["trial_fields"] = fields
        for tid, trial in trials.items():
            _step(fields, _safe_str(tid), lambda t=trial: _fields(t))
            _step(metrics, _safe_str(tid), lambda t=trial: len(votakvot.load_metrics(t)))
            _step(paths, _safe_str(tid), lambda t=trial: len(votakvot.load_metrics(t.path)))
    bad = os.path.join(root, "bad")
    bad_folders: dict[str, Any] = {}
    result["load_metrics_bad_folder"] = bad_folders
    for entry in sorted(os.listdir(bad)) if os.path.isdir(bad) else []:
        folder = os.path.join(bad, entry)
        _step(bad_folders, _safe_str(entry), lambda f=folder: len(votakvot.load_metrics(f)))
    _step(result, "cli_report", lambda: _cli(["report", root]))
    _step(result, "cli_report_json", lambda: _cli(["report", root, "--format", "json"]))
    if trials:
        for tid, trial in trials.items():
            _step(result, f"cli_show {_safe_str(tid)}", lambda t=trial: _cli(["show", t.path]))
            _step(result, f"cli_metrics {_safe_str(tid)}",
                  lambda t=trial: _cli(["metrics", t.path]))


def main() -> None:
    out, roots = sys.argv[1], sys.argv[2:]
    signal.signal(signal.SIGALRM, _alarm)
    tracemalloc.start()
    results = []
    for root in roots:
        started = time.process_time()
        entry = probe(root)
        entry["cpu_s"] = time.process_time() - started
        results.append(entry)
        with open(out, "w") as f:  # written after each case: a crash keeps what was done
            json.dump(results, f, default=repr)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(out, "w") as f:
        json.dump({"cases": results, "max_rss_kb": usage.ru_maxrss}, f, default=repr)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
