"""The dashboard application: owns the trial store, the scan and the watchers.

Screens never read trial folders on the event loop: the app scans in a thread
worker, re-reads the folders the watcher names (in batches, in another thread
worker) and tells every screen what changed with :class:`TrialsUpdated` and
:class:`MetricsChanged`. A screen that wants more (detail, plot, compare)
reads in its own worker.

Adding a screen: write ``screens/<name>.py`` with a :class:`~.screens.base.BaseScreen`
subclass, push it from an action (``self.app.push_screen(MyScreen(...))``); to open a
screen of another kind, post a message from :mod:`votakvot_tui.messages` to the app
(screens never import the app or :mod:`votakvot_tui.launch`). Give it bindings
with descriptions: every described binding of the current screen and of the
app shows up in the command palette (see :meth:`VotakvotApp.get_system_commands`).
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from votakvot.storage import redact

from .core.model import (
    RowCache,
    Source,
    TrialRecord,
    TrialStore,
    find_trial_dirs,
    iter_trial_dirs,
    measure,
    newest_trial_dirs,
    read_records,
)
from .core.watch import Changes, Poller, Watcher
from .launch import LaunchActions
from .messages import FilesChanged, MetricsChanged, TrialsUpdated, WorkerFailed
from .screens.error import ErrorScreen
from .screens.help import HelpScreen
from .screens.trials import TrialsScreen

__all__ = ["VotakvotApp", "make_app"]

log = logging.getLogger(__name__)

FIRST_CHUNK = 200
"""Trials read before the first rows are shown (small: rows appear at once)."""
CHUNK = 2000
"""Trials read per batch after that, and per batch of live changes."""
PROCESS_CHUNK = 1500
"""Trials per task of a helper process."""
INDEXED_CHUNK = 20000
"""Cached rows (from the warm index) put in the table per batch."""
RECHECK_INTERVAL = 5.0
"""Seconds between re-reads of running trials (to notice ``stale`` ones)."""


class VotakvotApp(LaunchActions, App[None]):
    """A live dashboard over the trial folders under ``paths``.

    Args:
        paths: folders, globs or fsspec URLs holding trials.
        watch: follow changes live (watchdog for local paths, polling for URLs).
        poll_interval: seconds between polls of URLs.
        storage_options: options of the fsspec filesystem of URLs (credentials, endpoints).
    """

    CSS_PATH = ["app.tcss", "launch.tcss"]
    TITLE = "votakvot"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", tooltip="Leave the dashboard", id="quit"),
        Binding(
            "question_mark", "help", "Help", key_display="?", tooltip="Keys and actions", id="help"
        ),
    ]

    def __init__(
        self,
        paths: Sequence[str] = (".",),
        *,
        watch: bool = True,
        poll_interval: float = 2.0,
        storage_options: Mapping[str, Any] | None = None,
        cache: bool = True,
    ) -> None:
        super().__init__()
        self.use_index = cache
        """Keep rows of local trials in votakvot's warm index between starts."""
        self._index_to_save: tuple[RowCache, list[TrialRecord]] | None = None
        self.sources = [Source(p) for p in (paths or (".",))]
        """The PATH arguments."""
        self.store = TrialStore()
        """Every trial known, keyed by folder."""
        self.watch_enabled = watch
        """Follow file changes (off in some tests and benchmarks)."""
        self.poll_interval = poll_interval
        self.storage_options = dict(storage_options) if storage_options else None
        """Options of the fsspec filesystem of URL paths (``--storage-option``)."""
        """Seconds between polls of remote sources."""
        self.scanning = True
        """The first scan is still running."""
        self.expected = 0
        """Trial folders found by the scan (the table fills up to this)."""
        self.missing = [s.path for s in self.sources if not s.exists()]
        """Local PATHs that do not exist."""
        self._lock = threading.Lock()
        self._pending_reads: set[str] = set()
        self._pending_scans: set[str] = set()
        self._reader_busy = False
        self._watchers: list[Watcher | Poller] = []

    # --------------------------------------------------------------- startup

    def on_mount(self) -> None:
        self.push_screen(TrialsScreen(self))
        if self.missing:
            self.notify(
                "no such folder: " + ", ".join(self.missing) + " (give a folder holding trials, "
                "a glob or a URL)",
                title="Nothing to show",
                severity="error",
                timeout=30,
            )
        self.scan()
        self.set_interval(RECHECK_INTERVAL, self._recheck_running)

    def on_unmount(self) -> None:
        for watcher in self._watchers:
            watcher.stop()
        self._watchers.clear()

    @work(thread=True, exclusive=True, group="scan", exit_on_error=False)
    def scan(self) -> None:
        """Find and read every trial, newest folders first, showing rows as they come."""
        worker = get_current_worker()
        # The newest few first, before the whole tree is listed: rows on screen at once.
        first = [
            d
            for source in self.sources
            if source.path not in self.missing
            for d in newest_trial_dirs(source, FIRST_CHUNK)
        ]
        if first:
            records = self._read_many(first)
            self.call_from_thread(self.apply, records, first, (), measure(records))
        watching = None
        if self.watch_enabled:
            # Setting up the watches walks the whole tree: do it beside the scan, and
            # list the folders once more after it, so a trial written meanwhile is not missed.
            watching = threading.Thread(target=self._start_watching, daemon=True)
            watching.start()
        # A full first batch hints at a big folder: helper processes parse it while
        # this thread is still walking it (see _read_in_processes).
        local = all(s.local for s in self.sources)
        done = set(first)
        dirs: list[str] | None = None
        if local and self.use_index:
            cache = RowCache([s for s in self.sources if s.path not in self.missing])
            if cache.open(done):
                dirs = self._scan_indexed(cache)
                if dirs is None:
                    return
        helpers = []
        if dirs is None and local and len(first) >= FIRST_CHUNK:
            helpers = self._spawn_helpers()
        if dirs is not None:
            pass
        elif helpers:
            walked = itertools.chain.from_iterable(
                iter_trial_dirs(s) for s in self.sources if s.path not in self.missing
            )
            fresh = (d for d in walked if d not in done)
            dirs = self._read_in_processes(fresh, helpers)
            if dirs is None:
                return
        else:
            dirs = [d for d in self._list_dirs() if d not in done]
            for start in range(0, len(dirs), CHUNK):
                if worker.is_cancelled:
                    return
                chunk = dirs[start : start + CHUNK]
                records = self._read_many(chunk)
                self.call_from_thread(self.apply, records, chunk, (), measure(records))
        self.expected = len(dirs) + len(done)
        if watching is not None:
            watching.join()
            known = set(dirs) | done
            late = [d for d in self._list_dirs() if d not in known]
            if late:
                self.call_from_thread(self.apply, self._read_many(late), late, ())
        self.scanning = False
        self.call_from_thread(self.apply, [], [], ())
        self._save_index()

    def _scan_indexed(self, cache: RowCache) -> list[str] | None:
        """The scan with the warm index: cached rows shown at once, the rest read
        (in helper processes when many), then kept in the index for the next start.
        Returns the folders shown, ``None`` if cancelled."""
        worker = get_current_worker()
        for start in range(0, len(cache.cached), INDEXED_CHUNK):
            if worker.is_cancelled:
                return None
            rows = cache.cached[start : start + INDEXED_CHUNK]
            self.call_from_thread(self.apply, rows, [r.path for r in rows], (), cache.widths)
        read: list[TrialRecord] = []
        helpers = self._spawn_helpers() if len(cache.missed) >= PROCESS_CHUNK else []
        if helpers:
            if self._read_in_processes(cache.missed, helpers, read) is None:
                return None
        else:
            for start in range(0, len(cache.missed), CHUNK):
                if worker.is_cancelled:
                    return None
                folders = cache.missed[start : start + CHUNK]
                records = self._read_many(folders)
                read += records
                self.call_from_thread(self.apply, records, folders, (), measure(records))
        self._index_to_save = (cache, read)  # saved once the table is whole
        return [r.path for r in cache.cached] + cache.missed

    def _save_index(self) -> None:
        """Keep the rows just read in the warm index, after the table is whole."""
        pending, self._index_to_save = self._index_to_save, None
        if pending is None:
            return
        cache, read = pending
        try:
            cache.save(read)
        except Exception as exc:  # the table is whole; only the next start reads more
            log.warning("the dashboard's index not saved (%s)", exc)

    def _spawn_helpers(self) -> list[subprocess.Popen[bytes]]:
        """Helper processes for a big scan, one per core (none if they cannot start)."""
        processes = []
        for _ in range(max(1, min(os.cpu_count() or 1, 4))):
            try:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "votakvot_tui.core._reader"],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL,
                    )
                )
            except OSError as exc:
                log.warning("no helper process for the scan (%s); reading in a thread", exc)
                break
        return processes

    def _read_in_processes(
        self,
        walked: Iterable[str],
        processes: list[subprocess.Popen[bytes]],
        into: list[TrialRecord] | None = None,
    ) -> list[str] | None:
        """Parse trial folders in helper processes while they are still being found.

        This thread walks the folder and queues chunks; one thread per helper hands
        them over and applies the answers. See :mod:`votakvot_tui.core._reader` for why.
        A helper that fails leaves its share to this thread, so the scan never
        depends on the helpers. Returns the folders read, ``None`` if cancelled.
        """
        worker = get_current_worker()
        pending: collections.deque[list[str]] = collections.deque()
        ready = threading.Condition()
        listed = False

        def take() -> list[str] | None:
            with ready:
                while not pending and not listed and not worker.is_cancelled:
                    ready.wait(0.1)
                return pending.popleft() if pending and not worker.is_cancelled else None

        def helper(process: subprocess.Popen[bytes]) -> None:
            chunk = None
            assert process.stdin is not None and process.stdout is not None
            try:
                while (chunk := take()) is not None:
                    pickle.dump(chunk, process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                    process.stdin.flush()
                    records, widths = pickle.load(process.stdout)
                    if into is not None:
                        into.extend(records)
                    self.call_from_thread(self.apply, records, chunk, (), widths)
                    chunk = None
            except (OSError, EOFError, pickle.UnpicklingError) as exc:
                log.warning("a scan helper process failed (%s); reading in a thread", exc)
                if chunk is not None:
                    with ready:
                        pending.appendleft(chunk)
            finally:
                _close(process)

        helpers = [
            threading.Thread(target=helper, args=(p,), name="votakvot-tui-scan", daemon=True)
            for p in processes
        ]
        for thread in helpers:
            thread.start()
        dirs: list[str] = []
        chunk: list[str] = []
        queued = 0
        for folder in walked:
            if worker.is_cancelled:
                break
            dirs.append(folder)
            chunk.append(folder)
            # Small first chunks: every helper has rows to show as soon as it is up.
            if len(chunk) >= (PROCESS_CHUNK // 3 if queued < len(processes) else PROCESS_CHUNK):
                with ready:
                    pending.append(chunk)
                    ready.notify()
                chunk = []
                queued += 1
        with ready:
            if chunk:
                pending.append(chunk)
            listed = True
            ready.notify_all()
        for thread in helpers:
            thread.join()
        while (left := take()) is not None:  # whatever failed helpers left
            records = self._read_many(left)
            if into is not None:
                into.extend(records)
            self.call_from_thread(self.apply, records, left, (), measure(records))
        return None if worker.is_cancelled else dirs

    def _list_dirs(self) -> list[str]:
        dirs: list[str] = []
        for source in self.sources:
            if source.path not in self.missing:
                dirs.extend(find_trial_dirs(source.path, self.storage_options))
        return sorted(set(dirs), reverse=True)

    def _start_watching(self) -> None:
        """Start the watcher and the poller (in a thread: watching a big tree takes time)."""
        local = [s for s in self.sources if s.local and s.path not in self.missing]
        remote = [s for s in self.sources if not s.local]
        if local:
            watcher = Watcher(local, self._deliver)
            try:
                watcher.start()
                self._watchers.append(watcher)
            except OSError as exc:
                watcher.stop()
                self.call_from_thread(
                    self.notify,
                    f"cannot watch {', '.join(s.path for s in local)} ({exc}); polling every "
                    f"{self.poll_interval:g}s instead (raise fs.inotify.max_user_watches to watch)",
                    severity="warning",
                )
                remote.extend(local)
        if remote:
            poller = Poller(remote, self._deliver, self.poll_interval, self.storage_options)
            poller.start()
            self._watchers.append(poller)

    def _deliver(self, changes: Changes) -> None:
        """Called from the watcher's thread."""
        self.post_message(FilesChanged(changes))

    # ----------------------------------------------------------- live updates

    @on(FilesChanged)
    def _on_files_changed(self, message: FilesChanged) -> None:
        changes = message.changes
        if changes.removed:
            self.apply([], [], changes.removed)
        with self._lock:
            self._pending_reads |= changes.trials
            self._pending_scans |= changes.scan
        if changes.metrics:
            self.broadcast(lambda: MetricsChanged(frozenset(changes.metrics)))
        self._kick_reader()

    def _kick_reader(self) -> None:
        with self._lock:
            if self._reader_busy or not (self._pending_reads or self._pending_scans):
                return
            self._reader_busy = True
        self.read_changed()

    @work(thread=True, group="reader", exit_on_error=False)
    def read_changed(self) -> None:
        """Re-read the folders the watcher named, in bounded batches."""
        try:
            while True:
                with self._lock:
                    scans, self._pending_scans = self._pending_scans, set()
                    if not scans and not self._pending_reads:
                        self._reader_busy = False
                        return
                for folder in scans:
                    found = [
                        d for d in find_trial_dirs(folder, self.storage_options) if self._wanted(d)
                    ]
                    with self._lock:
                        self._pending_reads.update(found)
                with self._lock:
                    batch: set[str] = set()
                    while self._pending_reads and len(batch) < CHUNK:
                        batch.add(self._pending_reads.pop())
                records = self._read_many(sorted(batch))
                found_paths = {r.path for r in records}
                gone = [p for p in batch if p not in found_paths]
                self.call_from_thread(self.apply, records, batch, gone, measure(records))
        except BaseException:
            with self._lock:
                self._reader_busy = False
            raise

    def _read_many(self, paths: Sequence[str]) -> list[TrialRecord]:
        """Read trial folders; a folder without ``votakvot.yaml`` (deleted) is left out."""
        return read_records(paths, self.storage_options)

    def _wanted(self, folder: str) -> bool:
        return any(s.matches(folder) for s in self.sources)

    def _recheck_running(self) -> None:
        """Running trials may turn stale without any file changing: read them again."""
        running = [r.path for r in self.store.records.values() if r.state in ("running", "stale")]
        if running:
            with self._lock:
                self._pending_reads.update(running)
            self._kick_reader()

    def apply(
        self,
        records: Sequence[TrialRecord],
        paths: Iterable[str],
        removed: Iterable[str],
        widths: dict[str, int] | None = None,
    ) -> None:
        """Put read records into the store and tell the screens (on the event loop)."""
        removed = list(removed)
        if removed:
            self.store.remove(removed)
        if records:
            self.store.put(records, widths)
        changed = frozenset({*paths, *removed})
        self.broadcast(lambda: TrialsUpdated(changed))

    def broadcast(self, make: Callable[[], Message]) -> None:
        """Post a fresh message to every screen on the stack."""
        for screen in self.screen_stack:
            screen.post_message(make())

    # --------------------------------------------------------------- errors

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every toast of the app and its screens, with URLs shown without their password."""
        super().notify(
            redact(message), title=redact(title), severity=severity, timeout=timeout, markup=markup
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed worker of the app itself: the same dialog as a screen's."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.on_worker_failed(WorkerFailed(event.worker.name, event.worker.error))

    def on_worker_failed(self, message: WorkerFailed) -> None:
        """A failed worker becomes an error dialog instead of a crash or silence."""
        log.error("%s failed", message.name, exc_info=message.error)
        self.push_screen(ErrorScreen(f"{message.name} failed", message.error))

    # -------------------------------------------------------------- actions

    def deliver_screenshot(
        self,
        filename: str | None = None,
        path: str | None = None,
        time_format: str | None = None,
    ) -> str | None:
        """Save a screenshot (the palette's "Screenshot") into the current folder.

        Textual saves to ``~/Downloads`` by default, which many machines (servers,
        containers) do not have: the save failed there. The notification names the file.
        """
        return super().deliver_screenshot(filename, path or os.getcwd(), time_format)

    def action_help(self) -> None:
        """Show every key of the current screen and of the app."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette: Textual's commands, then every described binding.

        A screen may add commands without keys by defining ``extra_commands()``.
        """
        yield from super().get_system_commands(screen)
        seen = set()
        for node in (screen, self):
            for binding in node._bindings.key_to_bindings.values():
                for b in binding:
                    if not b.description or b.action in seen:
                        continue
                    seen.add(b.action)
                    key = b.key_display or b.key.split(",")[0]
                    yield SystemCommand(
                        f"{b.description} ({key})",
                        b.tooltip or b.description,
                        _runner(node, b.action),
                    )
        extra = getattr(screen, "extra_commands", None)
        if extra is not None:
            yield from extra()


def _runner(node: Any, action: str) -> Callable[[], Any]:
    async def run() -> None:
        await node.run_action(action)

    return run


def _close(process: subprocess.Popen[bytes]) -> None:
    """End a helper process: closing its input makes it exit."""
    if process.stdin is not None:
        try:
            process.stdin.close()
        except OSError:
            pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def make_app(paths: Sequence[str] = (".",), **options: Any) -> VotakvotApp:
    """The app over ``paths`` (tests and screenshots build it through this)."""
    return VotakvotApp(paths, **options)
