"""Sweeps from the dashboard: a trial's function over lists or ranges of its params.

Free of Textual: the sweep form reads each field with :func:`parse_choices`, shows
:func:`count_trials` as it is typed, and starts :func:`sweep_command` as one job of
:mod:`votakvot_tui.core.jobs`. The job runs this module
(``python -m votakvot_tui.core.sweep --runner thread --workers 4 -- FOLDER lr=[0.1,0.01]
'seed=range(3)'``): every combination becomes a trial through ``votakvot.submit``
on the runner asked for, each recording ``info.sweep_of`` (the source trial's tid),
and a line per finished trial goes to the job's output (the jobs panel shows it).

A field is a Python literal, never run: a list or tuple is the values to sweep,
``range(...)`` of integer literals is its numbers, any other literal is one fixed
value. A param whose one value is a list is typed inside a list: ``[[64, 32]]``.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from .runs import LaunchError, format_value, not_rerunnable, root_of

__all__ = [
    "MAX_TRIALS",
    "RUNNERS",
    "count_trials",
    "format_choices",
    "main",
    "parse_axes",
    "parse_choices",
    "sweep_command",
]

MAX_TRIALS = 1000
"""Trials one sweep from the dashboard may start; a bigger grid is a script's job."""
RUNNERS = ("inplace", "thread", "process")
"""Runners the form offers (``votakvot.init(runner=...)``); dask needs a cluster address."""
FIELD_HELP = "a value (0.1), a list ([0.1, 0.01]) or range(3)"
"""What a sweep field accepts, for messages."""


def _range(node: ast.Call, text: str) -> list[int]:
    """``range(a[, b[, c]])`` with integer literals only (nothing is called but range)."""
    if node.keywords or not 1 <= len(node.args) <= 3:
        raise ValueError(f"range takes 1 to 3 whole numbers (got {text!r})")
    try:
        args = [ast.literal_eval(a) for a in node.args]
    except ValueError:
        raise ValueError(f"range takes whole numbers written out (got {text!r})") from None
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        raise ValueError(f"range takes whole numbers (got {text!r})")
    if len(args) == 3 and args[2] == 0:
        raise ValueError(f"range step must not be 0 (got {text!r})")
    span = range(*args)
    if len(span) > MAX_TRIALS:
        raise ValueError(f"{text} has {len(span)} values; at most {MAX_TRIALS} trials per sweep")
    return list(span)


def parse_choices(text: str) -> list[Any]:
    """The values one sweep field stands for.

    Raises:
        ValueError: the field is empty, not a literal or ``range(...)``, or an empty
            list; the message says what is allowed.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError(f"empty: type {FIELD_HELP}")
    try:
        node = ast.parse(stripped, mode="eval").body
    except SyntaxError:
        hint = f" (quote text: {stripped!r})" if stripped.isidentifier() else ""
        raise ValueError(f"not {FIELD_HELP}{hint}") from None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        values = _range(node, stripped)
    else:
        try:
            value = ast.literal_eval(node)
        except (ValueError, TypeError, MemoryError, RecursionError):
            hint = f" (quote text: {stripped!r})" if stripped.isidentifier() else ""
            raise ValueError(f"not {FIELD_HELP}{hint}") from None
        values = list(value) if isinstance(value, list | tuple) else [value]
    if not values:
        raise ValueError("an empty list sweeps nothing: give at least one value")
    return values


def format_choices(value: Any) -> str:
    """A recorded param as a sweep field holding just it (a list value inside a list)."""
    return format_value([value]) if isinstance(value, list | tuple) else format_value(value)


def parse_axes(fields: Mapping[str, str]) -> tuple[dict[str, list[Any]], dict[str, str]]:
    """Every field read: ``(name -> values, name -> why it cannot be read)``."""
    axes: dict[str, list[Any]] = {}
    errors: dict[str, str] = {}
    for name, text in fields.items():
        try:
            axes[name] = parse_choices(text)
        except ValueError as exc:
            errors[name] = str(exc)
    return axes, errors


def count_trials(axes: Mapping[str, Sequence[Any]]) -> int:
    """Trials the grid of ``axes`` makes: the product of the numbers of values."""
    return math.prod(len(v) for v in axes.values())


def _items(fields: Mapping[str, str]) -> list[str]:
    return [f"{name}={text.strip()}" for name, text in fields.items()]


def sweep_command(
    folder: str,
    record: Mapping[str, Any],
    fields: Mapping[str, str],
    runner: str = "inplace",
    workers: int | None = None,
) -> list[str]:
    """The job's command: sweep the function of the trial in ``folder`` over ``fields``.

    Raises:
        LaunchError: a field, the runner or the size of the grid is wrong, or the
            trial cannot be run again (no function, a notebook's, a moved folder).
    """
    function = str(record.get("function") or "")
    tid = str(record.get("tid") or "")
    if not function:
        raise LaunchError(f"trial {tid or folder} records no function: nothing to sweep")
    problem = not_rerunnable(record)
    if problem is not None:
        raise LaunchError(problem)
    root_of(folder, tid)
    axes, errors = parse_axes(fields)
    if errors:
        name, why = next(iter(errors.items()))
        raise LaunchError(f"{name}: {why}")
    count = count_trials(axes)
    if count > MAX_TRIALS:
        raise LaunchError(f"{count} trials: at most {MAX_TRIALS} per sweep; use fewer values")
    if runner not in RUNNERS:
        raise LaunchError(f"runner must be one of {', '.join(RUNNERS)} (got {runner!r})")
    if workers is not None and workers < 1:
        raise LaunchError(f"workers must be 1 or more (got {workers})")
    argv = [sys.executable, "-m", "votakvot_tui.core.sweep", "--runner", runner]
    if workers is not None:
        argv += ["--workers", str(workers)]
    return [*argv, "--", folder, *_items(fields)]


# --- the program behind the command (runs in the job's process) -------------------------


def _run(folder: str, items: Sequence[str], runner: str, workers: int | None) -> int:
    import votakvot
    from votakvot.ab.target import UsageError, resolve
    from votakvot.runners import grid
    from votakvot.trial import read_trial

    trial = read_trial(folder)
    if trial is None:
        raise LaunchError(f"no trial in {folder}: nothing to sweep")
    record = trial.data
    function = str(record.get("function") or "")
    fields = dict(item.split("=", 1) for item in items)
    sweep_command(folder, record, fields, runner, workers)  # the same checks as the form
    axes, _ = parse_axes(fields)
    try:
        fn = resolve(function).obj
    except UsageError as exc:
        raise LaunchError(f"cannot import {function}: {exc}") from None
    root = root_of(folder, trial.tid)
    options: dict[str, Any] = {} if workers is None else {"workers": workers}
    votakvot.init(path=root, info={"sweep_of": trial.tid}, runner=runner, **options)
    points = grid(**axes)
    print(f"sweeping {function} (from {trial.tid}): {len(points)} trials on {runner}", flush=True)
    futures = {votakvot.submit(fn, **p): (n, p) for n, p in enumerate(points, 1)}
    failed = 0
    for future in concurrent.futures.as_completed(futures):
        n, params = futures[future]
        shown = " ".join(f"{k}={v!r}" for k, v in params.items())
        error = future.exception()
        if error is None:
            print(f"[{n}/{len(points)}] {shown}: done, result {future.result()!r}", flush=True)
        else:
            failed += 1
            why = f"{type(error).__name__}: {error}"
            print(f"[{n}/{len(points)}] {shown}: failed, {why}", flush=True)
    print(f"{len(points) - failed} done, {failed} failed", flush=True)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m votakvot_tui.core.sweep [--runner R] [--workers N] -- FOLDER KEY=VALUES...``."""
    parser = argparse.ArgumentParser(prog="python -m votakvot_tui.core.sweep")
    parser.add_argument("folder")
    parser.add_argument("--runner", default="inplace", choices=RUNNERS)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("items", nargs="*", metavar="KEY=VALUES")
    args = parser.parse_args(argv)
    import os

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # the trial's module imports from where it ran
    try:
        bad = [item for item in args.items if "=" not in item]
        if bad:
            raise LaunchError(f"not KEY=VALUES: {' '.join(bad)}")
        return _run(args.folder, args.items, args.runner, args.workers)
    except LaunchError as exc:
        print(f"votakvot: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
