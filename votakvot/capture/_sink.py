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

Progress-bar redraws (``\\r``, cursor-up) are collapsed on the way
(:mod:`votakvot._redraw`): the lines being redrawn are written at most about once a
second. Past ``capture_limit`` the file keeps its head, and the last ``TAIL_BYTES``
go to a ring in memory, written to ``votakvot.<name>.tail`` while the trial runs
and appended after a marker line when it ends (readers join the two meanwhile).
"""

from __future__ import annotations

import _thread
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._config import get_config
from .._flusher import flusher
from ._redraw import Screen, has_redraws

if TYPE_CHECKING:
    from .._active import ActiveTrial

__all__ = [
    "SPILL_PARTS",
    "TAIL_BYTES",
    "Parts",
    "Sink",
    "drain_all",
    "marker_pattern",
    "on_tick",
    "register",
    "tail_name",
    "unregister",
]

logger = logging.getLogger("votakvot")

SPILL_PARTS = 8192
"""A writer drains its trial's list once it holds more pieces than this (bounds memory)."""

_UNLIMITED = 1 << 62
"""``capture_limit=None``: no cap."""

_REMOTE_BYTES_PER_SECOND = 1024 * 1024
"""Remote files are rewritten whole: at most once a second per MiB already kept."""

TAIL_BYTES = 1024 * 1024
"""Past the cap, the last this many bytes are kept (at most half the cap)."""

_LINE_KEPT = 64 * 1024
"""Characters of an unfinished line remembered for a redraw that may come."""

REDRAW_SECONDS = 1.0
"""Lines a progress bar keeps redrawing are written at most this often."""


def tail_name(name: str) -> str:
    """Where the kept end of ``name`` waits while its trial runs past the cap."""
    return f"votakvot.{name}.tail"


def marker_pattern(name: str) -> re.Pattern[bytes]:
    """The marker line :class:`Sink` puts between the head and the tail of ``name``."""
    return re.compile(
        rb"\n?\[votakvot: " + re.escape(name.encode()) + rb" reached capture_limit=[^\n]*\]\n"
    )


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
    """``FULL``: the head is complete; later text goes to the tail ring."""
    written = 0
    """Bytes of the head kept so far (in the file, or in ``kept`` for remote roots)."""
    dirty = False
    """Something is due without new text: ``kept``, the tail or a redraw is not written yet."""
    last_write = 0.0
    ends_line = True
    """Whether the kept head ends with a newline (or is empty)."""
    torn = False
    """The file an earlier run left ends mid-line: the first new text starts a new one."""
    draining = False
    started = False
    """Whether the file was set up (limit read, earlier runs' file looked at)."""
    limit = _UNLIMITED
    head_limit = _UNLIMITED
    tail_limit = 0
    remote = False
    """The root cannot append: ``kept`` holds the whole head (set up with the first text)."""
    kept: bytes | bytearray = b""
    tail: bytearray | None = None
    """Past the head: the latest text (trimmed to ``tail_limit`` now and then)."""
    over_bytes = 0
    over_lines = 0
    """Bytes and newlines that came past the head (kept in ``tail`` or left out)."""
    unsaved = False
    """Remote: ``kept`` changed; local: the tail changed since ``tail_name`` was written."""
    tail_file = False
    """``votakvot.<name>.tail`` was written (local roots) and must go at the end."""
    # Redraw collapsing (output.log only):
    line = ""
    """Without redraws: the current unfinished line, all of it in the file already."""
    screen: Screen | None = None
    """While lines are redrawn: what a terminal would show of them."""
    shown: list[str] | None = None
    """The redrawn lines as last written (the file's cursor is at the end of the last)."""
    at_start = False
    """The file's cursor is at the start of the first of ``shown`` (not the end of the last)."""
    last_frame = 0.0

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
        if not self.parts and not self.dirty and not (final and self.tail is not None):
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
                        self.dirty = False
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
        if chunk and not self.started:
            self._continue_file()
        now = time.monotonic()
        text = _join(chunk) if chunk else ""
        if not self.jsonl and (self.screen is not None or (text and has_redraws(text))):
            text = self._redraw(text, final or (upload and now - self.last_frame >= REDRAW_SECONDS))
        elif text and not self.jsonl:
            cut = text.rfind("\n")
            line = text[cut + 1 :] if cut >= 0 else self.line + text
            # A line that never ends (dots for hours) is followed only as far as a
            # redraw of it could matter: its start (a later ``\r`` returns there).
            self.line = line if len(line) <= _LINE_KEPT else line[:_LINE_KEPT]
        data = b""
        if text:
            data = text.encode("utf-8", "backslashreplace")
            if self.torn:
                # An earlier run died mid-line: start on a line of our own (in
                # log.jsonl, a record glued to a torn one would be lost).
                data = b"\n" + data
                self.torn = False
            data = self._fit(data)
        kept = len(self.kept) + len(self.tail or b"")
        due = final or (
            upload
            and now - self.last_write
            >= max(get_config().flush_interval, kept / _REMOTE_BYTES_PER_SECOND)
        )
        storage = self.trial.storage
        if self.remote:
            if data:
                self.kept += data
                self.unsaved = True
            if self.unsaved and due:
                storage.write_atomic(
                    self.trial.file(self.name), bytes(self.kept) + self._tail_block()
                )
                self.unsaved = False
                self.last_write = now
        else:
            if data:
                storage.append(self.trial.file(self.name), data)
            if self.tail is not None and final:
                self.unsaved = False
                block = self._tail_block()
                if block:
                    storage.append(self.trial.file(self.name), block)
                self.tail = None
                if self.tail_file:
                    self.tail_file = False
                    os.unlink(self.trial.file(tail_name(self.name)))
            elif self.unsaved and due:
                storage.write_atomic(self.trial.file(tail_name(self.name)), self._tail_block())
                self.unsaved = False
                self.tail_file = True
                self.last_write = now
        # Due later without new text: the tail, or the latest state of a redrawn line.
        self.dirty = self.unsaved or (self.screen is not None and self.screen.rows != self.shown)

    def _redraw(self, text: str, frame: bool) -> str:
        """``text`` with redraws collapsed: finished lines, plus (when ``frame``) the
        current state of the lines still being redrawn, written over their last state."""
        screen = self.screen
        if screen is None:
            screen = self.screen = Screen(line=self.line)
            self.shown = [self.line]
        done = screen.feed(text) if text else []
        shown = self.shown or [""]
        if not done and (not frame or screen.rows == shown):
            return ""
        out: list[str] = []
        if not self.at_start and (len(shown) > 1 or shown[0]):
            out.append("\r")  # back to the start of the first line written last time
            if len(shown) > 1:
                out.append(f"\x1b[{len(shown) - 1}A")
        rows = done + screen.rows if frame else done
        for i, row in enumerate(rows):
            if i:
                out.append("\n")
            # Without the blanks a bar cleared the line with (a terminal shows none), but
            # covering what the file has on that line from the last redraw.
            row = row.rstrip(" ")
            old = len(shown[i]) if i < len(shown) else 0
            out.append(row + " " * (old - len(row)) if old > len(row) else row)
        if frame:
            self.shown = list(screen.rows)
            self.at_start = False
            self.last_frame = time.monotonic()
        else:
            # Only the finished lines: the cursor is now at the start of the next line.
            out.append("\n")
            self.shown = shown[len(done) :] or [""]
            self.at_start = True
        rows = screen.rows
        if (
            not screen.moved_up
            and len(rows) == 1
            and screen.col == len(rows[0])
            and not rows[0].endswith(" ")  # written without its blanks: the cursor differs
            and self.shown == rows
            and (not self.at_start or not rows[0])
        ):
            self.line = rows[0]  # nothing is redrawn any more: back to plain appends
            self.screen = self.shown = None
            self.at_start = False
        return "".join(out)

    def _continue_file(self) -> None:
        """Set up on the first text: the cap, and the file earlier runs of a resumed
        trial left (added to, within the same cap)."""
        self.started = True
        trial = self.trial
        limit = trial.config.capture_limit
        if limit is not None:
            self.limit = max(0, int(limit))
            room = max(0, self.limit - len(self._marker(10**15, 10**15, 10**15)) - 1)
            self.tail_limit = min(room // 2, TAIL_BYTES)
            self.head_limit = room - self.tail_limit
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
            self._adopt_tail_file(path)
            try:
                with open(path, "rb") as f:
                    self.written = f.seek(0, os.SEEK_END)
                    if self.written:
                        f.seek(-1, os.SEEK_END)
                        self.torn = f.read(1) != b"\n"
            except FileNotFoundError:
                return
        if self.written >= self.head_limit:
            self.state = Sink.FULL  # a resumed run's file is full: it keeps its own tail
            self.tail = bytearray()
            self.ends_line = not self.torn  # the marker (or the tail) starts a line of its own
            self.torn = False

    def _adopt_tail_file(self, path: str) -> None:
        """The tail an earlier, killed run of this trial left: added to its file (a
        resumed run), or dropped with the file it belonged to (a fresh start)."""
        stale = self.trial.file(tail_name(self.name))
        try:
            with open(stale, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return
        if os.path.exists(path):
            self.trial.storage.append(path, data)
        os.unlink(stale)

    def _fit(self, data: bytes) -> bytes:
        """What of ``data`` goes to the head; the rest goes to the tail ring."""
        if self.state == Sink.FULL:
            self._to_tail(data)
            return b""
        room = self.head_limit - self.written
        if len(data) <= room:
            self.written += len(data)
            self.ends_line = data.endswith(b"\n")
            return data
        cut = max(room, 0)
        line_end = data.rfind(b"\n", 0, cut) + 1
        if self.jsonl or line_end:
            cut = line_end  # whole records; whole lines where there is a line end
        else:
            while 0 < cut < len(data) and (data[cut] & 0xC0) == 0x80:
                cut -= 1  # never split a UTF-8 sequence
        head = data[:cut]
        if head:
            self.ends_line = head.endswith(b"\n")
        self.written += len(head)
        self.state = Sink.FULL
        self.tail = bytearray()
        self._to_tail(data[cut:])
        return head

    def _to_tail(self, data: bytes) -> None:
        tail = self.tail
        assert tail is not None
        self.over_bytes += len(data)
        self.over_lines += data.count(b"\n")
        self.unsaved = True
        tail += data
        if len(tail) > 2 * self.tail_limit + 65536:
            del tail[: len(tail) - self.tail_limit]  # amortized: trimmed once per tail_limit

    def _tail_block(self) -> bytes:
        """Marker and tail, as they follow the head (``b""`` while the head has room)."""
        tail = self.tail
        if tail is None:
            return b""
        keep = bytes(tail[len(tail) - self.tail_limit :]) if self.tail_limit else b""
        if len(keep) < self.over_bytes:
            # Begin at a line (a record) of its own, or at least at a whole character.
            start = keep.find(b"\n") + 1
            if start == 0 and not self.jsonl:
                while start < len(keep) and (keep[start] & 0xC0) == 0x80:
                    start += 1
            keep = keep[start:] if start or self.jsonl else keep
        left_bytes = self.over_bytes - len(keep)
        head_end = b"" if self.ends_line or not keep else b"\n"
        if not left_bytes:
            return head_end + keep
        left_lines = self.over_lines - keep.count(b"\n")
        head_end = b"" if self.ends_line else b"\n"
        return head_end + self._marker(left_bytes, left_lines, len(keep)) + keep

    def _marker(self, left_bytes: int, left_lines: int, tail_bytes: int) -> bytes:
        what = "records" if self.jsonl else "lines"
        said = (
            f"{self.name} reached capture_limit={self.limit} bytes: {left_bytes} bytes "
            f"({left_lines} {what}) left out here; the last {tail_bytes} bytes follow"
        )
        if self.jsonl:
            record = {
                "time": _iso(time.time()),
                "level": "WARNING",
                "logger": "votakvot",
                "message": said,
                "exception": None,
            }
            return json.dumps(record).encode() + b"\n"
        return f"[votakvot: {said}]\n".encode()


def _join(chunk: list[Any]) -> str:
    try:
        return "".join(chunk)
    except TypeError:  # a stream that accepted something other than str
        return "".join(map(str, chunk))


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


class _OpenSinks:
    """The open sinks, drained about once a second by the process's flusher thread
    (:mod:`votakvot._flusher`), which also keeps the trials' metrics fresh.

    Registering never wakes it (a wake-up per trial would cost a GIL hand-off);
    it simply looks at the open sinks on every tick. Set operations and
    ``list(set)`` are single steps under the GIL, so they need no lock.
    """

    def __init__(self) -> None:
        self.sinks: set[Sink] = set()

    def register(self, *sinks: Sink) -> None:
        self.sinks.update(sinks)
        flusher.ensure_running()

    def unregister(self, *sinks: Sink) -> None:
        self.sinks.difference_update(sinks)

    def drain_all(self) -> None:
        for sink in list(self.sinks):
            if sink.pending():
                try:
                    sink.drain()
                except Exception:
                    logger.exception("votakvot: draining %r failed", sink)

    def tick(self) -> None:
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


on_tick: list[Callable[[], None]] = []
"""Called by the flusher thread after each round of draining."""

_flusher = _OpenSinks()
flusher.tick_handlers.append(_flusher.tick)
register = _flusher.register
unregister = _flusher.unregister
drain_all = _flusher.drain_all

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_flusher.after_fork_in_child)
