"""Reading a trial's metric series back."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any

from ._storage import get_filesystem

if TYPE_CHECKING:
    import pandas

__all__ = ["load_metrics"]

METRICS_PREFIX = "votakvot.metrics."


def load_metrics(trial: Any) -> pandas.DataFrame:
    """All metric rows of one trial, in the order they were written."""
    import io

    import pandas

    from .trial import Trial

    path = trial.path if isinstance(trial, Trial) else str(trial)
    fs, root = get_filesystem(path)
    frames = []
    for file in sorted(fs.ls(root, detail=False)):
        name = posixpath.basename(file)
        if name.startswith(METRICS_PREFIX) and name.endswith(".csv"):
            frames.append(pandas.read_csv(io.BytesIO(fs.cat_file(file))))
    if not frames:
        return pandas.DataFrame({"at": []})
    return (
        pandas.concat(frames, ignore_index=True)
        .sort_values("at", kind="stable")
        .reset_index(drop=True)
    )
