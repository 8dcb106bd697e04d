"""The commands the dashboard launches, and the small program that resumes or reruns a trial.

Free of Textual: the forms build an :class:`AbRequest` or call :func:`resume_command`
/ :func:`rerun_command`, and :mod:`votakvot_tui.core.jobs` runs the result. Resuming and
rerunning happen in a separate process (``python -m votakvot_tui.core.runs ...``), so
the user's code never runs inside the dashboard and keeps going after it quits.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import importlib.util
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from votakvot.ab.options import (
    OptionError,
    Options,
    TextError,
    form_name,
    format_number,
    parse_int,
    parse_number,
    parse_seconds,
    parse_warmup,
)
from votakvot.ab.target import UsageError, parse_kwargs
from votakvot.layout import SNAPSHOT_NAME, YAML_NAME
from votakvot.reading import read_side_file
from votakvot.resumable import read_snapshot_header
from votakvot.trial import read_trial

from .jobs import JobError, JobManager

__all__ = [
    "AbRequest",
    "LaunchError",
    "ab_base_command",
    "check_command",
    "check_importable",
    "format_value",
    "not_rerunnable",
    "rerun_command",
    "resume_command",
    "root_of",
    "start_resume",
    "trial_cwd",
]

CHECK_TIMEOUT = 60.0
"""Seconds allowed for importing a task's module in the check before resuming."""
ENGINES = ("threads", "gevent", "processes")
"""How an ab run's workers run: ``-c`` threads, ``--gevent`` greenlets, ``--processes``."""


class LaunchError(Exception):
    """What the user asked cannot be launched; the message says what to fix.

    Args:
        message: what is wrong and what to do.
        field: the form field at fault (an :class:`AbRequest` field name), or "".
    """

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field
        """The form field the message is about ("" when none in particular)."""


def ab_base_command() -> list[str]:
    """How to start ``votakvot-ab`` with this very interpreter (a venv need not be active)."""
    if importlib.util.find_spec("votakvot.ab.__main__") is not None:
        return [sys.executable, "-m", "votakvot.ab"]
    return [sys.executable, "-m", "votakvot.ab.cli"]


@dataclasses.dataclass
class AbRequest:
    """What the launch form asks for: one ``votakvot-ab`` run, as the user typed it.

    Text fields hold what the user typed; :meth:`validate` reads them into
    :class:`votakvot.ab.Options` (the same readers and checks as the command line).
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
        opts = Options.from_params(params, path)
        engine = "gevent" if opts.gevent else "threads"
        if opts.processes > 1:
            engine = "processes"
        warmup = ""
        if opts.warmup_calls:
            warmup = str(opts.warmup_calls)
        elif opts.warmup_seconds:
            warmup = format_number(opts.warmup_seconds) + "s"
        return cls(
            callable=opts.spec,
            args=" ".join(_shell_item(item) for item in opts.arguments()),
            number="" if opts.duration else str(opts.number),
            duration=format_number(opts.duration) if opts.duration else "",
            concurrency=str(opts.concurrency),
            engine=engine,
            processes=str(opts.processes if opts.processes > 1 else 2),
            rate=format_number(opts.rate) if opts.rate else "",
            warmup=warmup,
            path=path,
        )

    def arguments(self) -> list[str]:
        """The ``KEY=VALUE`` items (shell-split, so values may be quoted)."""
        try:
            return shlex.split(self.args)
        except ValueError as exc:
            raise LaunchError(
                f"arguments {self.args!r}: {exc} (close the quote)", field="args"
            ) from None

    def validate(self) -> Options:
        """Read and check every field without importing the callable.

        Raises:
            LaunchError: a field is wrong (the message names it and says what is expected).
        """
        spec = self.callable.strip()
        if not spec:
            raise LaunchError(
                "callable: give module.attr (e.g. my_module.get) or file.py:attr",
                field="callable",
            )
        try:
            kwargs = parse_kwargs(self.arguments())
        except UsageError as exc:
            raise LaunchError(str(exc), field="args") from None
        if self.engine not in ENGINES:
            raise LaunchError(
                f"engine must be one of {', '.join(ENGINES)} (got {self.engine!r})", field="engine"
            )
        if not self.path.strip():
            raise LaunchError("results folder (-p): give the folder the trials go to", field="path")
        field = ""

        def read(name: str, parse: Any, text: str, *, optional: bool = False) -> Any:
            nonlocal field
            field = name
            return None if optional and not text.strip() else parse(text.strip())

        try:
            duration = read("duration", parse_seconds, self.duration, optional=True)
            number = None if duration is not None else read("number", parse_int, self.number)
            concurrency = read("concurrency", parse_int, self.concurrency)
            processes = 1
            if self.engine == "processes":
                processes = read("processes", parse_int, self.processes)
            warmup = read("warmup", parse_warmup, self.warmup, optional=True) or (0, 0.0)
            rate = read("rate", parse_number, self.rate, optional=True)
        except TextError as exc:
            what = _FORM_WHAT.get(field, exc.what)
            raise LaunchError(
                f"{form_name(field)} must be {what} (got {exc.text!r})", field=field
            ) from None
        opts = Options(
            spec=spec,
            kwargs=kwargs,
            number=number,
            duration=duration,
            concurrency=concurrency,
            gevent=self.engine == "gevent",
            processes=processes,
            warmup_calls=warmup[0],
            warmup_seconds=warmup[1],
            rate=rate,
            path=self.path.strip(),
        )
        try:
            opts.validate()
        except OptionError as exc:
            raise LaunchError(exc.named(form=True), field=exc.field) from None
        return opts

    def argv(self, tid: str | None = None) -> list[str]:
        """The full command line (validated first)."""
        return [*ab_base_command(), *dataclasses.replace(self.validate(), tid=tid).to_argv()]


_FORM_WHAT = {"warmup": "seconds like 2s or a number of calls like 100"}
"""What the form asks for where its words differ from the command line's."""


def _shell_item(item: str) -> str:
    """A ``KEY=VALUE`` item quoted for the form's shell split when it holds spaces or
    quotes (``"url=http://x y"`` reads better than :func:`shlex.quote`'s ``'"'"'``)."""
    if not any(c.isspace() or c in "'\"\\" for c in item):
        return item
    if '"' not in item and "\\" not in item:
        return f'"{item}"'
    return shlex.quote(item)


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
    return [sys.executable, "-m", "votakvot_tui.core.runs"]


def check_command(function: str) -> list[str]:
    """A command that exits 0 if ``function`` imports, else prints why and exits 2."""
    return [*_runner(), "check", function]


def check_importable(function: str, cwd: str) -> str | None:
    """Import ``function`` in a fresh interpreter in ``cwd``; ``None`` if it works, else why.

    A subprocess: the user's module never runs inside the dashboard.
    """
    try:
        done = subprocess.run(
            check_command(function),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"importing {function} took more than {CHECK_TIMEOUT:g}s"
    if done.returncode == 0:
        return None
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1].removeprefix("votakvot: ") if lines else f"exit status {done.returncode}"


def start_resume(jobs: JobManager, path: str) -> str:
    """Check the resumable trial ``path`` and resume it as a job of ``jobs``.

    Blocking (reads the record, imports the task's module in a subprocess): call
    from a thread. Returns what to tell the user; raises :class:`LaunchError` with
    the reason it cannot resume.
    """
    try:
        trial = read_trial(path)
    except Exception as exc:
        raise LaunchError(f"{path}: cannot read the trial ({exc})") from None
    if trial is None:
        raise LaunchError(f"{path} is not a trial folder (no {YAML_NAME})")
    if trial.data.get("kind") != "resumable":
        raise LaunchError(
            f"{trial.tid} is not a resumable task (a subclass of votakvot.resumable_fn run "
            "with votakvot.run); press E to rerun it with edited params instead"
        )
    state = trial.state
    if state == "done":
        raise LaunchError(f"{trial.tid} already finished; nothing to resume")
    if state == "running":
        raise LaunchError(
            f"{trial.tid} is still running (its heartbeat is fresh); stop it first, or wait "
            "for it to go stale if its process died"
        )
    job_id = jobs.job_for_trial(path)
    if job_id is not None and jobs.get(job_id).state in ("starting", "running"):
        raise LaunchError(f"{trial.tid} is being resumed already (job {job_id})")
    function = str(trial.data.get("function") or "")
    cwd = trial_cwd(trial.data)
    problem = check_importable(function, cwd)
    if problem is not None:
        raise LaunchError(
            f"the task's module is not importable from {cwd}: {problem}. Run the dashboard "
            "from the folder the task ran in, or install its package"
        )
    argv = resume_command(path, trial.data)
    try:
        job = jobs.start(argv, cwd=cwd, kind="resume", title=f"resume {trial.tid}", trial=path)
    except JobError as exc:
        raise LaunchError(str(exc)) from None
    return f"{trial.tid} resumes in job {job.id} (J shows its output)"


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
    trial = read_trial(folder)
    if trial is None:
        raise LaunchError(f"no {YAML_NAME} in {folder}: not a trial folder")
    return dict(trial.data)


def _snapshot_params(folder: str) -> dict[str, Any] | None:
    """The params pickled in the snapshot's header: the very values the task was given
    (the YAML may have turned a tuple into a list). ``None`` without a local snapshot."""
    try:
        raw = read_side_file(folder, SNAPSHOT_NAME, None)  # a FIFO raises, never blocks
        if raw is None:
            return None
        header, _ = read_snapshot_header(raw)
    except Exception:
        # Not reported here: votakvot.run checks the same snapshot next and refuses it
        # with the reason and the way out, which is the one message the user needs.
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
    votakvot.init(path=root, info={"rerun_of": record.get("tid")})
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
    """``python -m votakvot_tui.core.runs check FUNCTION | resume FOLDER | rerun FOLDER K=V...``."""
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
        "usage: python -m votakvot_tui.core.runs check FUNCTION | resume FOLDER | "
        "rerun FOLDER [KEY=VALUE ...]",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
