"""Reading a trial's metric series back.

A trial's rows are spread over ``votakvot.metrics.NNNNN.csv`` files (one per set
of columns locally, one per flush on remote stores); :func:`load_metrics` joins
them into one frame in the order the rows were metered.
"""

from __future__ import annotations

import io
import os
import posixpath
from typing import TYPE_CHECKING, Any

from ._layout import METRICS_PREFIX, YAML_NAME
from ._storage import get_filesystem, is_local, split_protocol
from .exceptions import TrialLoadError

if TYPE_CHECKING:
    import pandas

__all__ = ["METRICS_PREFIX", "load_metrics", "resolve_trial_path"]


def resolve_trial_path(trial: Any, root: str | None = None) -> str:
    """The folder of ``trial``: a ``Trial``, a folder path or URL, or a tid.

    A tid is looked up under ``root``, by default the one given to ``votakvot.init``.

    Raises:
        FileNotFoundError: ``trial`` is neither a trial folder nor a tid under the root.
    """
    from .trial import Trial

    if isinstance(trial, Trial):
        return trial.path
    text = str(trial)
    if not is_local(text):
        return text.rstrip("/")
    local = os.path.expanduser(split_protocol(text)[1])
    if os.path.isfile(os.path.join(local, YAML_NAME)):
        return local
    if root is None:
        from ._config import get_config

        root = get_config().path
    tid = text.strip("/")
    if is_local(root):
        folder = os.path.join(os.path.expanduser(split_protocol(root)[1]), *tid.split("/"))
        if os.path.isdir(folder):
            return folder
        raise FileNotFoundError(
            f"no trial {text!r}: it is neither a trial folder nor a tid under the root "
            f"{root!r} given to votakvot.init(); pass the trial's path or init(path=...)"
        )
    return f"{root.rstrip('/')}/{tid}"


def _complete_lines(raw: bytes) -> bytes:
    """Drop a last line without its newline: a row cut short by a killed writer."""
    if raw and not raw.endswith(b"\n"):
        return raw[: raw.rfind(b"\n") + 1]
    return raw


def _metric_files(folder: str) -> list[tuple[str, bytes]]:
    if is_local(folder):
        local = split_protocol(folder)[1]
        try:
            names = sorted(
                e.name
                for e in os.scandir(local)
                if e.name.startswith(METRICS_PREFIX) and e.name.endswith(".csv")
            )
        except FileNotFoundError:
            raise FileNotFoundError(f"no trial folder {folder!r}") from None
        files = []
        for name in names:
            with open(os.path.join(local, name), "rb") as f:
                files.append((os.path.join(local, name), f.read()))
        return files
    fs, root = get_filesystem(folder)
    fs.invalidate_cache(root)  # listings are cached per instance; a trial may have grown
    try:
        # detail=True: some backends (FTP) give bare names for detail=False
        listed = [entry["name"] for entry in fs.ls(root, detail=True)]
    except FileNotFoundError:
        raise FileNotFoundError(f"no trial folder {folder!r}") from None
    paths = sorted(
        p
        for p in listed
        if posixpath.basename(p).startswith(METRICS_PREFIX) and p.endswith(".csv")
    )
    return [(f"{folder}/{posixpath.basename(p)}", bytes(fs.cat_file(p))) for p in paths]


def load_metrics(trial: Any) -> pandas.DataFrame:
    """All metric rows of one trial, in the order they were metered.

    Args:
        trial: a ``Trial``, a trial folder (path or URL), or a tid under the
            root given to ``votakvot.init`` (``rep.loc[0]["tid"]``).

    Returns:
        One row per ``votakvot.meter`` call: ``at`` (unix time, seconds) and a
        column per metered name; a column a row did not meter is NaN. A trial
        without metrics gives an empty frame with just ``at``.

    Raises:
        FileNotFoundError: there is no such trial.
        TrialLoadError: a metric file is not CSV; the message names it.
    """
    import pandas

    folder = resolve_trial_path(trial)
    frames = []
    for name, raw in _metric_files(folder):
        raw = _complete_lines(raw)
        if not raw.strip():
            continue
        try:
            frames.append(pandas.read_csv(io.BytesIO(raw)))
        except (ValueError, pandas.errors.ParserError) as exc:
            raise TrialLoadError(name, f"not a metrics CSV file: {exc}") from None
    if not frames:
        return pandas.DataFrame({"at": pandas.Series([], dtype="float64")})
    frame = frames[0] if len(frames) == 1 else pandas.concat(frames, ignore_index=True)
    if "at" in frame.columns:
        frame = frame.sort_values("at", kind="stable")
    return frame.reset_index(drop=True)
