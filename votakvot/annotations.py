"""Tags and a note added to a trial after it ran: ``best``, ``bad-seed``, "lr too high".

A trial's record (``votakvot.yaml``) is what the call recorded and is never
rewritten for this. Annotations live next to it in a small sidecar file of
their own, :data:`~votakvot.layout.ANNOTATIONS_NAME`, replaced atomically on
every change (local folders and fsspec URLs alike)::

    votakvot.annotate("mod/train/24-05-20/10:00:00/1b2c...", tags=["best"], note="lr 0.1 wins")
    votakvot.annotate(trial, remove_tags="best")
    trial.tags, trial.note                  # read back with the trial
    load_report(...)["tags"]                # "best,bad-seed": one comma-joined text cell

Reading a sidecar never runs code (a safe YAML loader); one that is not what
:func:`annotate` writes is refused with a :class:`~votakvot.TrialLoadError`
naming the file, which readers of trials turn into an
:class:`~votakvot.UnreadableFileWarning`: the trial is kept, unannotated.

Two processes annotating one trial at the same moment: the last write wins
(each write is whole, never a mix of both).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .exceptions import TrialLoadError
from .layout import ANNOTATIONS_NAME, YAML_NAME
from .storage import Storage, open_storage, redact

__all__ = [
    "ANNOTATIONS_LIMIT",
    "ANNOTATIONS_NAME",
    "MAX_NOTE",
    "MAX_TAG",
    "Annotations",
    "annotate",
    "check_tag",
    "parse_annotations",
    "read_annotations",
    "split_tags",
]

ANNOTATIONS_LIMIT = 1024 * 1024
"""Bytes of a sidecar beyond which readers refuse it (what ``annotate`` writes is far smaller)."""
MAX_TAG = 64
"""Characters of one tag at most: tags are labels shown in a table column."""
MAX_NOTE = 64 * 1024
"""Characters of a note at most."""


@dataclass(frozen=True)
class Annotations:
    """What a trial was annotated with; empty when it never was."""

    tags: tuple[str, ...] = ()
    """Tags in the order they were first added, each once."""
    note: str = ""
    """Free text; ``""`` when there is none."""

    def __bool__(self) -> bool:
        return bool(self.tags or self.note)

    @property
    def tags_text(self) -> str:
        """The tags as one comma-joined text: the ``tags`` column of reports."""
        return ",".join(self.tags)

    def to_yaml(self) -> bytes:
        """The sidecar's content."""
        import yaml

        data = {"tags": list(self.tags), "note": self.note}
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8")


def check_tag(tag: Any) -> str:
    """``tag`` stripped of surrounding blanks, or a ValueError saying what a tag may be.

    A tag is a short label without commas (reports join tags with commas, the
    dashboard and CLI split on them) and without line breaks or control characters.
    """
    if not isinstance(tag, str):
        raise ValueError(f"a tag must be text like 'best' (got {type(tag).__name__} {tag!r})")
    text = tag.strip()
    if not text:
        raise ValueError(f"a tag must not be empty (got {tag!r})")
    if "," in text:
        raise ValueError(
            f"a tag must not contain a comma (got {tag!r}); pass several tags as a list"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError(f"a tag must be one line of printable text (got {tag!r})")
    if len(text) > MAX_TAG:
        raise ValueError(f"a tag must be at most {MAX_TAG} characters (got {len(text)}: {tag!r})")
    return text


def split_tags(text: str) -> list[str]:
    """``"best, bad-seed,"`` -> ``["best", "bad-seed"]``: the comma lists of the CLI and dashboard.

    Raises:
        ValueError: a tag is not valid (see :func:`check_tag`).
    """
    return [check_tag(part) for part in text.split(",") if part.strip()]


def _tag_list(tags: str | Iterable[str] | None) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        return [check_tag(tags)]
    return [check_tag(t) for t in tags]


def _check_note(note: Any) -> str:
    if not isinstance(note, str):
        raise ValueError(f"a note must be text (got {type(note).__name__} {note!r})")
    if len(note) > MAX_NOTE:
        raise ValueError(f"a note must be at most {MAX_NOTE} characters (got {len(note)})")
    return note.strip()


def parse_annotations(raw: bytes, name: str) -> Annotations:
    """A sidecar's bytes as :class:`Annotations`; loading never runs code.

    Args:
        raw: the file's content.
        name: the file as messages name it.

    Raises:
        TrialLoadError: the file is not YAML, or not the mapping ``annotate`` writes.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(raw, Loader=loader)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TrialLoadError(name, f"not valid YAML ({first}); fix or delete the file") from None
    if data is None:
        return Annotations()
    if not isinstance(data, dict):
        raise TrialLoadError(
            name,
            f"expected a mapping with 'tags' and 'note' (got {type(data).__name__}); "
            "fix or delete the file",
        )
    tags = data.get("tags") or []
    note = data.get("note") or ""
    try:
        if not isinstance(tags, list):
            raise ValueError(f"'tags' must be a list (got {type(tags).__name__})")
        checked = tuple(dict.fromkeys(check_tag(t) for t in tags))
        return Annotations(checked, _check_note(note))
    except ValueError as exc:
        raise TrialLoadError(name, f"{exc}; fix or delete the file") from None


def annotations_from(raw: bytes | Exception | None, name: str) -> Annotations | None:
    """What a read of a sidecar gave (bytes, an error, ``None`` for none) as annotations.

    ``None`` when the trial has no sidecar; :class:`Annotations` otherwise.

    Raises:
        TrialLoadError: the sidecar is there but cannot be read or parsed.
    """
    if raw is None or isinstance(raw, (FileNotFoundError, NotADirectoryError)):
        return None
    if isinstance(raw, TrialLoadError):
        raise raw
    if isinstance(raw, Exception):
        reason = redact(str(raw)) or type(raw).__name__
        raise TrialLoadError(name, f"cannot be read ({reason})") from raw
    return parse_annotations(raw, name)


def _folder(
    trial: Any, root: str | os.PathLike[str] | None, storage_options: Mapping[str, Any] | None
) -> tuple[Storage, str]:
    from .metrics import resolve_trial_path

    folder = resolve_trial_path(
        trial, None if root is None else os.fspath(root), storage_options=storage_options
    )
    storage = open_storage(folder.rstrip("/") or "/", storage_options)
    return storage, storage.root


def read_annotations(
    trial: Any,
    *,
    root: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Annotations:
    """The annotations of one trial (empty if it has none).

    Args:
        trial: a ``Trial``, a trial folder (path or URL), or a tid under ``root``.
        root: where a tid is looked up; default: the root given to ``votakvot.init``.
        storage_options: options of the fsspec filesystem; by default those a
            ``Trial`` was read with.

    Raises:
        FileNotFoundError: there is no such trial.
        TrialLoadError: the sidecar cannot be read or is not what ``annotate`` writes.
    """
    if storage_options is None:
        storage_options = getattr(trial, "storage_options", None)
    storage, folder = _folder(trial, root, storage_options)
    file = storage.join(folder, ANNOTATIONS_NAME)
    return annotations_from(storage.read(file, ANNOTATIONS_LIMIT), storage.shown(file)) or (
        Annotations()
    )


def annotate(
    trial: Any,
    tags: str | Iterable[str] | None = None,
    note: str | None = None,
    remove_tags: str | Iterable[str] | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Annotations:
    """Add or remove tags of a trial and set its note, after it ran (or while it runs).

    Only the sidecar :data:`~votakvot.layout.ANNOTATIONS_NAME` is written, atomically;
    the trial's ``votakvot.yaml`` is never touched.

    Args:
        trial: a ``Trial``, a trial folder (path or URL), or a tid under ``root``.
        tags: a tag or tags to add (``"best"``, ``["best", "lr-sweep"]``); tags it has
            already are kept where they are.
        note: the new note, replacing the old one; ``""`` clears it, ``None`` keeps it.
        remove_tags: a tag or tags to remove; removing one it lacks is no error.
        root: where a tid is looked up; default: the root given to ``votakvot.init``.
        storage_options: options of the fsspec filesystem; by default those a
            ``Trial`` was read with.

    Returns:
        The trial's annotations as written.

    Raises:
        ValueError: a tag or the note is not valid; the message says why.
        FileNotFoundError: there is no such trial (no ``votakvot.yaml`` there).
        TrialLoadError: the existing sidecar cannot be read (fix or delete it first,
            rather than losing what it holds).
    """
    add = _tag_list(tags)
    remove = set(_tag_list(remove_tags))
    new_note = None if note is None else _check_note(note)
    if storage_options is None:
        storage_options = getattr(trial, "storage_options", None)
    storage, folder = _folder(trial, root, storage_options)
    if storage.stamp(storage.join(folder, YAML_NAME)) is None:
        raise FileNotFoundError(
            f"no trial at {redact(storage.shown(folder))!r}: it has no {YAML_NAME}; "
            "pass a trial folder, a Trial or a tid under the root"
        )
    file = storage.join(folder, ANNOTATIONS_NAME)
    old = annotations_from(storage.read(file, ANNOTATIONS_LIMIT), storage.shown(file))
    old = old or Annotations()
    kept = [t for t in old.tags if t not in remove]
    merged = tuple(dict.fromkeys([*kept, *(t for t in add if t not in remove)]))
    new = Annotations(merged, old.note if new_note is None else new_note)
    storage.write_atomic(file, new.to_yaml())
    cached = getattr(trial, "__dict__", None)
    if isinstance(cached, dict) and hasattr(trial, "data"):
        cached["_annotations"] = new  # a Trial object passed in reads the new values
    return new
