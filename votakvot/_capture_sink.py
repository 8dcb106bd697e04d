"""Where a trial's captured text waits before it reaches ``output.log`` / ``log.jsonl``.

Writers only append strings to a list (``Parts``), which costs a few tens of
nanoseconds and needs no lock; the list is drained into the file by whoever
comes first: the writer itself once the list is long, the capture flusher
thread about once a second, or the end of the trial. Draining takes
``parts[:n]`` and then deletes exactly those ``n`` items, both single operations
under the GIL, so text appended meanwhile is never lost.

Local roots append to the file on every drain; roots that cannot append
(``memory://``, object stores, ...) keep the text in memory (it is capped) and
rewrite the whole file, at most once per second per megabyte already kept.
"""

from __future__ import annotations

import _thread
import contextvars
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._config import get_config

if TYPE_CHECKING:
    from ._tracking import ActiveTrial

__all__ = ["SPILL_PARTS", "Parts", "Sink", "drain_all", "on_tick", "register", "unregister"]

logger = logging.getLogger("votakvot")

SPILL_PARTS = 8192
"""A writer drains its trial's list once it holds more pieces than this (bounds memory)."""

_UNLIMITED = 1 << 62
"""``capture_limit=None``: no cap."""

_REMOTE_BYTES_PER_SECOND = 1024 * 1024
"""Remote files are rewritten whole: at most once a second per MiB already kept."""


class Parts(list):
    """The pending pieces of one trial file; ``sink`` is who drains them (``None`` once
    the trial ended: late writers from contexts that outlived it are dropped)."""

    __slots__ = ("sink",)
    sink: Sink | None

    def spill(self) -> None:
        sink = self.sink
        if sink is None:
            del self[:]
        else:
            sink.spill()


class Sink:
    """One captured file of one trial: its pending text, its size cap, its writes.

    Args:
        trial: the running trial.
        name: ``output.log`` or ``log.jsonl``.
        jsonl: cut only at line ends when the cap is reached, and say so with a record.
    """

    OPEN, FULL, CLOSED, FAILED = "open", "full", "closed", "failed"

    # Defaults live on the class: a trial that never prints sets up almost nothing.
    state = OPEN
    written = 0
    """Bytes kept so far (in the file, or in ``kept`` for remote roots)."""
    dirty = False
    """Remote roots: ``kept`` has text the file does not have yet."""
    last_write = 0.0
    ends_line = True
    """Whether the kept text ends with a newline (or is empty)."""
    torn = False
    """The file an earlier run left ends mid-line: the first new text starts a new one."""
    draining = False
    started = False
    """Whether the file was set up (limit read, earlier runs' file looked at)."""
    limit = _UNLIMITED
    remote = False
    """The root cannot append: ``kept`` holds the whole file (set up with the first text)."""
    kept: bytes | bytearray = b""

    def __init__(self, trial: ActiveTrial, name: str, *, jsonl: bool = False) -> None:
        self.parts = parts = Parts()
        parts.sink = self
        self.trial = trial
        self.name = name
        self.jsonl = jsonl
        self.lock = _thread.RLock()

    def __repr__(self) -> str:
        return f"<capture {self.name} of {self.trial.tid!r} {self.state}>"

    # --- draining ------------------------------------------------------------------

    def pending(self) -> bool:
        return bool(self.parts) or self.dirty

    def spill(self) -> None:
        """Called by a writer whose list got long: local files get the text now; remote
        ones only take it into memory (the flusher thread does the slow upload)."""
        self.drain(upload=False)

    def drain(self, *, final: bool = False, upload: bool = True) -> None:
        """Move pending text to the file; ``final`` also closes the sink."""
        if final:
            self.parts.sink = None  # no reference cycle left for the GC to find
        if not self.parts and not self.dirty:
            if final and self.state != Sink.FAILED:
                self.state = Sink.CLOSED
            return
        error: Exception | None = None
        with self.lock:
            if self.draining:
                return  # a signal handler or a log call while this thread drains
            self.draining = True
            try:
                parts = self.parts
                n = len(parts)
                chunk = parts[:n]
                del parts[:n]
                if self.state in (Sink.OPEN, Sink.FULL):
                    try:
                        self._keep(chunk, final, upload)
                    except Exception as exc:
                        self.state = Sink.FAILED
                        error = exc
                if final and self.state != Sink.FAILED:
                    self.state = Sink.CLOSED
            finally:
                self.draining = False
        if error is not None:
            # Logged outside the lock: the record may itself be captured into another sink.
            trial = self.trial
            logger.warning(
                "votakvot could not write %s of trial %r at %s: %s: %s. The rest of this "
                "trial's output is not kept (the terminal still gets it); free space or fix "
                "permissions",
                self.name,
                trial.tid,
                trial.url,
                type(error).__name__,
                error,
            )

    def _keep(self, chunk: list[Any], final: bool, upload: bool) -> None:
        data = b""
        if chunk and self.state == Sink.OPEN:
            if not self.started:
                self._continue_file()
            if self.state == Sink.OPEN:
                data = _encode(chunk)
                if self.torn:
                    # An earlier run died mid-line: start on a line of our own (in
                    # log.jsonl, a record glued to a torn one would be lost).
                    data = b"\n" + data
                    self.torn = False
                data = self._fit(data)
        if self.remote:
            if data:
                self.kept += data
                self.dirty = True
            now = time.monotonic()
            due = max(get_config().flush_interval, len(self.kept) / _REMOTE_BYTES_PER_SECOND)
            if self.dirty and (final or (upload and now - self.last_write >= due)):
                self.trial.storage.write_atomic(self.trial.file(self.name), bytes(self.kept))
                self.dirty = False
                self.last_write = now
        elif data:
            self.trial.storage.append(self.trial.file(self.name), data)

    def _continue_file(self) -> None:
        """Set up on the first text: the cap, and the file earlier runs of a resumed
        trial left (added to, within the same cap)."""
        self.started = True
        trial = self.trial
        limit = trial.config.capture_limit
        self.limit = _UNLIMITED if limit is None else max(0, int(limit))
        storage = trial.storage
        self.remote = not storage.can_append
        path = trial.file(self.name)
        if self.remote:
            self.kept = bytearray()
            try:
                self.kept = bytearray(storage.fs.cat_file(path))  # type: ignore[attr-defined]
            except FileNotFoundError:
                return
            self.written = len(self.kept)
            self.torn = bool(self.kept) and not self.kept.endswith(b"\n")
        else:
            try:
                with open(path, "rb") as f:
                    self.written = f.seek(0, os.SEEK_END)
                    if self.written:
                        f.seek(-1, os.SEEK_END)
                        self.torn = f.read(1) != b"\n"
            except FileNotFoundError:
                return
        if self.written >= self.limit:
            self.state = Sink.FULL  # its note is there already

    def _fit(self, data: bytes) -> bytes:
        """``data`` as far as the cap allows, with a note once it is reached."""
        marker = self._marker()
        room = self.limit - len(marker) - 1 - self.written
        if len(data) <= room:
            self.written += len(data)
            self.ends_line = data.endswith(b"\n")
            return data
        cut = max(room, 0)
        if self.jsonl:
            cut = data.rfind(b"\n", 0, cut) + 1
        else:
            while 0 < cut < len(data) and (data[cut] & 0xC0) == 0x80:
                cut -= 1  # never split a UTF-8 sequence
        kept = data[:cut]
        if kept:
            self.ends_line = kept.endswith(b"\n")
        if not self.ends_line:
            kept += b"\n"
        self.state = Sink.FULL
        out = kept + marker
        self.written += len(out)
        return out

    def _marker(self) -> bytes:
        if self.jsonl:
            return (
                json.dumps(
                    {
                        "time": _iso(time.time()),
                        "level": "WARNING",
                        "logger": "votakvot",
                        "message": f"{self.name} reached capture_limit={self.limit} bytes; "
                        "later records of this trial were not kept",
                        "exception": None,
                    }
                ).encode()
                + b"\n"
            )
        return (
            f"[votakvot: {self.name} reached capture_limit={self.limit} bytes; the rest of "
            "this trial's output went to the terminal only]\n"
        ).encode()


def _encode(chunk: list[Any]) -> bytes:
    try:
        text = "".join(chunk)
    except TypeError:  # a stream that accepted something other than str
        text = "".join(map(str, chunk))
    return text.encode("utf-8", "backslashreplace")


def _iso(ts: float) -> str:
    """Local ISO 8601 time with offset; ``datetime``'s ``astimezone()`` takes ~10x longer."""
    local = time.localtime(ts)
    micro = min(round((ts - int(ts)) * 1_000_000), 999_999)
    offset = local.tm_gmtoff
    sign = "-" if offset < 0 else "+"
    offset = abs(offset)
    return (
        f"{time.strftime('%Y-%m-%dT%H:%M:%S', local)}.{micro:06d}"
        f"{sign}{offset // 3600:02d}:{offset % 3600 // 60:02d}"
    )


# --- the capture flusher ---------------------------------------------------------------


class _Flusher:
    """A daemon thread that drains open sinks about once a second.

    Registering never wakes it (a wake-up per trial would cost a GIL hand-off);
    it simply looks at the open sinks on every tick. Set operations and
    ``list(set)`` are single steps under the GIL, so they need no lock.
    """

    def __init__(self) -> None:
        self.sinks: set[Sink] = set()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def register(self, *sinks: Sink) -> None:
        self.sinks.update(sinks)
        if self.thread is None:
            with self.lock:
                if self.thread is None:
                    # An empty context: the flusher must never look like part of a trial.
                    ctx = contextvars.Context()
                    self.thread = threading.Thread(
                        target=ctx.run, args=(self._run,), name="votakvot-capture", daemon=True
                    )
                    self.thread.start()

    def unregister(self, *sinks: Sink) -> None:
        self.sinks.difference_update(sinks)

    def drain_all(self) -> None:
        for sink in list(self.sinks):
            if sink.pending():
                try:
                    sink.drain()
                except Exception:
                    logger.exception("votakvot: draining %r failed", sink)

    def _run(self) -> None:
        while True:
            busy = bool(self.sinks)
            time.sleep(max(0.005, min(1.0, get_config().flush_interval)) if busy else 1.0)
            self.drain_all()
            for fn in on_tick:
                try:
                    fn()
                except Exception:
                    logger.exception("votakvot: capture housekeeping %r failed", fn)

    def after_fork_in_child(self) -> None:
        # Sinks of the parent's trials are not this process's to write.
        for sink in self.sinks:
            sink.state = Sink.CLOSED
            sink.lock = threading.RLock()
            sink.draining = False
        self.sinks = set()
        self.lock = threading.Lock()
        self.thread = None


on_tick: list[Callable[[], None]] = []
"""Called by the flusher thread after each round of draining."""

_flusher = _Flusher()
register = _flusher.register
unregister = _flusher.unregister
drain_all = _flusher.drain_all

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_flusher.after_fork_in_child)
