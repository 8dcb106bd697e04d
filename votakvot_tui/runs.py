"""The commands the dashboard launches, and the small program that resumes or reruns a trial.

Free of Textual: the forms build an :class:`AbRequest` or call :func:`resume_command`
/ :func:`rerun_command`, and :mod:`votakvot_tui.jobs` runs the result. Resuming and
rerunning happen in a separate process (``python -m votakvot_tui.runs ...``), so
the user's code never runs inside the dashboard and keeps going after it quits.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import importlib.util
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "AbRequest",
    "LaunchError",
    "ab_argv",
    "ab_base_command",
    "check_command",
    "format_value",
    "not_rerunnable",
    "rerun_command",
    "resume_command",
    "root_of",
    "trial_cwd",
]

ENGINES = ("threads", "gevent", "processes")
"""How an ab run's workers run: ``-c`` threads, ``--gevent`` greenlets, ``--processes``."""


class LaunchError(Exception):
    """What the user asked cannot be launched; the message says what to fix."""


def ab_base_command() -> list[str]:
    """How to start ``votakvot-ab`` with this very interpreter (a venv need not be active)."""
    if importlib.util.find_spec("votakvot.ab.__main__") is not None:
        return [sys.executable, "-m", "votakvot.ab"]
    return [sys.executable, "-m", "votakvot.ab.cli"]


@dataclasses.dataclass
class AbRequest:
    """What the launch form asks for: one ``votakvot-ab`` run.

    Text fields hold what the user typed; :meth:`validate` checks and converts them.
    """

    callable: str
    """``module.attr`` or ``path/to/file.py:attr``."""
    args: str = ""
    """``KEY=VALUE`` arguments, separated by spaces (shell quoting allowed)."""
    number: str = "1000"
    """``-n``: calls to measure (used when ``duration`` is empty)."""
    duration: str = ""
    """``-d``: seconds to measure instead (``10``, ``2.5s``, ``1m``)."""
    concurrency: str = "1"
    """``-c``: concurrent workers."""
    engine: str = "threads"
    """One of :data:`ENGINES`."""
    processes: str = "2"
    """``--processes`` when ``engine`` is ``processes``."""
    rate: str = ""
    """``-q``: calls per second in total (open model); empty for as fast as possible."""
    warmup: str = ""
    """``-w``: warmup calls (``100``) or seconds (``2s``)."""
    path: str = "."
    """``-p``: results root."""

    @classmethod
    def from_params(cls, params: Mapping[str, Any], path: str = ".") -> AbRequest:
        """The form of a recorded run (its trial's ``params``), to run it again."""
        args = params.get("args") or {}
        items = [_arg_item(k, v) for k, v in args.items()] if isinstance(args, dict) else []
        processes = int(params.get("processes") or 1)
        engine = "gevent" if params.get("engine") == "gevent" else "threads"
        if processes > 1:
            engine = "processes"
        warmup = ""
        if params.get("warmup_calls"):
            warmup = str(params["warmup_calls"])
        elif params.get("warmup_seconds"):
            warmup = f"{params['warmup_seconds']:g}s"
        duration = params.get("duration")
        return cls(
            callable=str(params.get("callable") or ""),
            args=" ".join(items),
            number="" if duration else str(params.get("number") or 1),
            duration=f"{duration:g}" if duration else "",
            concurrency=str(params.get("concurrency") or 1),
            engine=engine,
            processes=str(processes if processes > 1 else 2),
            rate=f"{params['rate']:g}" if params.get("rate") else "",
            warmup=warmup,
            path=path,
        )

    def arguments(self) -> list[str]:
        """The ``KEY=VALUE`` items (shell-split, so values may be quoted)."""
        try:
            return shlex.split(self.args)
        except ValueError as exc:
            raise LaunchError(f"arguments {self.args!r}: {exc} (close the quote)") from None

    def validate(self) -> dict[str, Any]:
        """Check every field without importing anything; returns the typed options.

        Raises:
            LaunchError: a field is wrong (the message names it and says what is expected).
        """
        from votakvot.ab.target import UsageError, parse_kwargs

        spec = self.callable.strip()
        if not spec:
            raise LaunchError("callable: give module.attr (e.g. my_module.get) or file.py:attr")
        try:
            kwargs = parse_kwargs(self.arguments())
        except UsageError as exc:
            raise LaunchError(str(exc)) from None
        out: dict[str, Any] = {"spec": spec, "kwargs": kwargs}
        if self.duration.strip():
            out["duration"] = _seconds("duration (-d)", self.duration)
            out["number"] = None
        else:
            out["number"] = _whole("calls (-n)", self.number, minimum=1)
            out["duration"] = None
        out["concurrency"] = _whole("concurrency (-c)", self.concurrency, minimum=1)
        if self.engine not in ENGINES:
            raise LaunchError(f"engine must be one of {', '.join(ENGINES)} (got {self.engine!r})")
        out["gevent"] = self.engine == "gevent"
        out["processes"] = 1
        if self.engine == "processes":
            out["processes"] = _whole("processes", self.processes, minimum=1)
            if out["processes"] > out["concurrency"]:
                raise LaunchError(
                    f"processes ({out['processes']}) needs at least as many workers: set "
                    f"concurrency (-c) to {out['processes']} or more"
                )
        out["rate"] = None
        if self.rate.strip():
            rate = _number("rate (-q)", self.rate)
            if not rate > 0:
                raise LaunchError(f"rate (-q) must be > 0 calls per second (got {self.rate!r})")
            out["rate"] = rate
        out["warmup"] = None
        warm = self.warmup.strip()
        if warm:
            if warm.isdigit():
                out["warmup"] = warm
            else:
                _seconds("warmup (-w)", warm)
                out["warmup"] = warm if warm[-1].isalpha() else f"{warm}s"
        if not self.path.strip():
            raise LaunchError("results folder (-p): give the folder the trials go to")
        out["path"] = self.path.strip()
        return out

    def argv(self, tid: str | None = None) -> list[str]:
        """The full command line (validated first)."""
        return ab_argv(self.validate(), self.arguments(), tid)


def ab_argv(options: Mapping[str, Any], arguments: Sequence[str], tid: str | None) -> list[str]:
    """``votakvot-ab`` options (from :meth:`AbRequest.validate`), then CALLABLE KEY=VALUE..."""
    argv = ab_base_command()
    if options["duration"] is not None:
        argv += ["-d", f"{options['duration']:g}"]
    else:
        argv += ["-n", str(options["number"])]
    argv += ["-c", str(options["concurrency"])]
    if options["gevent"]:
        argv.append("--gevent")
    if options["processes"] > 1:
        argv += ["--processes", str(options["processes"])]
    if options["rate"] is not None:
        argv += ["-q", f"{options['rate']:g}"]
    if options["warmup"]:
        argv += ["-w", str(options["warmup"])]
    argv += ["-p", str(options["path"])]
    if tid:
        argv += ["-t", tid]
    argv.append(str(options["spec"]))
    argv += list(arguments)
    return argv


def _arg_item(key: str, value: Any) -> str:
    """``KEY=VALUE`` as typed in the form: plain text stays plain when it cannot be read as
    a literal (``url=http://x``), else the literal (``code='200'``); quoted for the shell
    split when it holds spaces or quotes."""
    text = value if isinstance(value, str) else format_value(value)
    if isinstance(value, str):
        try:
            ast.literal_eval(value)
            text = repr(value)  # "3" must stay a string, not become 3
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    item = f"{key}={text}"
    if not any(c.isspace() or c in "'\"\\" for c in item):
        return item
    if '"' not in item and "\\" not in item:
        return f'"{item}"'  # reads better than shlex.quote's '"'"' for a quoted literal
    return shlex.quote(item)


def _whole(name: str, text: str, *, minimum: int) -> int:
    try:
        value = int(text.strip().replace("_", ""))
    except ValueError:
        raise LaunchError(f"{name} must be a whole number (got {text!r})") from None
    if value < minimum:
        raise LaunchError(f"{name} must be >= {minimum} (got {value})")
    return value


def _number(name: str, text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise LaunchError(f"{name} must be a number (got {text!r})") from None


def _seconds(name: str, text: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    body = text.strip().lower()
    scale = 1.0
    for unit in ("ms", "s", "m", "h"):
        if body.endswith(unit):
            body, scale = body[: -len(unit)].strip(), units[unit]
            break
    try:
        value = float(body) * scale
    except ValueError:
        raise LaunchError(f"{name} must be seconds like 10, 2.5s or 1m (got {text!r})") from None
    if not value > 0:
        raise LaunchError(f"{name} must be > 0 seconds (got {text!r})")
    return value


# --- resuming and rerunning trials ---------------------------------------------------------


def root_of(folder: str, tid: str) -> str:
    """The results root a trial folder lives under (the folder without its tid).

    Raises:
        LaunchError: the folder does not end with the tid (a moved or renamed folder).
    """
    folder = folder.rstrip("/")
    tid = tid.strip("/")
    if not tid or not (folder == tid or folder.endswith("/" + tid)):
        raise LaunchError(
            f"trial folder {folder} does not end with its tid {tid!r} (was it moved?); "
            "run it from Python with votakvot.init(path=...) and votakvot.run(tid, ...)"
        )
    return folder[: -len(tid)].rstrip("/") or "/"


def trial_cwd(record: Mapping[str, Any], default: str | None = None) -> str:
    """Where to run a trial's code again: the folder it ran in (if it is here), else ``default``.

    The trial's module was imported from there, so it imports from there again.
    """
    meta = record.get("meta") or {}
    cwd = (meta.get("system") or {}).get("cwd") if isinstance(meta, Mapping) else None
    if isinstance(cwd, str) and os.path.isdir(cwd):
        return cwd
    return default or os.getcwd()


def format_value(value: Any) -> str:
    """A param as the rerun form shows it: a Python literal when it reads back as one."""
    text = repr(value)
    try:
        if ast.literal_eval(text) == value:
            return text
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    return str(value)


def _runner() -> list[str]:
    return [sys.executable, "-m", "votakvot_tui.runs"]


def check_command(function: str) -> list[str]:
    """A command that exits 0 if ``function`` imports, else prints why and exits 2."""
    return [*_runner(), "check", function]


def resume_command(folder: str, record: Mapping[str, Any]) -> list[str]:
    """The command that runs ``votakvot.run(tid, cls, **params)`` for a recorded trial."""
    tid = str(record.get("tid") or "")
    function = record.get("function")
    if not function:
        raise LaunchError(f"trial {tid or folder} records no function: nothing to resume")
    root_of(folder, tid)
    return [*_runner(), "resume", folder]


def not_rerunnable(record: Mapping[str, Any]) -> str | None:
    """Why the trial's function cannot be run from another process, or ``None``.

    A function defined in a notebook cell (or typed into a REPL) lives in that
    kernel's ``__main__``: a new process has no such function to import, so the
    dashboard says so instead of failing to import ``__main__.train``.
    """
    function = str(record.get("function") or "")
    if not function.startswith("__main__."):
        return None
    source = record.get("source")
    source = source if isinstance(source, Mapping) else {}
    name = function.removeprefix("__main__.")
    notebook = source.get("notebook")
    cell = source.get("cell")
    where = f" (cell In[{cell}])" if cell is not None else ""
    if notebook or cell is not None:
        defined = f"in notebook {notebook}{where}" if notebook else f"in a notebook cell{where}"
        return (
            f"{name} was defined {defined}: a function defined in a notebook cannot be rerun "
            "from outside its kernel. Rerun it in the notebook, or move it to a .py module "
            "that the notebook imports"
        )
    return (
        f"{name} was defined in __main__ of an interactive session or a 'python -c' command: "
        "it cannot be imported by another process. Move it to a .py module to rerun it"
    )


def rerun_command(folder: str, function: str, items: Sequence[str]) -> list[str]:
    """The command that runs ``function(**params)`` as a new trial recording ``rerun_of``.

    ``items`` are ``KEY=VALUE`` strings (values read as Python literals, as in ab).
    """
    if not function:
        raise LaunchError(f"trial {folder} records no function: it cannot be rerun")
    return [*_runner(), "rerun", folder, *items]


# --- the program behind those commands (runs in the job's process) -------------------------


def _import(function: str) -> Any:
    """The object ``module.qualname`` names, importing from the current folder first."""
    from votakvot.ab.target import UsageError, resolve

    if "<locals>" in function:
        raise LaunchError(
            f"{function} was defined inside another function: it cannot be imported again; "
            "move it to the top level of its module"
        )
    problem = not_rerunnable({"function": function})
    if problem is not None:  # importing "__main__" here would find this very program
        raise LaunchError(problem)
    try:
        return resolve(function).obj
    except UsageError as exc:
        raise LaunchError(f"cannot import {function}: {exc}") from None


def _read(folder: str) -> dict[str, Any]:
    from votakvot.trial import read_trial

    trial = read_trial(folder)
    if trial is None:
        raise LaunchError(f"no votakvot.yaml in {folder}: not a trial folder")
    return dict(trial.data)


class _RerunOf:
    """A hook recording ``info.rerun_of`` in the first top-level trial of this process."""

    def __init__(self, source: Mapping[str, Any]) -> None:
        self.source = source
        self.done = False

    def on_start(self, trial: Any) -> None:
        if self.done or trial.parent is not None:
            return
        self.done = True
        trial.inform({"rerun_of": self.source.get("tid")})
        trial.write_yaml()

    def on_end(self, trial: Any) -> None:
        pass


def _snapshot_params(folder: str) -> dict[str, Any] | None:
    """The params pickled in the snapshot's header: the very values the task was given
    (the YAML may have turned a tuple into a list). ``None`` without a local snapshot."""
    from votakvot._layout import SNAPSHOT_NAME
    from votakvot._scan import read_side_file
    from votakvot.resumable import read_snapshot_header

    try:
        raw = read_side_file(folder, SNAPSHOT_NAME, None)  # a FIFO raises, never blocks
        if raw is None:
            return None
        header, _ = read_snapshot_header(raw)
    except Exception as exc:
        print(f"votakvot: the snapshot header in {folder} is unreadable ({exc})", file=sys.stderr)
        return None
    params = header.get("params") if isinstance(header, dict) else None
    return dict(params) if isinstance(params, dict) else None


def _resume(folder: str) -> int:
    import votakvot

    record = _read(folder)
    tid = str(record.get("tid") or "")
    root = root_of(folder, tid)
    cls = _import(str(record.get("function") or ""))
    params = _snapshot_params(folder)
    if params is None:
        params = dict(record.get("params") or {})
    votakvot.init(path=root)
    print(f"resuming {tid} under {root}: {record.get('function')}", flush=True)
    trial = votakvot.run(tid, cls, **params)
    print(f"{tid}: {trial.state}", flush=True)
    return 0


def _rerun(folder: str, items: list[str]) -> int:
    import votakvot
    from votakvot import _active
    from votakvot.ab.target import UsageError, parse_kwargs
    from votakvot.resumable import resumable_fn

    record = _read(folder)
    tid = str(record.get("tid") or "")
    root = root_of(folder, tid)
    function = str(record.get("function") or "")
    problem = not_rerunnable(record)
    if problem is not None:
        raise LaunchError(problem)
    obj = _import(function)
    try:
        params = parse_kwargs(items)
    except UsageError as exc:
        raise LaunchError(str(exc)) from None
    votakvot.init(path=root)
    _active.hooks.append(_RerunOf(record))
    print(f"rerunning {function} (from {tid}) with {params}", flush=True)
    if isinstance(obj, type) and issubclass(obj, resumable_fn):
        stamp = datetime.datetime.now().strftime("%y%m%d-%H%M%S")
        result = votakvot.run(f"{tid}-rerun-{stamp}", obj, **params)
        print(f"new trial {result.tid}: {result.state}", flush=True)
        return 0
    fn = obj if hasattr(obj, "__votakvot_prefix__") else votakvot.track()(obj)
    result = fn(**params)
    print(f"result: {result!r}", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m votakvot_tui.runs check FUNCTION | resume FOLDER | rerun FOLDER K=V...``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        if len(args) == 2 and args[0] == "check":
            obj = _import(args[1])
            print(f"{args[1]}: {type(obj).__name__}")
            return 0
        if len(args) == 2 and args[0] == "resume":
            return _resume(args[1])
        if len(args) >= 2 and args[0] == "rerun":
            return _rerun(args[1], args[2:])
    except LaunchError as exc:
        print(f"votakvot: {exc}", file=sys.stderr)
        return 2
    print(
        "usage: python -m votakvot_tui.runs check FUNCTION | resume FOLDER | "
        "rerun FOLDER [KEY=VALUE ...]",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
