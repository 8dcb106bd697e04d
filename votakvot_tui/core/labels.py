"""Short names for trials shown side by side (plot legends, compare headers), and the cap.

A legend entry ``lr=0.1 bs=32`` says more than a uuid: when several trials are
shown together they are named by the params that differ between them. A trial
whose params say nothing apart is named by its tid: ``train:0a1b2c3d`` for the
default ``{module}/{function}/{date}/{time}/{uuid}`` layout, the tid itself
(cut in the middle when long) for one the caller chose.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "MAX_SHOWN",
    "cap_message",
    "differing_params",
    "short_middle",
    "trial_label",
    "trial_labels",
]

MAX_SHOWN = 12
"""At most this many trials are overlaid in a plot or put side by side in compare: past
a dozen neither a legend nor a table column can be told apart (and reading 10,000
metric files to draw them would take half a minute)."""

_DEFAULT_TID = re.compile(
    r"(?:^|/)(?P<function>[^/]+)/\d\d-\d\d-\d\d/\d\d:\d\d:\d\d/(?P<uuid>[0-9a-fA-F-]{8,})$"
)
"""The tail of a default tid: ``.../<function>/<yy-mm-dd>/<HH:MM:SS>/<uuid>``."""


def short_middle(text: str, width: int) -> str:
    """``text`` cut in the middle to ``width`` characters: both ends of an id stay readable."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def trial_label(path: str, tid: str | None = None, width: int = 24) -> str:
    """A short name of one trial: ``function:uuid8`` for a default tid, else the tid.

    Args:
        path: the trial folder (used when ``tid`` is not known).
        tid: the trial id as recorded in its ``votakvot.yaml``; a trial whose tid
            was chosen by the caller (``votakvot.run(tid="sweep/n=10")``) is shown
            by that tid, not mistaken for the default layout.
        width: longer names are cut in the middle.
    """
    name = (tid or "").strip("/") or path.rstrip("/")
    match = _DEFAULT_TID.search(name)
    if match:
        return f"{match['function']}:{match['uuid'][:8]}"
    if not tid:  # only a folder: its last part is all that is surely the trial's own
        name = name.rsplit("/", 1)[-1]
    return short_middle(name, width)


def differing_params(params: Sequence[Mapping[str, Any]]) -> list[str]:
    """Names of the params whose values are not the same in every trial, in order of appearance."""
    names: dict[str, None] = {}
    for one in params:
        names.update(dict.fromkeys(str(k) for k in one))
    missing = object()
    out = []
    for name in names:
        values = [repr(one.get(name, missing)) for one in params]
        if any(v != values[0] for v in values[1:]):
            out.append(name)
    return out


def _short_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value).replace("\n", " ")
    return short_middle(text, 16)


def trial_labels(
    paths: Sequence[str],
    tids: Sequence[str | None],
    params: Sequence[Mapping[str, Any]],
    width: int = 28,
) -> list[str]:
    """Names of trials shown together: the params that differ (``lr=0.1 bs=32``), else tids.

    Two trials with the same differing params (a rerun) would get one name: the tid
    label is appended to tell them apart.
    """
    keys = differing_params(params) if len(params) > 1 else []
    labels = []
    for path, tid, one in zip(paths, tids, params, strict=True):
        parts = [f"{k}={_short_value(one[k])}" for k in keys if k in one]
        labels.append(" ".join(parts) if parts else trial_label(path, tid, width))
    seen: dict[str, int] = {}
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
    return [
        short_middle(f"{label} {trial_label(path, tid)}" if seen[label] > 1 else label, width)
        for label, path, tid in zip(labels, paths, tids, strict=True)
    ]


def cap_message(shown: int, total: int) -> str:
    """What the user is told when only the first ``shown`` of ``total`` trials are shown."""
    return f"showing {shown} of {total:,} marked trials; narrow the selection"
