"""Reading a trial's metric series back.

A trial's rows are spread over ``votakvot.metrics.NNNNN.csv`` files (one per set
of columns locally, one per flush on remote stores); :func:`load_metrics` joins
them into one frame in the order the rows were metered.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._metrics_read import metrics_frame, read_metrics_files
from .exceptions import SkippedMetricsWarning
from .layout import METRICS_PREFIX, YAML_NAME
from .storage import open_storage, split_protocol

if TYPE_CHECKING:
    import pandas

__all__ = [
    "METRICS_PREFIX",
    "SkippedMetricsWarning",
    "load_metrics",
    "read_metrics_files",
    "resolve_trial_path",
]

Options = Mapping[str, Any] | None


def resolve_trial_path(trial: Any, root: str | None = None, storage_options: Options = None) -> str:
    """The folder of ``trial``: a ``Trial``, a folder path or URL, or a tid.

    A tid is looked up under ``root``, by default the one given to ``votakvot.init``.

    Raises:
        FileNotFoundError: ``trial`` is neither a trial folder nor a tid under the root.
    """
    path = getattr(trial, "path", None)  # a Trial (or a Trial-like record of one)
    if isinstance(path, str) and hasattr(trial, "data"):
        return path
    text = str(trial)
    if split_protocol(text)[0] not in (None, "file", "local"):
        return text.rstrip("/")  # a URL names its folder; a tid is no URL
    local = os.path.expanduser(split_protocol(text)[1])
    if os.path.isfile(os.path.join(local, YAML_NAME)):
        return local
    if root is None:
        from ._config import get_config

        root = get_config().path
    tid = text.strip("/")
    storage = open_storage(root, storage_options)
    folder = storage.join(storage.root, *tid.split("/"))
    if not storage.forkable:  # not looked up: "not found" may mean "refused" there
        return storage.to_url(folder)
    if storage.isdir(folder):
        return folder
    raise FileNotFoundError(
        f"no trial {text!r}: it is neither a trial folder nor a tid under the root "
        f"{root!r} given to votakvot.init(); pass the trial's path or init(path=...)"
    )


def load_metrics(
    trial: Any, *, storage_options: Mapping[str, Any] | None = None
) -> pandas.DataFrame:
    """All metric rows of one trial, in the order they were metered.

    Args:
        trial: a ``Trial``, a trial folder (path or URL), or a tid under the
            root given to ``votakvot.init`` (``rep.loc[0]["tid"]``).
        storage_options: options of the fsspec filesystem (credentials,
            endpoints); by default those a ``Trial`` was read with.

    Returns:
        One row per ``votakvot.meter`` call: ``at`` (unix time, seconds) and a
        column per metered name; a column a row did not meter is NaN. A trial
        without metrics gives an empty frame with just ``at``. Rows and files
        that cannot be read are left out, each with a
        :class:`SkippedMetricsWarning` naming the file.

    Raises:
        FileNotFoundError: there is no such trial.
    """
    if storage_options is None:
        storage_options = getattr(trial, "storage_options", None)
    folder = resolve_trial_path(trial, storage_options=storage_options)
    return metrics_frame(folder, storage_options)
