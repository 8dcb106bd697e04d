"""Which notebook (and which cell) a function was defined in, when it was.

A function defined in a notebook cell belongs to ``__main__``, like one in a script run
as ``python -c``, so without this two notebooks that each define ``train`` share one
folder and nothing says which notebook ran. The kernel knows the notebook's path when
its front end told it:

- Jupyter Server 2 (JupyterLab 4, Notebook 7) starts the kernel with ``JPY_SESSION_NAME``
  set to the notebook's full path (older servers: a path relative to the server's root),
  and ipykernel (6.22+) copies it to ``__session__`` in the user namespace;
- VS Code sets ``__vsc_ipynb_file__`` in the user namespace;
- nbclient, nbconvert and papermill set nothing: pass ``JPY_SESSION_NAME`` in the
  kernel's environment to name the notebook.

A JupyterLab console has a session name too, but no ``.ipynb`` file: it is not taken as
a notebook. Nothing here imports IPython: a kernel has it loaded already, and a plain
script never pays for it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import traceback
from collections.abc import Mapping
from typing import Any

__all__ = ["cell_info", "cell_number", "folder_name", "notebook_path"]

_INPUT = re.compile(r"<ipython-input-(\d+)-[0-9a-f]+>\Z")
"""The cell names of terminal IPython and of ipykernel before 6 (``In[N]`` is in them)."""
_KERNEL_CELL = re.compile(r"[/\\]ipykernel_\d+[/\\]\d+\.py\Z")
"""ipykernel's cell names (``/tmp/ipykernel_<pid>/<murmur hash of the code>.py``)."""

_NAMESPACE_KEYS = ("__vsc_ipynb_file__", "__session__")


def _shell() -> Any:
    """The running IPython shell, or ``None`` (IPython not loaded: not a kernel)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    return get() if callable(get) else None


def cell_number(filename: str) -> int | None:
    """The execution count ``N`` of ``In[N]`` for a notebook cell's code file name.

    ``None`` when ``filename`` is not a cell of the running kernel (a real file, or
    the kernel does not know it). IPython keeps the name -> count map that its own
    tracebacks use (``Cell In[3], line 4``); the latest run of an identical cell
    wins, as in IPython.
    """
    shell = _shell()
    names = getattr(getattr(shell, "compile", None), "_filename_map", None)
    if isinstance(names, dict):
        number = names.get(filename)
        if isinstance(number, int):
            return number
    match = _INPUT.match(filename)
    return int(match.group(1)) if match else None


def is_cell(filename: str) -> bool:
    """Whether ``filename`` names code compiled from a notebook or IPython cell."""
    return (
        cell_number(filename) is not None
        or _INPUT.match(filename) is not None
        or _KERNEL_CELL.search(filename) is not None
    )


def notebook_path(namespace: Mapping[str, Any] | None = None) -> str | None:
    """The path of the notebook the kernel runs, as its front end gave it, or ``None``.

    ``namespace`` is the user namespace (``__main__``'s by default). Only a name
    ending in ``.ipynb``, or naming an existing file (a Jupytext ``.py`` notebook),
    counts: a console's session name is not a notebook.
    """
    if namespace is None:
        main = sys.modules.get("__main__")
        namespace = vars(main) if main is not None else {}
    candidates = [namespace.get(key) for key in _NAMESPACE_KEYS]
    candidates.append(os.environ.get("JPY_SESSION_NAME"))
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            path = candidate.strip()
            if path.lower().endswith(".ipynb") or os.path.isfile(path):
                return path
    return None


def folder_name(path: str) -> str:
    """The first part of trial ids for a notebook's functions: ``analysis`` for
    ``work/analysis.ipynb``, as a script's module is named after its file."""
    stem = os.path.splitext(os.path.basename(path.replace("\\", "/").rstrip("/")))[0]
    return stem.strip() or "__main__"


def main_notebook(module: str | None) -> str | None:
    """The notebook path when code of ``module`` runs in a notebook kernel, else ``None``.

    Only ``__main__`` without a file (a kernel's user namespace; ``%run script.py``
    and scripts have ``__file__``) can be a notebook.
    """
    if module != "__main__":
        return None
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__file__", None):
        return None
    namespace = vars(main)
    if "get_ipython" not in namespace:  # not an IPython user namespace
        return None
    return notebook_path(namespace)


def cell_info(filename: str) -> dict[str, Any]:
    """What a ``source`` section adds for code from a cell: ``notebook``, ``cell``.

    ``notebook`` is the path as the kernel knows it (made relative to the git
    top-level by the caller); ``cell`` is ``N`` of ``In[N]``. Empty for code from a
    file.
    """
    if not is_cell(filename):
        return {}
    info: dict[str, Any] = {}
    main = sys.modules.get("__main__")
    path = notebook_path(vars(main)) if main is not None else None
    if path:
        info["notebook"] = path
    number = cell_number(filename)
    if number is not None:
        info["cell"] = number
    return info


def label_cells(te: traceback.TracebackException) -> None:
    """Name cell frames ``Cell In[N]`` in a traceback about to be formatted, as IPython does.

    A cell's file name (``/tmp/ipykernel_123/456.py``) means nothing once the kernel
    is gone; ``In[N]`` is what the notebook shows. The source lines are already read,
    so they stay. Chained exceptions are labelled too.
    """
    if "IPython" not in sys.modules:
        return
    try:
        _label_cells(te)
    except Exception as exc:  # a kernel we do not know: the file names stay, the record is kept
        logging.getLogger("votakvot").warning(
            "votakvot: could not name notebook cells in a traceback (%s: %s)",
            type(exc).__name__,
            exc,
        )


def _label_cells(te: traceback.TracebackException) -> None:
    seen: set[int] = set()
    stack: list[traceback.TracebackException | None] = [te]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        for frame in item.stack:
            number = cell_number(frame.filename)
            if number is not None:
                frame.filename = f"Cell In[{number}]"
        stack.extend((item.__cause__, item.__context__))
        stack.extend(getattr(item, "exceptions", None) or ())
