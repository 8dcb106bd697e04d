"""Telling the app which trial folders changed on disk.

Local folders are watched with watchdog (inotify on Linux); URLs are polled.
Either way the changes are collected in sets and handed over in *batches*
(at most one callback per ``batch_interval``), so a burst of a thousand new
trials a second costs the app a handful of messages, not a thousand.
"""

from __future__ import annotations

import logging
import os
import posixpath
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from votakvot.layout import ANNOTATIONS_NAME, HEARTBEAT_NAME, YAML_NAME, is_metrics_file
from votakvot.storage import Storage, open_storage

from .model import Source

__all__ = ["Changes", "Poller", "Watcher"]

log = logging.getLogger(__name__)


@dataclass
class Changes:
    """One batch of changes."""

    trials: set[str] = field(default_factory=set)
    """Trial folders whose ``votakvot.yaml`` was written (new or updated)."""
    metrics: set[str] = field(default_factory=set)
    """Trial folders whose metric files grew."""
    removed: set[str] = field(default_factory=set)
    """Folders that were deleted (trials below them are gone)."""
    scan: set[str] = field(default_factory=set)
    """New folders to scan for trials (their files may predate the watch)."""

    def __bool__(self) -> bool:
        return bool(self.trials or self.metrics or self.removed or self.scan)


class _Batcher:
    """Collects changes from any thread and delivers them at a bounded rate."""

    def __init__(self, deliver: Callable[[Changes], None], batch_interval: float) -> None:
        self.deliver = deliver
        self.batch_interval = batch_interval
        self._lock = threading.Lock()
        self._pending = Changes()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="votakvot-tui-batcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def add(self, kind: str, path: str) -> None:
        with self._lock:
            getattr(self._pending, kind).add(path)
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.is_set():
                return
            # Let a burst accumulate a little before delivering it.
            time.sleep(self.batch_interval)
            with self._lock:
                batch, self._pending = self._pending, Changes()
                self._wake.clear()
            if batch:
                try:
                    self.deliver(batch)
                except Exception:
                    log.exception("delivering file changes failed")


def _trial_file(name: str) -> bool:
    """The files whose changes the poller reports: records, annotations and metric files."""
    return name in (YAML_NAME, ANNOTATIONS_NAME) or is_metrics_file(name)


def _classify(path: str) -> tuple[str, str] | None:
    """``(kind, trial folder)`` for a file event inside a trial folder, else ``None``."""
    name = os.path.basename(path)
    folder = os.path.dirname(path)
    if name == YAML_NAME:
        return "trials", folder
    if is_metrics_file(name):
        return "metrics", folder
    if name in (HEARTBEAT_NAME, ANNOTATIONS_NAME):  # tags and notes are row columns too
        return "trials", folder
    return None


class Watcher:
    """Watches local source folders with watchdog and reports changes in batches.

    Args:
        sources: local sources to watch (URLs are for :class:`Poller`).
        deliver: called from a background thread with each batch; the app passes
            a function that posts a message.
        batch_interval: seconds a batch may wait to gather more changes.
    """

    def __init__(
        self,
        sources: Sequence[Source],
        deliver: Callable[[Changes], None],
        batch_interval: float = 0.1,
    ) -> None:
        self.sources = [s for s in sources if s.local]
        self._batcher = _Batcher(deliver, batch_interval)
        self._observer: Any = None

    def start(self) -> None:
        """Start watching; raises ``OSError`` if the system refuses (e.g. inotify limits)."""
        from watchdog.events import (
            DirCreatedEvent,
            DirDeletedEvent,
            DirMovedEvent,
            FileCreatedEvent,
            FileDeletedEvent,
            FileModifiedEvent,
            FileMovedEvent,
            FileSystemEvent,
            FileSystemEventHandler,
        )
        from watchdog.observers import Observer

        # watchdog warns when a new folder's watch races with its parent's recursive
        # watch; the watch is replaced and nothing is lost, so the noise is dropped.
        warnings.filterwarnings(
            "ignore", message="Callback with id", category=RuntimeWarning, module="watchdog"
        )

        batcher = self._batcher
        sources = self.sources

        def wanted(folder: str) -> bool:
            return any(s.matches(folder) for s in sources)

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                kind = event.event_type
                if kind in ("opened", "closed_no_write", "closed"):
                    return
                src = os.fsdecode(event.src_path)
                if event.is_directory:
                    if kind == "deleted":
                        batcher.add("removed", src)
                    elif kind == "created":
                        batcher.add("scan", src)
                    elif kind == "moved":
                        batcher.add("removed", src)
                        batcher.add("scan", os.fsdecode(event.dest_path))
                    return
                if kind == "moved":
                    hit = _classify(os.fsdecode(event.dest_path))
                elif kind == "deleted":
                    if os.path.basename(src) == YAML_NAME:
                        batcher.add("removed", os.path.dirname(src))
                    return
                else:
                    hit = _classify(src)
                if hit is not None and wanted(hit[1]):
                    batcher.add(*hit)

        observer = Observer()
        handler = Handler()
        bases = sorted({s.base for s in self.sources})
        # A base inside another base is already covered by the recursive watch.
        bases = [b for b in bases if not any(b.startswith(o + "/") for o in bases if o != b)]
        for base in bases:
            if os.path.isdir(base):
                # Only writes: the app's own reads (open/close events) would flood the queue.
                observer.schedule(
                    handler,
                    base,
                    recursive=True,
                    event_filter=[
                        FileCreatedEvent,
                        FileModifiedEvent,
                        FileMovedEvent,
                        FileDeletedEvent,
                        DirCreatedEvent,
                        DirDeletedEvent,
                        DirMovedEvent,
                    ],
                )
        observer.daemon = True
        self._batcher.start()
        observer.start()
        self._observer = observer

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=2)
            self._observer = None
        self._batcher.stop()


class Poller:
    """Polls sources (remote URLs, or local ones when watching is impossible).

    Each round lists the files under each source with their sizes and times and
    reports only the trial folders whose ``votakvot.yaml`` or metric files differ
    from the last round, so unchanged trials are never read again.

    Args:
        sources: the sources to poll.
        deliver: called from the polling thread with each non-empty batch.
        interval: seconds between rounds.
        storage_options: options of the fsspec filesystem (credentials, endpoints).
    """

    def __init__(
        self,
        sources: Sequence[Source],
        deliver: Callable[[Changes], None],
        interval: float = 2.0,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.sources = list(sources)
        self.storage_options = storage_options
        self.deliver = deliver
        self.interval = interval
        self._seen: dict[str, tuple[Any, Any]] = {}
        self._storages: dict[str, Storage] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="votakvot-tui-poller", daemon=True)
        self._first = True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 2)

    def _listing(self, source: Source) -> dict[str, tuple[Any, Any]]:
        """File -> (size, mtime) of the trial files under one source."""
        storage = self._storages.get(source.base)
        if storage is None:  # one per source: a remote one keeps its connection
            storage = self._storages[source.base] = open_storage(source.base, self.storage_options)
        out = {}
        for path, stamp in storage.stat_files(storage.root, _trial_file).items():
            # Named the way find_trial_dirs names folders: the base URL and the rest.
            full = storage.to_url(path)
            if source.matches(posixpath.dirname(full)):
                out[full] = stamp
        return out

    def poll_once(self) -> Changes:
        """One round: what changed since the previous one (the first round only remembers)."""
        listing: dict[str, tuple[Any, Any]] = {}
        for source in self.sources:
            try:
                listing.update(self._listing(source))
            except FileNotFoundError:
                continue
        changes = Changes()
        if not self._first:
            for path, stamp in listing.items():
                if self._seen.get(path) != stamp:
                    name = posixpath.basename(path)
                    kind = "trials" if name in (YAML_NAME, ANNOTATIONS_NAME) else "metrics"
                    getattr(changes, kind).add(posixpath.dirname(path))
            for path in self._seen.keys() - listing.keys():
                if posixpath.basename(path) == YAML_NAME:
                    changes.removed.add(posixpath.dirname(path))
        self._seen = listing
        self._first = False
        return changes

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                changes = self.poll_once()
            except Exception as exc:
                log.warning("polling %s failed: %s", [s.path for s in self.sources], exc)
            else:
                if changes:
                    self.deliver(changes)
            self._stop.wait(self.interval)
