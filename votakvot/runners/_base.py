"""The runner interface, and the two that run trials in this process."""

from __future__ import annotations

import concurrent.futures
import contextvars
import os
from typing import Any

from .._config import Config
from ._call import Call, execute

__all__ = ["InplaceRunner", "Runner", "ThreadRunner", "check_options"]


def check_options(runner: str, options: dict[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(
            f"runner {runner!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(known) or 'none'}"
        )


class Runner:
    """Runs calls as trials somewhere and hands back futures of their results."""

    name = ""
    can_timeout = False
    """Whether ``submit``/``submit_many`` take ``timeout=`` (seconds a call may run):
    only runners that can stop a running call (a worker process) do."""

    def __init__(self, config: Config, **options: Any) -> None:
        self.config = config
        self.policy: dict[str, Any] = {}
        """``retries``/``timeout`` given to ``votakvot.init``: defaults of ``map``."""

    def submit(self, call: Call) -> concurrent.futures.Future[Any]:
        raise NotImplementedError

    def submit_many(self, calls: list[Call]) -> list[concurrent.futures.Future[Any]]:
        """Futures of many calls, in order (runners may batch them)."""
        return [self.submit(call) for call in calls]

    def close(self, wait: bool = True) -> None:
        """Stop taking calls and free the workers; with ``wait`` let running trials end."""


class InplaceRunner(Runner):
    """Runs each call right away in the calling thread; the future is done on return."""

    name = "inplace"

    def __init__(self, config: Config, *, workers: int | None = None, **options: Any) -> None:
        # ``workers`` is accepted (and means nothing here) so one init() call can switch runners.
        check_options(self.name, options, ("workers",))
        super().__init__(config)

    def submit(self, call: Call) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        try:
            result = execute(call)
        except Exception as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future


class ThreadRunner(Runner):
    """Runs calls in a thread pool of this process: for I/O-bound trials.

    Each call runs in a copy of the submitter's context, so a trial submitted from
    inside a tracked call records it as its parent, as an in-place call would.
    """

    name = "thread"

    def __init__(self, config: Config, *, workers: int | None = None, **options: Any) -> None:
        check_options(self.name, options, ("workers",))
        super().__init__(config)
        if workers is not None and workers < 1:
            raise ValueError(f"runner 'thread': workers must be >= 1 (got {workers!r})")
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers or min(32, (os.cpu_count() or 1) + 4),
            thread_name_prefix="votakvot-runner",
        )

    def submit(self, call: Call) -> concurrent.futures.Future[Any]:
        context = contextvars.copy_context()
        return self.pool.submit(context.run, execute, call)

    def close(self, wait: bool = True) -> None:
        self.pool.shutdown(wait=wait)
