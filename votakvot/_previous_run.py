"""What an earlier run left at a trial id: its finished record, or files a rerun clears.

``votakvot.run`` at an explicit id returns a trial that finished there instead of
running it again; a rerun (or a resumed task) starts without the earlier run's
heartbeat, output, traceback and metrics.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ._config import Config
from .layout import HEARTBEAT_NAME, LOG_NAME, METRICS_PREFIX, OUTPUT_NAME, TRACEBACK_NAME
from .storage import list_folder

if TYPE_CHECKING:
    from ._active import ActiveTrial
    from .trial import Trial

__all__ = [
    "PREVIOUS_RUN_FILES",
    "clear_files",
    "clear_previous_run",
    "finished_trial",
]

logger = logging.getLogger("votakvot")


def finished_trial(config: Config, tid: str) -> Trial | None:
    """The recorded trial at ``tid`` if it finished successfully, else ``None``."""
    from .trial import read_trial

    storage = config.storage
    folder = storage.join(storage.root, *tid.split("/"))
    try:
        trial = read_trial(storage.to_url(folder), storage.storage_options)
    except Exception:
        return None
    if trial is not None and trial.data.get("state") == "done":
        return trial
    return None


def clear_files(
    trial: ActiveTrial,
    names: tuple[str, ...],
    prefixes: tuple[str, ...] = (),
    *,
    temporary: bool = False,
) -> None:
    """Remove files of an earlier run from the trial folder, so a fresh start shows none.

    With ``temporary``, also the temp files of atomic writes a killed process left behind.
    """
    storage = trial.storage
    try:
        for name in list_folder(storage, trial.path):
            if (
                name in names
                or name.startswith(prefixes)
                or (temporary and name.startswith("votakvot.") and name.endswith(".tmp"))
            ):
                path = storage.join(trial.path, name)
                storage.remove(path)
    except OSError as exc:
        logger.warning("votakvot: could not clear old files of trial %r: %s", trial.tid, exc)


PREVIOUS_RUN_FILES = (TRACEBACK_NAME, HEARTBEAT_NAME, OUTPUT_NAME, LOG_NAME)
"""Files of an earlier run at the same id that a fresh start must not carry on."""


def clear_previous_run(trial: ActiveTrial) -> None:
    """A rerun at an explicit id starts fresh metrics, output and traceback."""
    clear_files(trial, PREVIOUS_RUN_FILES, (METRICS_PREFIX,), temporary=True)
