"""Storing a run as a trial: its record, the live status file, the per-second series
and the latency histogram.

Files in the trial folder besides votakvot's own (see ``docs/ab.md``):

* ``ab.status.json`` - replaced atomically about five times a second while the
  run goes on, and a last time when it ends; what a live viewer reads.
* ``ab.histogram.csv`` - ``lower_ns,upper_ns,count``, one row per nonempty bucket
  of the latency histogram of successful calls.
* ``ab.histogram.scheduled.csv`` - the same, latencies from the scheduled start
  (rate mode only).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from .._active import ActiveTrial
from .._config import Config
from .._previous_run import clear_previous_run
from ..layout import new_tid
from .histogram import Histogram

__all__ = ["HISTOGRAM_NAME", "SCHEDULED_HISTOGRAM_NAME", "STATUS_NAME", "AbTrial"]

STATUS_NAME = "ab.status.json"
HISTOGRAM_NAME = "ab.histogram.csv"
SCHEDULED_HISTOGRAM_NAME = "ab.histogram.scheduled.csv"
STATUS_VERSION = 1


class AbTrial:
    """The trial of one ``votakvot-ab`` run.

    Args:
        root: results root (``-p``), a local path or fsspec URL.
        tid: the trial id (``-t``), or ``None`` for ``ab/{callable}/{date}/{time}/{uuid}``.
        short: the callable's name as used in a default tid.
        function: ``module.qualname`` of the callable.
        params: the callable, its arguments and every option.
        source: the callable's ``source`` section (``votakvot._source.describe``), so
            two runs of edited code are told apart as tracked calls are.
    """

    def __init__(
        self,
        root: str,
        tid: str | None,
        short: str,
        function: str,
        params: dict[str, Any],
        source: dict[str, Any] | None = None,
    ) -> None:
        config = Config(path=root, capture="none")
        trial_uuid = None
        if tid is None:
            tid, trial_uuid = new_tid(f"ab/{short}")
        self.trial = ActiveTrial(
            tid, params, function=function, config=config, extra={"kind": "ab"}, source=source
        )
        if trial_uuid is not None:
            self.trial.id = trial_uuid
            self.trial.data["id"] = trial_uuid
        self._status_failed = False

    @property
    def tid(self) -> str:
        return self.trial.tid

    @property
    def url(self) -> str:
        return self.trial.url

    def start(self) -> None:
        # A rerun under the same -t starts a fresh metric series, not one appended to the old.
        clear_previous_run(self.trial)
        self.trial.start()

    def status(self, status: dict[str, Any]) -> None:
        """Replace ``ab.status.json`` (never raises: a viewer's file is not worth a run)."""
        status = {
            "version": STATUS_VERSION,
            "pid": os.getpid(),
            "tid": self.trial.tid,
            "updated": time.time(),
            **status,
        }
        data = json.dumps(status, separators=(",", ":"), default=str).encode()
        try:
            self.trial.storage.write_atomic(self.trial.file(STATUS_NAME), data)
        except Exception as exc:
            if not self._status_failed:
                self._status_failed = True
                import logging

                logging.getLogger("votakvot.ab").warning(
                    "votakvot-ab: cannot write %s in %s: %s", STATUS_NAME, self.url, exc
                )

    def meter(self, row: dict[str, Any]) -> None:
        self.trial.meter(row)

    def attach_histogram(self, hist: Histogram, name: str = HISTOGRAM_NAME) -> None:
        try:
            self.trial.storage.write_atomic(self.trial.file(name), hist.to_csv().encode())
        except Exception as exc:
            import logging

            logging.getLogger("votakvot.ab").error(
                "votakvot-ab: cannot write %s in %s: %s", name, self.url, exc
            )

    def finish(
        self, summary: dict[str, Any], error: BaseException | None, signal: int | None = None
    ) -> None:
        """Record the summary; the trial ends ``done``, or ``failed``/``interrupted``
        with ``error`` (the summary is kept under ``result`` either way).

        A run stopped by SIGTERM or SIGHUP is recorded as a tracked call stopped by
        it is: ``error: {type: SIGTERM, message, signal: SIGTERM}``; a Ctrl-C keeps
        ``type: KeyboardInterrupt`` and gets ``signal: SIGINT``.
        """
        from .. import _signals

        if error is None and signal is None:
            self.trial.succeed(summary)
            return
        self.trial.data["result"] = summary
        if signal is not None:
            _signals.mark(self.trial, signal)
        if error is None:
            _signals.interrupt(self.trial, signal or 0)
        else:
            self.trial.fail(error)
