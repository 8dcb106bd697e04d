"""How a trial's failure is recorded: its error type, its traceback text, its state."""

from __future__ import annotations

import os
import sys
import traceback
from types import TracebackType

__all__ = ["INTERRUPTING", "error_type", "is_interruption", "traceback_text"]

INTERRUPTING = (KeyboardInterrupt, SystemExit, GeneratorExit)
"""Exceptions that end a trial ``interrupted`` rather than ``failed``."""

_HERE = os.path.dirname(os.path.abspath(__file__))
WRAPPER_FILES = frozenset(os.path.join(_HERE, name) for name in ("_decorator.py", "_run.py"))
"""Where the frames of votakvot's wrappers around the user's call come from."""


def error_type(exc: BaseException) -> str:
    cls = type(exc)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _user_frames(tb: TracebackType | None) -> TracebackType | None:
    """The traceback from the user's code on: votakvot's wrapper frames are noise there.

    Only the recorded text is trimmed; the exception re-raised to the caller keeps its
    traceback as it was.
    """
    while tb is not None and tb.tb_frame.f_code.co_filename in WRAPPER_FILES:
        tb = tb.tb_next
    return tb


def traceback_text(exc: BaseException) -> str:
    """The recorded traceback: from the user's frames on, notebook cells named ``Cell In[N]``."""
    te = traceback.TracebackException(type(exc), exc, _user_frames(exc.__traceback__))
    if "IPython" in sys.modules:  # only a kernel or IPython shell has cells to name
        from ._notebook import label_cells

        label_cells(te)
    return "".join(te.format())


def is_interruption(exc: BaseException) -> bool:
    if isinstance(exc, INTERRUPTING):
        return True
    return type(exc).__name__ == "CancelledError"
