"""The peer every benchmark compares against: the original ``votakvot==0.1rc1`` from PyPI,
installed into its own venv (``bench/.venv-orig``) the first time a benchmark needs it.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import venv
from pathlib import Path

__all__ = ["ORIG_VERSION", "orig_python"]

ORIG_VERSION = "0.1rc1"
HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-orig"


def orig_python() -> str:
    """Path of a Python that imports the original votakvot (installing it if needed)."""
    python = VENV / "bin" / "python"
    stamp = VENV / f".votakvot-{ORIG_VERSION}"
    HERE.joinpath(".work").mkdir(exist_ok=True)
    with open(HERE / ".work" / "orig.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # several benchmarks may start at once
        if not stamp.exists():
            print(f"installing votakvot=={ORIG_VERSION} into {VENV} ...", file=sys.stderr)
            venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", f"votakvot=={ORIG_VERSION}"],
                check=True,
                env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"),
            )
            stamp.touch()
    return str(python)


if __name__ == "__main__":
    print(orig_python())
