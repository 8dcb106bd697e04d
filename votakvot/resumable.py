"""Resumable tasks: long computations that survive their process being killed.

A task is a class: ``init(**params)`` builds its state on ``self`` and ``loop()``
advances it one step, returning ``None`` to go on or the result to finish. Between
two ``loop()`` calls the object is pickled into the trial folder (atomically, so a
kill at any moment leaves the previous snapshot or the new one). Running the same
explicit trial id again picks up from the last snapshot, in the same folder and
with the same trial id, and the YAML records each resume.

The snapshot file (:mod:`votakvot._snapshot`) starts with a plain JSON header and
is signed with a per-user key kept outside every results root: nothing in it is
unpickled before the signature checks out, so a snapshot planted or changed by
someone who can write into a shared results folder is refused, never run. Then the
params are compared, so a resume with other params is refused before any user
class is unpickled, and only then is the task object itself unpickled.
"""

from __future__ import annotations

import contextvars
import datetime
import io
import logging
import os
import pickle
import platform
import stat
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _snapshot, _source, _userkey, _yaml
from ._active import ActiveTrial
from ._config import get_config
from ._naming import function_name
from ._previous_run import PREVIOUS_RUN_FILES, clear_files
from ._records import parse_record
from ._values import to_plain
from .exceptions import ResumeError, TrialLoadError
from .layout import MAX_RECORD as RECORD_LIMIT
from .layout import (
    METRICS_PREFIX,
    SNAPSHOT_NAME,
    TRACEBACK_NAME,
    YAML_NAME,
)
from .storage import is_local

if TYPE_CHECKING:
    from .storage import Storage
    from .trial import Trial

__all__ = ["resumable_fn", "run_resumable"]

logger = logging.getLogger("votakvot")

SNAPSHOT_FORMAT = _snapshot.FORMAT
"""Version of the snapshot layout; a snapshot of another version is not resumed."""
SNAPSHOT_MAGIC = _snapshot.MAGIC
"""First bytes of every snapshot votakvot writes: a pickle from elsewhere is refused
before anything in it is unpickled (unpickling runs code)."""


class resumable_fn:
    """Base of resumable tasks: subclass it, write ``init(self, **params)`` and ``loop(self)``.

    ``loop`` returns ``None`` to be called again, and any other value to finish
    with that value as the trial's result. Everything the task needs to go on must
    live in picklable attributes of ``self`` (or define ``__getstate__``/``__setstate__``).

    Run it as a trial with ``votakvot.run("some/id", MyTask, **params)``, or as a
    plain untracked function with ``MyTask.call(**params)``.
    """

    snapshot_period: float | datetime.timedelta | None = 60.0
    """Snapshot when this many seconds (or this ``timedelta``) passed since the last one;
    ``None`` turns the timer off."""
    snapshot_each: int | None = None
    """Snapshot every this many loops as well; ``None`` turns it off."""

    def init(self, **params: Any) -> None:
        """Build the task's state from its params; called once per trial, not on resume."""
        raise NotImplementedError(f"{type(self).__qualname__} must define init(self, **params)")

    def loop(self) -> Any:
        """Do one step; return ``None`` to go on or the result to finish."""
        raise NotImplementedError(f"{type(self).__qualname__} must define loop(self)")

    @classmethod
    def call(cls, **params: Any) -> Any:
        """Run the task to its end in this process, untracked and without snapshots."""
        task = cls()
        task.init(**params)
        while True:
            result = task.loop()
            if result is not None:
                return result


class _Schedule:
    """When to snapshot, from the class attributes (checked once, before the run)."""

    def __init__(self, cls: type[resumable_fn]) -> None:
        period = cls.snapshot_period
        if isinstance(period, datetime.timedelta):
            period = period.total_seconds()
        if period is not None and (
            isinstance(period, bool) or not isinstance(period, (int, float)) or period < 0
        ):
            raise ValueError(
                f"{cls.__qualname__}.snapshot_period must be seconds >= 0, a timedelta "
                f"or None (got {cls.snapshot_period!r})"
            )
        each = cls.snapshot_each
        if each is not None and (isinstance(each, bool) or not isinstance(each, int) or each < 1):
            raise ValueError(
                f"{cls.__qualname__}.snapshot_each must be an int >= 1 or None (got {each!r})"
            )
        if "<locals>" in cls.__qualname__:
            raise TypeError(
                f"resumable task {cls.__qualname__} is defined inside a function; define it at "
                "the top level of a module, so its snapshots can be unpickled by a later run"
            )
        self.period: float | None = None if period is None else float(period)
        self.each = each


owner_gone: contextvars.ContextVar[Callable[[dict[str, Any]], bool] | None] = (
    contextvars.ContextVar("votakvot_owner_gone", default=None)
)
"""Set by a runner that knows its workers (Dask): given a trial's record, whether the
worker that left it ``running`` is gone. Then the trial resumes at once on any host
instead of waiting for its heartbeat to go stale."""

# Trials this process is running now, so a second run of the same id here is refused.
_running_here: set[tuple[str, str]] = set()
_running_lock = threading.Lock()


def _forget_after_fork() -> None:
    # A forked worker runs none of its parent's trials.
    global _running_lock
    _running_here.clear()
    _running_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def run_resumable(
    tid: str,
    cls: type[resumable_fn],
    params: dict[str, Any],
    *,
    rerun: bool = False,
    trial_id: str | None = None,
    trust_snapshot: bool = False,
) -> Trial:
    """Run, resume, or return the trial ``tid`` of the task ``cls`` (``votakvot.run`` calls it).

    Args:
        tid: the trial's explicit id, a relative folder under the root.
        cls: the task class, a subclass of :class:`resumable_fn`.
        params: keyword arguments of ``cls.init``; names starting with ``_`` are
            passed on but neither recorded nor compared on resume.
        rerun: start over even if the trial finished or has a snapshot.
        trial_id: the uuid to record for a fresh trial (default: a new one).
        trust_snapshot: resume from the snapshot without checking where it came from
            (signature, owner, record): only for a snapshot you know is yours, such
            as one of an older votakvot, which carries no signature.

    Returns:
        The trial as recorded. The task's exception is re-raised after it is recorded.

    Raises:
        ResumeError: the snapshot cannot be read or unpickled, does not verify (not
            signed with this user's key, changed, not this user's file, or with no
            matching record), was made with other params, or the trial is running in
            another live process right now.
    """
    schedule = _Schedule(cls)
    config = get_config()
    storage = config.storage
    recorded = {k: v for k, v in params.items() if not k.startswith("_")}
    trial = ActiveTrial(
        tid,
        recorded,
        function=function_name(cls),
        config=config,
        source=_source.describe(cls),
        extra={"kind": "resumable", "resumable": _section(schedule)},
    )
    folder = trial.path
    key = (storage.url, tid)
    with _running_lock:
        if key in _running_here:
            raise ResumeError(
                f"trial {tid!r} is already running in this process; wait for it to end "
                "or give this run another id"
            )
        _running_here.add(key)
    try:
        try:
            record = _read_record(storage, folder, tid)
        except ResumeError:
            if not rerun:
                raise
            record = None  # starting over anyway
        if record is not None and record.get("state") == "running":
            _check_not_running_elsewhere(storage, folder, tid, record)
        if not rerun and record is not None and record.get("state") == "done":
            _check_recorded_params(tid, record, recorded)
            from .trial import Trial

            return Trial(_url(storage, folder), record)
        snapshot = None if rerun else _open_snapshot(storage, folder, tid, trust_snapshot)
        if snapshot is None:
            if trial_id:
                trial.id = trial.data["id"] = trial_id
            fresh_start = (SNAPSHOT_NAME, *PREVIOUS_RUN_FILES)
            clear_files(trial, fresh_start, (METRICS_PREFIX,), temporary=True)
            return _Run(trial, cls, schedule).fresh(params)
        header, rest = snapshot
        if not trust_snapshot:
            snapshot_url = storage.shown(storage.join(folder, SNAPSHOT_NAME))
            _check_snapshot_record(tid, header, record, snapshot_url)
        _check_snapshot_params(tid, cls, header, recorded, storage.shown(folder))
        task = _unpickle_task(rest, tid, cls, storage.shown(storage.join(folder, SNAPSHOT_NAME)))
        return _Run(trial, cls, schedule).resume(task, header, record)
    finally:
        with _running_lock:
            _running_here.discard(key)


def _section(schedule: _Schedule) -> dict[str, Any]:
    return {
        "loops": 0,
        "snapshots": 0,
        "snapshot_at": None,
        "snapshot_loop": None,
        "snapshot_period": schedule.period,
        "snapshot_each": schedule.each,
        "elapsed": 0.0,
        "resumes": [],
    }


class _Run:
    """One run of a task in one trial: the loop, its snapshots, its progress in the YAML."""

    def __init__(self, trial: ActiveTrial, cls: type[resumable_fn], schedule: _Schedule) -> None:
        self.trial = trial
        self.cls = cls
        self.schedule = schedule
        self.section: dict[str, Any] = trial.data["resumable"]
        self.loops = 0
        self.snapshots = 0

    def fresh(self, params: dict[str, Any]) -> Trial:
        trial = self.trial
        trial.start()
        try:
            task = self.cls()
            task.init(**params)
            self.snapshot(task)
            result = self.drive(task)
        except BaseException as exc:
            trial.fail(exc)
            raise
        return self.finish(result)

    def resume(
        self, task: resumable_fn, header: dict[str, Any], record: dict[str, Any] | None
    ) -> Trial:
        trial = self.trial
        created = _when(header.get("created"))
        previous = record or {"id": header.get("id"), "at": {"created": created}}
        old = previous.get("resumable") or {}
        self.loops = self.section["snapshot_loop"] = int(header.get("loops", 0))
        self.snapshots = self.section["snapshots"] = int(header.get("snapshots", 0))
        self.section["snapshot_at"] = _when(header.get("written"))
        resumes: list[Any] = old["resumes"] if isinstance(old.get("resumes"), list) else []
        state = previous.get("state")
        resumes = [
            *resumes,
            {
                "at": datetime.datetime.now().astimezone(),
                "loop": self.loops,
                "previous": "died" if state in (None, "running") else state,
            },
        ]
        self.section["resumes"] = resumes
        self.section["loops"] = self.loops
        trial.resume_from(previous, _earlier_elapsed(previous, header))
        clear_files(trial, (TRACEBACK_NAME,), temporary=True)
        logger.info(
            "votakvot: resuming trial %r from its snapshot at loop %d", trial.tid, self.loops
        )
        trial.start()
        trial.heartbeat()  # the dead run's heartbeat must not make this one look stale
        try:
            result = self.drive(task)
        except BaseException as exc:
            trial.fail(exc)
            raise
        return self.finish(result)

    def drive(self, task: resumable_fn) -> Any:
        """Call ``loop()`` until it returns a value, snapshotting as the schedule says."""
        trial = self.trial
        section = self.section
        period = self.schedule.period
        each = self.schedule.each
        loop = task.loop
        last = time.monotonic()
        loops = self.loops
        while True:
            result = loop()
            loops += 1
            section["loops"] = loops
            trial.changed()
            if result is not None:
                self.loops = loops
                return result
            if (each is not None and loops % each == 0) or (
                period is not None and time.monotonic() - last >= period
            ):
                self.loops = loops
                self.snapshot(task)
                last = time.monotonic()

    def snapshot(self, task: resumable_fn) -> None:
        """Pickle the task into the trial folder atomically and show it in the YAML."""
        trial = self.trial
        now = time.time()
        elapsed = trial.elapsed()
        written = datetime.datetime.fromtimestamp(now).astimezone()
        created = trial.data["at"].get("created")
        header = {
            "tid": trial.tid,
            "id": trial.id,
            "function": trial.data.get("function"),
            "loops": self.loops,
            "snapshots": self.snapshots + 1,
            "elapsed": elapsed,
            "created": created.isoformat() if isinstance(created, datetime.datetime) else None,
            "written": written.isoformat(),
        }
        key = _userkey.snapshot_key()
        buf = io.BytesIO()
        pickle.dump(trial.data.get("params"), buf, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            pickle.dump(task, buf, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            try:
                pickle.dumps(self.cls)
            except Exception:
                raise TypeError(
                    f"votakvot could not snapshot {self.cls.__qualname__} for trial "
                    f"{trial.tid!r}: this process cannot import the class by its name "
                    f"{function_name(self.cls)!r} ({exc}). Define it in a module the process "
                    "running the trial can import (on Dask workers: not in the main script)"
                ) from exc
            raise TypeError(
                f"votakvot could not snapshot {self.cls.__qualname__} for trial {trial.tid!r}: "
                f"{type(exc).__name__}: {exc}. Keep only picklable state on self (no open "
                "files, locks or sockets), or define __getstate__/__setstate__"
            ) from exc
        data = _snapshot.pack(header, buf.getvalue(), key)
        # Metrics up to this loop go to disk with the state, so a resume repeats few rows.
        trial.flush_metrics()
        trial._guard(f"write {SNAPSHOT_NAME}", lambda: _write_snapshot(trial, data))
        self.snapshots += 1
        self.section.update(
            snapshots=self.snapshots,
            snapshot_at=written,
            snapshot_loop=self.loops,
            elapsed=round(elapsed, 6),
        )
        trial.write_yaml()

    def finish(self, result: Any) -> Trial:
        from .trial import Trial

        trial = self.trial
        self.section["elapsed"] = round(trial.elapsed(), 6)
        trial.succeed(result)
        # A finished trial is never resumed: its snapshot only takes space.
        clear_files(trial, (SNAPSHOT_NAME,))
        return Trial(trial.url, trial.data)


def _write_snapshot(trial: ActiveTrial, data: bytes) -> None:
    """Write the snapshot atomically; a local one readable and writable by its owner only
    (a resume refuses a snapshot others can write, whatever the umask made it)."""
    path = trial.file(SNAPSHOT_NAME)
    trial.storage.write_atomic(path, data)
    if is_local(trial.storage.url) and os.name == "posix":
        os.chmod(path, 0o600)


def _when(value: Any) -> Any:
    """A header's time (ISO text in signed snapshots) as the datetime the record holds."""
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value)
        except ValueError:
            return None
    return value


def _url(storage: Storage, path: str) -> str:
    return storage.to_url(path)


def _read_bytes(storage: Storage, path: str, limit: int | None = None) -> bytes | None:
    """A file of the trial folder, by the bounded, regular-file-only reader of side files:
    a snapshot or record that is a FIFO or a device stops the resume with an error
    naming it, never hangs it."""
    try:
        return storage.read(path, limit)
    except TrialLoadError as exc:
        raise ResumeError(f"{exc}; pass rerun=True to start this trial over") from None


def _read_record(storage: Storage, folder: str, tid: str) -> dict[str, Any] | None:
    """The trial's ``votakvot.yaml``, or ``None`` if it has none yet."""
    path = storage.join(folder, YAML_NAME)
    raw = _read_bytes(storage, path, RECORD_LIMIT)
    if raw is None:
        return None
    try:
        return parse_record(raw, storage.shown(path))
    except TrialLoadError as exc:
        raise ResumeError(
            f"trial {tid!r}: its record {storage.shown(path)} cannot be read ({exc.reason}); "
            f"pass rerun=True to start this trial over"
        ) from exc


def _same(a: Any, b: Any) -> bool:
    try:
        if a == b:
            return True
    except Exception:
        pass
    try:
        return pickle.dumps(a) == pickle.dumps(b)
    except Exception:
        return False


def _params_mismatch(tid: str, old: Any, new: dict[str, Any], where: str) -> str:
    return (
        f"trial {tid!r} was started with other params than given now ({where}):\n"
        f"  recorded: {old!r}\n"
        f"  given:    {new!r}\n"
        f"give this run another id, call it with the recorded params, or pass "
        f"rerun=True to start {tid!r} over with the new ones"
    )


def _check_recorded_params(tid: str, record: dict[str, Any], given: dict[str, Any]) -> None:
    """A finished trial asked for again with other params is an error, not its old result."""
    try:
        normalized = _yaml.load(_yaml.dump(to_plain(given, "params", tid)))  # as recorded
    except Exception:
        return  # params YAML cannot hold were recorded as reprs: nothing to compare
    old = record.get("params") or {}
    if not _same(old, normalized):
        raise ResumeError(_params_mismatch(tid, old, given, "it already finished"))


def _check_snapshot_params(
    tid: str, cls: type[resumable_fn], header: dict[str, Any], given: dict[str, Any], url: str
) -> None:
    old = header.get("params") or {}
    if not _same(old, given):
        raise ResumeError(_params_mismatch(tid, old, given, f"snapshot in {url}"))


def _open_snapshot(
    storage: Storage, folder: str, tid: str, trust: bool = False
) -> tuple[dict[str, Any], io.BytesIO] | None:
    """The snapshot's verified header, and the stream at the pickled task; ``None`` if none.

    Nothing is unpickled unless the file verifies (or ``trust``): it must be signed
    with this user's key and, when local, be this user's file and not writable by
    anyone else.
    """
    path = storage.join(folder, SNAPSHOT_NAME)
    raw = _read_bytes(storage, path)
    if raw is None:
        return None
    url = storage.shown(path)  # messages name URLs without their password
    if not trust and is_local(storage.url):
        _check_local_owner(path, tid, url)
    try:
        return _snapshot.unpack(raw, None if trust else _userkey.snapshot_key())
    except _snapshot.SnapshotRefused as exc:
        raise _refused(tid, url, str(exc)) from None
    except Exception as exc:
        raise _broken(tid, url, exc) from exc


def _refused(tid: str, url: str, reason: str) -> ResumeError:
    """The error for a snapshot that is not resumed because its origin is not shown."""
    return ResumeError(
        f"trial {tid!r}: the snapshot {url} {reason}; nothing in it was unpickled. Pass "
        f"rerun=True to votakvot.run({tid!r}, ...) to start the trial over, or, only if you "
        "know the file is yours, trust_snapshot=True to resume from it anyway"
    )


def _check_local_owner(path: str, tid: str, url: str) -> None:
    """Refuse a local snapshot that is not the user's own, or that others can write."""
    if os.name != "posix":
        return
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ResumeError(
            f"trial {tid!r}: the snapshot {url} cannot be read ({exc.strerror or exc}); "
            "pass rerun=True to start this trial over"
        ) from None
    if info.st_uid != os.getuid():
        raise _refused(tid, url, f"belongs to user id {info.st_uid}, not to you ({os.getuid()})")
    if info.st_mode & 0o022:
        raise _refused(
            tid,
            url,
            f"can be written by other users (mode {stat.S_IMODE(info.st_mode):03o})",
        )


def _check_snapshot_record(
    tid: str, header: dict[str, Any], record: dict[str, Any] | None, url: str
) -> None:
    """A snapshot resumes only the trial whose record it belongs to: not one planted in
    a folder for a tid that never ran, nor one copied from another trial."""
    if record is None:
        raise _refused(tid, url, "has no record (votakvot.yaml) beside it: the trial never ran")
    if header.get("tid") != tid or header.get("id") != record.get("id"):
        raise _refused(
            tid,
            url,
            f"belongs to another trial (tid {header.get('tid')!r}, id {header.get('id')!r}; "
            f"the record says id {record.get('id')!r})",
        )


def read_snapshot_header(raw: bytes, *, trust: bool = False) -> tuple[dict[str, Any], io.BytesIO]:
    """The verified header of a snapshot votakvot wrote (with its ``params``), and the
    stream at the pickled task.

    Snapshots are pickles, and unpickling runs code: nothing is unpickled unless the
    file is signed with this user's snapshot key (see ``docs/resumable.md``), or
    ``trust`` says the caller knows the file is theirs.

    Raises:
        ValueError: ``raw`` is not a votakvot snapshot, or does not verify.
        ResumeError: the user's snapshot key cannot be used (the message says why).
    """
    return _snapshot.unpack(raw, None if trust else _userkey.snapshot_key())


def _broken(tid: str, url: str, exc: BaseException) -> ResumeError:
    return ResumeError(
        f"trial {tid!r}: the snapshot {url} cannot be unpickled ({type(exc).__name__}: {exc}). "
        "The task's class may have changed (renamed, moved, or its attributes changed) since "
        f"the snapshot was written. Pass rerun=True to votakvot.run({tid!r}, ...) to start "
        "over (the snapshot is discarded), or restore the code that wrote it to resume"
    )


def _unpickle_task(stream: io.BytesIO, tid: str, cls: type[resumable_fn], url: str) -> resumable_fn:
    try:
        task = pickle.load(stream)
    except Exception as exc:
        raise _broken(tid, url, exc) from exc
    if not isinstance(task, cls):
        raise ResumeError(
            f"trial {tid!r}: the snapshot {url} holds a {function_name(type(task))}, not a "
            f"{function_name(cls)}; give this task another id, or pass rerun=True to start "
            f"{tid!r} over"
        )
    return task


def _earlier_elapsed(previous: dict[str, Any], header: dict[str, Any]) -> float:
    """Seconds the earlier runs took: their recorded duration if they ended, else the last
    elapsed time written (the work after it is redone, but the time was spent)."""
    at = previous.get("at") or {}
    for value in (
        at.get("duration") if previous.get("state") in ("failed", "interrupted") else None,
        (previous.get("resumable") or {}).get("elapsed"),
        header.get("elapsed"),
    ):
        if isinstance(value, (int, float)) and value >= 0:
            return float(value)
    return 0.0


def _check_not_running_elsewhere(
    storage: Storage, folder: str, tid: str, record: dict[str, Any]
) -> None:
    """Refuse to resume a trial another live process is running now.

    On this machine the recorded pid tells; elsewhere, a fresh heartbeat does, unless
    the runner knows the worker that ran it is gone (:data:`owner_gone`).
    """
    gone = owner_gone.get()
    if gone is not None and gone(record):
        logger.info("votakvot: trial %r was left running by a worker that is gone", tid)
        return
    meta = record.get("meta") or {}
    node = (meta.get("system") or {}).get("node")
    pid = (meta.get("process") or {}).get("pid")
    # (os.kill(pid, 0) would end the process on Windows: there only the heartbeat tells.)
    if node == platform.node() and isinstance(pid, int) and os.name == "posix":
        if pid != os.getpid() and _pid_alive(pid):
            raise ResumeError(
                f"trial {tid!r} is still running in process {pid} on this machine; wait for "
                "it to end or stop that process, then run it again to resume"
            )
        return
    from .trial import STALE_AFTER, Trial

    trial = Trial(_url(storage, folder), record)
    if not trial.is_stale():
        last, _ = trial.liveness()
        ago = f"{time.time() - last:.1f}s ago" if last is not None else "at an unknown time"
        raise ResumeError(
            f"trial {tid!r} is still running on {node or 'another machine'} (pid {pid}, last "
            f"sign of life {ago}); wait for it to end, or, if it died, until votakvot "
            f"reports it as stale (no heartbeat for 3 intervals, at least {STALE_AFTER:g}s)"
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    # A zombie (killed, not yet reaped by its parent) counts as dead.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().split(b") ", 1)[1][:1] != b"Z"
    except (OSError, IndexError):
        return True
