"""A recorded trial, read back from its folder."""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from . import layout
from ._records import check_record, parse_record
from .annotations import ANNOTATIONS_LIMIT, Annotations, annotations_from
from .exceptions import TrialFailedError, TrialLoadError, UnreadableFileWarning
from .layout import (
    ANNOTATIONS_NAME,
    HEARTBEAT_NAME,
    SIDE_FILE_LIMIT,
    YAML_NAME,
    is_own_file,
    link_outside,
    safe_relative,
)
from .storage import LocalStorage, Storage, open_storage, read_side_file, redact

if TYPE_CHECKING:
    import os

    import pandas

__all__ = [
    "STALE_AFTER",
    "AttrDict",
    "Trial",
    "UnreadableFileWarning",
    "read_record",
    "read_side_file",
    "read_trial",
]

STALE_AFTER = 15.0
"""A running trial is ``stale`` when silent for max(3 heartbeat intervals, this many seconds)."""
_DEFAULT_INTERVAL = 5.0
_HEARTBEAT_LIMIT = 64 * 1024
"""A heartbeat is one short line; more than this is not one votakvot wrote."""


class AttrDict(dict):
    """A dict whose keys are attributes too, all the way down (``t.meta.git.commit``)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(
                f"no field {name!r} here; fields: {', '.join(map(str, self)) or 'none'}"
            ) from None
        return AttrDict(value) if isinstance(value, dict) else value

    def __getitem__(self, key: Any) -> Any:
        value = dict.__getitem__(self, key)
        return (
            AttrDict(value)
            if isinstance(value, dict) and not isinstance(value, AttrDict)
            else value
        )


class Trial:
    """One trial: its parsed ``votakvot.yaml`` (``data``) and the folder it lives in.

    Fields of the record are attributes too (``t.meta.git.commit``, ``t.at.created``).

    Args:
        path: the trial folder, a local path or an fsspec URL.
        data: the parsed ``votakvot.yaml``.
        storage_options: options of the fsspec filesystem (credentials, endpoints)
            for reading the trial's other files; what it was read with.
    """

    def __init__(
        self,
        path: str,
        data: dict[str, Any],
        *,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = path
        """The trial folder: a local path or a URL that ``read_trial`` accepts."""
        self.data = data
        """The whole parsed ``votakvot.yaml``."""
        self.unreadable: dict[str, str] = {}
        """Files of the folder that could not be read so far: ``{name: why}``."""
        self.storage_options: dict[str, Any] = dict(storage_options or {})
        """Options of the fsspec filesystem the trial's files are read with."""

    def __repr__(self) -> str:
        return f"<Trial {self.tid!r} {self.state}>"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("data", "unreadable", "storage_options"):
            raise AttributeError(name)
        try:
            value = self.data[name]
        except KeyError:
            raise AttributeError(f"trial {self.data.get('tid')!r} has no field {name!r}") from None
        return AttrDict(value) if isinstance(value, dict) else value

    @property
    def tid(self) -> str:
        """The trial id: its folder relative to the root (``module/fn/yy-mm-dd/HH:MM:SS/uuid``)."""
        return str(self.data.get("tid", ""))

    @property
    def id(self) -> str:
        """The globally unique id (a uuid4)."""
        return str(self.data.get("id", ""))

    @property
    def recorded_state(self) -> str:
        """The state as written: ``running``, ``done``, ``failed`` or ``interrupted``."""
        return str(self.data.get("state", "unknown"))

    @property
    def state(self) -> str:
        """The recorded state, except ``stale`` for a ``running`` trial whose heartbeat stopped.

        Derived on every read, never written: a trial that resumes beating is
        ``running`` again.
        """
        state = self.recorded_state
        if state == "running" and self.is_stale():
            return "stale"
        return state

    def _section(self, name: str) -> dict[str, Any]:
        """A mapping field; one of another type (a hand-edited file) reads as empty."""
        value = self.data.get(name)
        return value if isinstance(value, dict) else {}

    @property
    def created(self) -> datetime.datetime | None:
        """When the call was made (timezone-aware)."""
        return self._section("at").get("created")

    @property
    def duration(self) -> float | None:
        """Seconds the call took (``None`` while it runs)."""
        return self._section("at").get("duration")

    @property
    def params(self) -> AttrDict:
        """The call's arguments."""
        return AttrDict(self._section("params"))

    @property
    def info(self) -> AttrDict:
        """What the call recorded with ``votakvot.inform``."""
        return AttrDict(self._section("info"))

    @property
    def meta(self) -> AttrDict:
        """Where it ran: ``git``, ``system``, ``python``, ``process``, your providers."""
        return AttrDict(self._section("meta"))

    @property
    def result(self) -> Any:
        """The recorded result; raises :class:`TrialFailedError` if the call raised."""
        if "error" in self.data and self.recorded_state != "done":
            error = self._section("error")
            raise TrialFailedError(
                self.tid,
                str(error.get("type", "Error")),
                str(error.get("message", "")),
                str(self.data.get("traceback", "")),
            )
        value = self.data.get("result")
        return AttrDict(value) if isinstance(value, dict) else value

    # --- liveness ----------------------------------------------------------------

    def liveness(self) -> tuple[float | None, float]:
        """``(unix time of the last sign of life, heartbeat interval)``.

        The last sign of life is the last heartbeat, or the start when the trial
        has not beaten yet (short trials never do); ``None`` if neither is known.
        """
        raw = self._read_own(HEARTBEAT_NAME, _HEARTBEAT_LIMIT)
        if raw:
            parts = raw.split()
            try:
                beat = float(parts[0])
                interval = float(parts[1]) if len(parts) > 1 else _DEFAULT_INTERVAL
                return beat, interval
            except ValueError:
                pass  # a torn or foreign heartbeat file: fall back to the start time
        at = self._section("at")
        started = at.get("started") or at.get("created")
        if isinstance(started, datetime.datetime):
            return started.timestamp(), _DEFAULT_INTERVAL
        return None, _DEFAULT_INTERVAL

    @property
    def heartbeat(self) -> datetime.datetime | None:
        """The last heartbeat (local time, aware), ``None`` if the trial never beat."""
        raw = self._read_own(HEARTBEAT_NAME, _HEARTBEAT_LIMIT)
        if not raw:
            return None
        try:
            beat = float(raw.split()[0])
        except (ValueError, IndexError):
            return None
        return datetime.datetime.fromtimestamp(beat).astimezone()

    def is_stale(self, now: float | None = None) -> bool:
        """Whether a running trial has been silent for max(3 intervals, ``STALE_AFTER``)."""
        if self.recorded_state != "running":
            return False
        last, interval = self.liveness()
        if last is None:
            return False
        now = time.time() if now is None else now
        return now - last > max(3 * interval, STALE_AFTER)

    def _read_own(self, name: str, limit: int | None = None) -> bytes | None:
        """A file of the trial folder, ``None`` if it is not there or cannot be read.

        Read with the bounded, regular-file-only reader of records: a heartbeat
        that is a FIFO, a folder, a symlink loop or ``/dev/zero`` never hangs or
        aborts a report. Such a file is noted in :attr:`unreadable` and warned
        about once (:class:`UnreadableFileWarning`); the trial itself stays.
        """
        storage = self.storage
        try:
            path = storage.join(storage.root, *name.split("/"))
            return storage.read(path, SIDE_FILE_LIMIT if limit is None else limit)
        except TrialLoadError as exc:
            if name not in self.unreadable:
                self.unreadable[name] = exc.reason
                if not self._quiet:
                    import warnings

                    warnings.warn(self.unreadable_note(name), UnreadableFileWarning, stacklevel=3)
            return None

    _quiet = False
    """Set by readers that report :attr:`unreadable` themselves (a forked report child
    cannot warn into its parent)."""

    def unreadable_note(self, name: str) -> str:
        """The warning text for an unreadable file ``name`` of this trial."""
        storage = self.storage
        file = storage.shown(storage.join(storage.root, *name.split("/")))
        why = self.unreadable.get(name, "")
        return redact(f"{file}: {why}; trial {self.tid or self.path!r} kept without it")

    # --- annotations -------------------------------------------------------------

    @property
    def annotations(self) -> Annotations:
        """Tags and note added after the fact (``votakvot.annotate``); empty if none.

        Read from the sidecar on first use (readers of many trials read it with
        the record). A sidecar that cannot be read is noted in :attr:`unreadable`
        and warned about once; the trial then reads as unannotated.
        """
        return self.sidecar_annotations() or Annotations()

    @property
    def tags(self) -> list[str]:
        """The trial's tags (``["best"]``), in the order they were added."""
        return list(self.annotations.tags)

    @property
    def note(self) -> str:
        """The trial's note, ``""`` if it has none."""
        return self.annotations.note

    def sidecar_annotations(self) -> Annotations | None:
        """The annotations, or ``None`` when the trial has no sidecar at all.

        Reports use this to add their ``tags``/``note`` columns only when some
        trial was annotated.
        """
        if "_annotations" in self.__dict__:
            return self.__dict__["_annotations"]
        raw: bytes | Exception | None
        if "_sidecar" in self.__dict__:
            raw = self.__dict__.pop("_sidecar")
        else:
            storage = self.storage
            file = storage.join(storage.root, ANNOTATIONS_NAME)
            try:
                raw = storage.read(file, ANNOTATIONS_LIMIT)
            except TrialLoadError as exc:
                raw = exc
        self._parse_sidecar(raw)
        return self.__dict__["_annotations"]

    def set_sidecar(self, raw: bytes | Exception | None) -> None:
        """Take the sidecar as read by the caller (bytes, the error, ``None`` if absent).

        Readers of many trials read all sidecars in one batch (concurrently on
        remote stores) and hand each trial its own; it is parsed on first use.
        """
        self.__dict__.pop("_annotations", None)
        self.__dict__["_sidecar"] = raw

    def _parse_sidecar(self, raw: bytes | Exception | None) -> None:
        storage = self.storage
        shown = storage.shown(storage.join(storage.root, ANNOTATIONS_NAME))
        try:
            value = annotations_from(raw, shown)
        except TrialLoadError as exc:
            value = None
            if ANNOTATIONS_NAME not in self.unreadable:
                self.unreadable[ANNOTATIONS_NAME] = exc.reason
                if not self._quiet:
                    import warnings

                    note = self.unreadable_note(ANNOTATIONS_NAME)
                    warnings.warn(note, UnreadableFileWarning, stacklevel=4)
        self.__dict__["_annotations"] = value

    # --- files -------------------------------------------------------------------

    @property
    def storage(self) -> Storage:
        """The storage of the trial's folder (rooted at it), opened on first use."""
        storage = self.__dict__.get("_storage")
        if storage is None:
            storage = self.__dict__["_storage"] = open_storage(self.path, self.storage_options)
        return storage

    @property
    def attached(self) -> list[str]:
        """Names of files attached to the trial (votakvot's own files left out)."""
        storage = self.storage
        return sorted(n for n in storage.find_files(storage.root) if not is_own_file(n))

    def attach(self, name: str, mode: str = "rb") -> IO[Any]:
        """Open an attached file for reading.

        Raises:
            TrialLoadError: the file is a symbolic link (or lies below one) leading out
                of the trial folder: whoever wrote the folder could otherwise make it
                read any file of the reader's.
        """
        storage = self.storage
        rel = safe_relative(name)
        path = storage.join(storage.root, *rel.split("/"))
        target = link_outside(storage.root, rel) if isinstance(storage, LocalStorage) else None
        if target is not None:
            raise TrialLoadError(
                path,
                f"is a symbolic link to {target}, outside the trial folder: not opened. "
                "Copy the file into the trial folder if you mean to read it",
            )
        return storage.open(path, mode)

    @property
    def output(self) -> str:
        """What the call printed (``output.log``), as far as it was captured."""
        from .capture import read_output

        return read_output(self)

    @property
    def logs(self) -> pandas.DataFrame:
        """The logging records the call emitted (``log.jsonl``), one row each."""
        from .capture import read_logs

        return read_logs(self)

    def load_metrics(self) -> pandas.DataFrame:
        """All metric rows of this trial; see :func:`votakvot.metrics.load_metrics`."""
        from ._metrics_read import metrics_frame

        return metrics_frame(self.path, self.storage_options)


def read_record(
    folder: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The parsed and checked ``votakvot.yaml`` of ``folder``; ``None`` if it has none.

    Read bounded (:data:`~votakvot.layout.MAX_RECORD`) and only if it is a regular file.

    Raises:
        TrialLoadError: the record is there but cannot be read or is not a
            record votakvot wrote (bad YAML, unsafe tag, no tid or state, ...).
    """
    storage = open_storage(str(folder).rstrip("/") or "/", storage_options)
    file = storage.join(storage.root, YAML_NAME)
    raw = storage.read(file, layout.MAX_RECORD)  # looked up now: tests lower it
    if raw is None:
        return None
    shown = storage.shown(file)
    return check_record(parse_record(raw, shown), shown)


def read_trial(
    path: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None
) -> Trial | None:
    """Read the trial in folder ``path``; ``None`` if there is no ``votakvot.yaml``.

    Raises:
        TrialLoadError: the file is there but cannot be read safely; the
            message names the file and what is wrong with it.
    """
    folder = str(path).rstrip("/") or "/"
    data = read_record(folder, storage_options)
    if data is None:
        return None
    return Trial(folder, data, storage_options=storage_options)
