"""Commands the dashboard starts: ab runs, resumed tasks, reruns.

Everything the app launches goes through this module, which never imports
Textual, so it is easy to test with real subprocesses and usable from scripts.

A job is a folder under the jobs directory (``$VOTAKVOT_JOBS_DIR``, else
``~/.cache/votakvot/jobs``)::

    {jobs dir}/{job id}/
        job.json      what to run: argv, cwd, title, kind, trial (written first)
        started.json  pids of the supervisor and the command, start time
        stdout.log    the command's standard output
        stderr.log    its standard error
        stop          present once a stop was asked (holds the time)
        exit.json     exit code and end time (written by the supervisor)

The command does not run as a child of the app: a small supervisor process
(``python -m votakvot_tui.core.jobs JOBDIR``) starts it in a new session, so it keeps
running when the app quits, records its exit code when it ends, and carries
out a stop: SIGINT to the command's process group (what Ctrl-C in a terminal
does), SIGTERM after a grace period, SIGKILL after another. A dashboard started
later lists the same jobs from their folders.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "GRACE",
    "Job",
    "JobError",
    "JobManager",
    "jobs_dir",
    "readable_command",
]

GRACE = 10.0
"""Seconds between SIGINT and SIGTERM (and between SIGTERM and SIGKILL) on stop."""
START_GRACE = 30.0
"""Seconds a job may take to start its command before it counts as ``lost``."""
TAIL_BYTES = 64 * 1024
"""At most this much of the end of an output file is read for a tail."""
STATES = ("starting", "running", "stopping", "done", "failed", "stopped", "lost")
"""What :attr:`Job.state` can be; ``lost`` means the supervisor vanished without a word
(killed with SIGKILL, or the machine rebooted)."""

JOB_FILE = "job.json"
STARTED_FILE = "started.json"
EXIT_FILE = "exit.json"
STOP_FILE = "stop"
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"
SUPERVISOR_LOG = "supervisor.log"


class JobError(Exception):
    """A job cannot be started or found (the message says which and why)."""


def jobs_dir() -> str:
    """Where job folders live: ``$VOTAKVOT_JOBS_DIR`` or ``~/.cache/votakvot/jobs``."""
    configured = os.environ.get("VOTAKVOT_JOBS_DIR")
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "votakvot", "jobs")


def _read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # being written (atomic replace makes this rare) or damaged: unknown yet
    return data if isinstance(data, dict) else None


def _write_json(path: str, data: Mapping[str, Any]) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def _pid_alive(pid: int, marker: str | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, on Linux, is the process we started.

    ``marker`` (the job folder) must appear in its command line: a reused pid
    belonging to some other program is not taken for our supervisor.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return marker is None
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            if f.read().split(b") ", 1)[1][:1] == b"Z":
                return False
        if marker is not None:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return marker.encode() in f.read()
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal test above is all we have
    return True


def _tail(path: str, lines: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(size - TAIL_BYTES, 0))
            data = f.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", "replace").replace("\r\n", "\n")
    # A progress line redrawn with \r: keep what was drawn last.
    out = [line.rsplit("\r", 1)[-1] for line in text.split("\n")]
    if out and out[-1] == "":
        out.pop()
    return "\n".join(out[-lines:])


@dataclasses.dataclass
class Job:
    """One started command, as its folder tells (call :meth:`reload` to read it again)."""

    id: str
    """The folder name: ``{yymmdd-HHMMSSmmm}-{kind}-{random}``, sortable by start time."""
    folder: str
    """The job's folder."""
    argv: list[str]
    """The command."""
    cwd: str
    """Where it runs."""
    kind: str = "command"
    """``ab``, ``resume``, ``rerun`` or ``command``: what the dashboard started it for."""
    title: str = ""
    """One line for lists."""
    trial: str | None = None
    """The trial folder the command writes, when known (the monitor watches it)."""
    created: float = 0.0
    """Unix time the job was asked for."""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Anything else the launcher wants to remember (form values, ...)."""
    pid: int | None = None
    """The supervisor's pid."""
    child_pid: int | None = None
    """The command's pid (also its process group id)."""
    started: float | None = None
    """Unix time the command started."""
    ended: float | None = None
    """Unix time it ended."""
    exit_code: int | None = None
    """Its exit status; negative: killed by that signal."""
    stop_requested: float | None = None
    """When a stop was asked."""
    start_error: str | None = None
    """Why the supervisor could not start the command (not found, ...)."""

    @classmethod
    def load(cls, folder: str) -> Job | None:
        """Read a job folder; ``None`` if it holds no readable ``job.json``."""
        spec = _read_json(os.path.join(folder, JOB_FILE))
        if spec is None:
            return None
        job = cls(
            id=os.path.basename(folder.rstrip("/")),
            folder=folder,
            argv=[str(a) for a in spec.get("argv", [])],
            cwd=str(spec.get("cwd", "")),
            kind=str(spec.get("kind", "command")),
            title=str(spec.get("title", "")),
            trial=spec.get("trial"),
            created=float(spec.get("created", 0.0)),
            extra=dict(spec.get("extra") or {}),
            pid=spec.get("pid"),
        )
        job.reload()
        return job

    def reload(self) -> Job:
        """Read the files the supervisor writes again."""
        started = _read_json(os.path.join(self.folder, STARTED_FILE))
        if started is not None:
            self.pid = started.get("pid", self.pid)
            self.child_pid = started.get("child_pid")
            self.started = started.get("started")
            self.start_error = started.get("error")
        exited = _read_json(os.path.join(self.folder, EXIT_FILE))
        if exited is not None:
            self.exit_code = exited.get("code")
            self.ended = exited.get("ended")
        try:
            with open(os.path.join(self.folder, STOP_FILE), encoding="utf-8") as f:
                self.stop_requested = float(f.read().strip() or 0) or time.time()
        except FileNotFoundError:
            self.stop_requested = None
        except (OSError, ValueError):
            self.stop_requested = time.time()
        return self

    # --- what lists show -----------------------------------------------------------

    @property
    def finished(self) -> bool:
        """The command ended and its exit code is recorded."""
        return self.ended is not None

    def alive(self) -> bool:
        """The supervisor is still there (so the command runs or is being stopped)."""
        if self.pid is None:
            return False
        return _pid_alive(self.pid, self.folder)

    @property
    def state(self) -> str:
        """One of :data:`STATES`."""
        if self.finished:
            if self.start_error is not None:
                return "failed"
            if self.stop_requested is not None and self.exit_code != 0:
                return "stopped"
            return "done" if self.exit_code == 0 else "failed"
        if self.alive():
            if self.stop_requested is not None:
                return "stopping"
            return "running" if self.started is not None else "starting"
        if self.started is None and time.time() - self.created < START_GRACE:
            # Between fork and exec the supervisor does not look like itself yet.
            return "starting"
        return "lost"

    @property
    def elapsed(self) -> float:
        """Seconds it has run (until now, or until it ended)."""
        start = self.started or self.created
        end = self.ended if self.ended is not None else time.time()
        return max(end - start, 0.0)

    def tail(self, lines: int = 20, stream: str = "both") -> str:
        """The last ``lines`` of its output: ``stdout``, ``stderr`` or ``both`` (stdout
        first, then stderr, each trimmed to ``lines``)."""
        parts = []
        if stream in ("stdout", "both"):
            parts.append(_tail(os.path.join(self.folder, STDOUT_FILE), lines))
        if stream in ("stderr", "both"):
            parts.append(_tail(os.path.join(self.folder, STDERR_FILE), lines))
        if self.start_error:
            parts.append(self.start_error)
        if not self.finished and self.started is None:
            # A supervisor that failed before starting the command says why here.
            parts.append(_tail(os.path.join(self.folder, SUPERVISOR_LOG), lines))
        return "\n".join(p for p in parts if p)

    @property
    def command(self) -> str:
        """The command line as a shell would show it."""
        import shlex

        return shlex.join(self.argv)

    @property
    def short_id(self) -> str:
        """The random end of the id (``a1b2c3``): tells jobs apart, the table shows it."""
        return self.id.rsplit("-", 1)[-1]

    def readable(self) -> str:
        """The command as a person reads it (see :func:`readable_command`)."""
        return readable_command(self.argv, self.cwd)

    def describe(self) -> str:
        """``state, elapsed, exit code``: one short line."""
        text = f"{self.state} {_fmt_elapsed(self.elapsed)}"
        if self.exit_code is not None:
            text += f" exit {self.exit_code}"
        return text


def readable_command(argv: Sequence[str], cwd: str = "") -> str:
    """A command line for reading, not for pasting into a shell.

    ``shlex.join`` quotes every ``'`` (``'tags=('"'"'a'"'"',)'``) and shows the full
    interpreter path; here the interpreter is ``python``, paths under ``cwd`` are
    relative and under the home folder start with ``~``, and only an argument with
    spaces (or an empty one) is put in double quotes.
    """
    home = os.path.expanduser("~").rstrip("/")
    base = cwd.rstrip("/")
    out = []
    for index, arg in enumerate(argv):
        if index == 0 and (arg == sys.executable or os.path.basename(arg).startswith("python")):
            arg = "python"
        elif os.path.isabs(arg) and base and arg.startswith(base + "/"):
            arg = arg[len(base) + 1 :]
        elif os.path.isabs(arg) and home and arg.startswith(home + "/"):
            arg = "~" + arg[len(home) :]
        if not arg or any(c.isspace() for c in arg):
            arg = '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(arg)
    return " ".join(out)


def _fmt_elapsed(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, sec = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}" if hours else f"{minutes}:{sec:02d}"


class JobManager:
    """Starts, stops and lists jobs in one jobs directory.

    Args:
        directory: the jobs directory; default :func:`jobs_dir`.
        grace: seconds between the signals of a stop.
    """

    def __init__(self, directory: str | None = None, *, grace: float = GRACE) -> None:
        self.directory = directory or jobs_dir()
        """Where job folders are created and listed."""
        self.grace = grace
        """Seconds between SIGINT, SIGTERM and SIGKILL on stop."""
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def start(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        kind: str = "command",
        title: str = "",
        trial: str | None = None,
        env: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Job:
        """Start ``argv`` detached (new session) with its output going to the job folder.

        Args:
            argv: the command and its arguments.
            cwd: where it runs (default: the current directory).
            kind: what it is for (``ab``, ``resume``, ``rerun``).
            title: one line for lists.
            trial: the trial folder it writes, when known.
            env: variables added to the environment.
            extra: more to remember in ``job.json``.

        Raises:
            JobError: the jobs directory cannot be written, or the supervisor cannot start.
        """
        if not argv:
            raise JobError("nothing to run: the command is empty")
        cwd = os.path.abspath(cwd or os.getcwd())
        if not os.path.isdir(cwd):
            raise JobError(f"cannot run {argv[0]!r} in {cwd}: no such folder")
        now = time.time()
        # Milliseconds in the name: folder names sort in start order (lists rely on it).
        stamp = datetime.datetime.fromtimestamp(now).strftime("%y%m%d-%H%M%S%f")[:-3]
        job_id = f"{stamp}-{kind}-{secrets.token_hex(3)}"
        folder = os.path.join(self.directory, job_id)
        spec = {
            "argv": list(argv),
            "cwd": cwd,
            "kind": kind,
            "title": title or " ".join(argv[:6]),
            "trial": trial,
            "created": now,
            "env": dict(env or {}),
            "extra": dict(extra or {}),
            "grace": self.grace,
        }
        try:
            os.makedirs(folder)
            _write_json(os.path.join(folder, JOB_FILE), spec)
        except OSError as exc:
            raise JobError(
                f"cannot create the job folder {folder}: {exc} (set VOTAKVOT_JOBS_DIR to a "
                "writable folder)"
            ) from exc
        try:
            with (
                open(os.devnull, "rb") as null_in,
                open(os.path.join(folder, SUPERVISOR_LOG), "ab") as log,
            ):
                popen = subprocess.Popen(
                    [sys.executable, "-m", "votakvot_tui.core.jobs", folder],
                    stdin=null_in,
                    stdout=log,
                    stderr=log,
                    cwd=cwd,
                    start_new_session=True,
                    env=_supervisor_env(),
                )
        except OSError as exc:
            raise JobError(f"cannot start the job supervisor for {argv[0]!r}: {exc}") from exc
        with self._lock:
            self._children[job_id] = popen
        spec["pid"] = popen.pid
        _write_json(os.path.join(folder, JOB_FILE), spec)
        job = Job.load(folder)
        assert job is not None
        return job

    def _reap(self) -> None:
        """Collect supervisors of ours that ended, so they do not linger as zombies."""
        with self._lock:
            for job_id, popen in list(self._children.items()):
                if popen.poll() is not None:
                    del self._children[job_id]

    def get(self, job_id: str) -> Job:
        """The job ``job_id`` as its folder says now.

        Raises:
            JobError: there is no such job.
        """
        self._reap()
        job = Job.load(os.path.join(self.directory, job_id))
        if job is None:
            raise JobError(f"no job {job_id!r} in {self.directory}")
        return job

    def list_jobs(self, limit: int | None = None) -> list[Job]:
        """Jobs in the directory, newest first (``limit``: only that many)."""
        self._reap()
        try:
            names = sorted(os.listdir(self.directory), reverse=True)
        except FileNotFoundError:
            return []
        jobs = []
        for name in names:
            job = Job.load(os.path.join(self.directory, name))
            if job is not None:
                jobs.append(job)
            if limit is not None and len(jobs) >= limit:
                break
        return jobs

    def running(self) -> list[Job]:
        """Jobs whose command has not ended yet."""
        return [j for j in self.list_jobs() if j.state in ("starting", "running", "stopping")]

    def job_for_trial(self, path: str) -> str | None:
        """The newest job writing the trial folder ``path``, if any (among the last 200)."""
        wanted = os.path.normpath(path)
        for job in self.list_jobs(limit=200):
            if job.trial and os.path.normpath(job.trial) == wanted:
                return job.id
        return None

    def stop(self, job: Job | str) -> Job:
        """Ask the job's command to stop: SIGINT now, SIGTERM and SIGKILL later if needed.

        The supervisor sends the signals, so a stop finishes even if the app quits.
        Stopping a job that already ended does nothing. Asking again while it is
        stopping sends the next signal at once.
        """
        if isinstance(job, str):
            job = self.get(job)
        job.reload()
        if job.finished or job.pid is None:
            return job
        again = job.stop_requested is not None
        with open(os.path.join(job.folder, STOP_FILE), "w", encoding="utf-8") as f:
            f.write(f"{time.time()}\n")
        # The supervisor reads the stop file once it started the command; before that
        # (no started.json yet) a signal could kill it before its handlers are in place.
        job.reload()
        if job.started is None or job.pid is None:
            return job
        with contextlib.suppress(ProcessLookupError):
            if job.alive():
                # SIGUSR1 asks the supervisor to escalate now; SIGINT starts the stop.
                os.kill(job.pid, signal.SIGUSR1 if again else signal.SIGINT)
        return job.reload()

    def wait(self, job: Job | str, timeout: float | None = None) -> Job:
        """Block until the job ended (or ``timeout`` passed); returns it re-read."""
        job_id = job if isinstance(job, str) else job.id
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            current = self.get(job_id)
            if current.finished or current.state == "lost":
                return current
            if deadline is not None and time.monotonic() > deadline:
                return current
            time.sleep(0.05)

    def forget(self, job: Job | str) -> None:
        """Delete an ended job's folder (its output goes with it).

        Raises:
            JobError: the job still runs.
        """
        import shutil

        if isinstance(job, str):
            job = self.get(job)
        if job.state in ("starting", "running", "stopping"):
            raise JobError(f"job {job.id} is {job.state}; stop it first")
        shutil.rmtree(job.folder, ignore_errors=False)


_SAVED_PYTHONPATH = "_VOTAKVOT_JOBS_PYTHONPATH"


def _supervisor_env() -> dict[str, str]:
    """The environment of the supervisor: ours, with this package importable.

    The command itself gets the environment unchanged (the supervisor puts the
    user's ``PYTHONPATH`` back), so a job behaves as if typed in the app's shell.
    """
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = env.get("PYTHONPATH")
    env[_SAVED_PYTHONPATH] = "-" if path is None else "=" + path
    env["PYTHONPATH"] = here if not path else f"{here}{os.pathsep}{path}"
    return env


def _command_env(spec: Mapping[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    saved = env.pop(_SAVED_PYTHONPATH, None)
    if saved == "-":
        env.pop("PYTHONPATH", None)
    elif saved is not None:
        env["PYTHONPATH"] = saved[1:]
    env.update({str(k): str(v) for k, v in (spec.get("env") or {}).items()})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


# --- the supervisor (runs in its own process) ------------------------------------------


class _Stopper:
    """The escalation of a stop: SIGINT, then SIGTERM, then SIGKILL, ``grace`` apart.

    Installed before the command starts: a stop that comes while it is being
    started is remembered and carried out once it runs.
    """

    STEPS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)

    def __init__(self, grace: float) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.grace = grace
        self.next = 0
        self.due: float | None = None
        self.pending = False
        self.lock = threading.RLock()  # taken again by a handler interrupting send_next

    def send_next(self) -> None:
        with self.lock:
            child = self.child
            if child is None:
                self.pending = True
                return
            if self.next >= len(self.STEPS) or child.poll() is not None:
                return
            sig = self.STEPS[self.next]
            self.next += 1
            self.due = time.monotonic() + self.grace
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, sig)

    def on_signal(self, signum: int, frame: Any) -> None:
        # A repeated SIGINT (several stops) does not skip the grace period; SIGUSR1 does.
        if self.next == 0 or signum in (signal.SIGUSR1, signal.SIGTERM):
            self.send_next()

    def started(self, child: subprocess.Popen[bytes], stop_asked: bool) -> None:
        """The command runs: carry out a stop asked meanwhile (by signal or stop file)."""
        with self.lock:
            self.child = child
            pending = self.pending
        if (pending or stop_asked) and self.next == 0:
            self.send_next()

    def tick(self) -> None:
        if self.due is not None and time.monotonic() >= self.due:
            self.send_next()


def supervise(folder: str, grace: float | None = None) -> int:
    """Run the job in ``folder`` to its end and record how it ended (the supervisor's main).

    SIGINT (a stop) is passed to the command's process group; if it still runs
    ``grace`` seconds later it gets SIGTERM, and SIGKILL after as long again.
    SIGUSR1 (a second stop) moves to the next signal at once. SIGTERM to the
    supervisor is passed on as well.
    """
    spec = _read_json(os.path.join(folder, JOB_FILE))
    if spec is None:
        print(f"votakvot job supervisor: no readable {JOB_FILE} in {folder}", file=sys.stderr)
        return 2
    if grace is None:
        grace = float(spec.get("grace", GRACE))
    env = _command_env(spec)
    stopper = _Stopper(grace)
    signal.signal(signal.SIGINT, stopper.on_signal)
    signal.signal(signal.SIGUSR1, stopper.on_signal)
    signal.signal(signal.SIGTERM, stopper.on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    started = time.time()
    try:
        with (
            open(os.path.join(folder, STDOUT_FILE), "ab") as out,
            open(os.path.join(folder, STDERR_FILE), "ab") as err,
            open(os.devnull, "rb") as null_in,
        ):
            child = subprocess.Popen(
                [str(a) for a in spec["argv"]],
                cwd=spec.get("cwd") or None,
                stdin=null_in,
                stdout=out,
                stderr=err,
                env=env,
                process_group=0,
            )
    except (OSError, ValueError) as exc:
        now = time.time()
        _write_json(
            os.path.join(folder, STARTED_FILE),
            {"pid": os.getpid(), "child_pid": None, "started": started, "error": str(exc)},
        )
        _write_json(os.path.join(folder, EXIT_FILE), {"code": 127, "ended": now})
        return 127
    # Written after the handlers are installed: JobManager.stop signals only once it exists.
    _write_json(
        os.path.join(folder, STARTED_FILE),
        {"pid": os.getpid(), "child_pid": child.pid, "started": started},
    )
    stopper.started(child, os.path.exists(os.path.join(folder, STOP_FILE)))
    while True:
        try:
            code = child.wait(timeout=0.1)
            break
        except subprocess.TimeoutExpired:
            stopper.tick()
    _write_json(os.path.join(folder, EXIT_FILE), {"code": code, "ended": time.time()})
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m votakvot_tui.core.jobs JOB_FOLDER", file=sys.stderr)
        sys.exit(2)
    sys.exit(supervise(sys.argv[1]))
