"""Running half of a CPU-bound read in a forked child on another core.

Reading a large report is parse-bound Python; a second process doubles the
throughput on two cores, and forking (rather than spawning) costs a few
milliseconds because the child already has every module it needs. It is only
used where forking is safe: Linux, and a process with no other threads (a
thread holding a lock at fork time could deadlock the child). The child never
imports, logs or warns; it sends its result back pickled and exits with
``os._exit``. Any failure of the child makes the parent do the work itself.
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ForkedCall", "can_fork"]


def can_fork() -> bool:
    """Whether a helper process may be forked here, and would have a core to run on."""
    if sys.platform != "linux" or threading.active_count() != 1:
        return False
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return cores >= 2


class ForkedCall:
    """``fn(*args)`` computed in a forked child; :meth:`result` collects it.

    The result must be picklable. If the child fails in any way the parent
    calls ``fn(*args)`` itself, so the caller always gets an answer.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.fn = fn
        self.args = args
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: compute, send, leave without running any cleanup
            try:
                os.close(read)
                try:
                    payload = pickle.dumps(fn(*args), protocol=pickle.HIGHEST_PROTOCOL)
                except BaseException:
                    payload = b""
                view = memoryview(payload)
                while view:
                    view = view[os.write(write, view) :]
            finally:
                os._exit(0)
        os.close(write)
        self.pid = pid
        self.fd = read

    def result(self) -> Any:
        with os.fdopen(self.fd, "rb") as pipe:
            payload = pipe.read()
        os.waitpid(self.pid, 0)
        if payload:
            try:
                return pickle.loads(payload)
            except Exception:
                pass  # a torn or odd payload: compute it here instead
        return self.fn(*self.args)
