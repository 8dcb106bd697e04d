"""Starts Python with bounded resources: ``python _limited.py MEMORY CPU PYTHON_ARGS...``.

Sets the address-space and CPU-time limits and, when run as root, drops the
capabilities that let root read any file from the bounding set; then execs
``python PYTHON_ARGS...``, whose capabilities are recomputed without them. Doing
this in a fresh single-threaded process (rather than in a ``preexec_fn``, which
runs between fork and exec of a possibly multi-threaded test process) is safe.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2


def main() -> None:
    memory, cpu, args = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
            if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")
    os.execv(sys.executable, [sys.executable, *args])


if __name__ == "__main__":
    main()
