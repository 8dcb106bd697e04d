"""Names of what a trial ran: the function's importable name and its folder in the root."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["default_prefix", "function_name", "module_name"]


def module_name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "__main__"
    if module in ("__main__", "__mp_main__"):  # __mp_main__: a spawned child's __main__
        main = sys.modules.get(module)
        spec = getattr(main, "__spec__", None)
        if spec is not None and spec.name:
            return spec.name.removesuffix(".__main__")
        file = getattr(main, "__file__", None)
        if file:
            return os.path.splitext(os.path.basename(file))[0]
    return module


def function_name(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of a function: how a later process can import it again."""
    return f"{module_name(fn)}.{getattr(fn, '__qualname__', getattr(fn, '__name__', 'call'))}"


def default_prefix(fn: Callable[..., Any]) -> str:
    """``{module}/{qualname}``; a notebook's functions go under the notebook's name.

    ``analysis/train`` for ``train`` defined in ``analysis.ipynb``, when the kernel
    knows its notebook (see :mod:`votakvot._notebook`); ``__main__/train`` when not.
    """
    qualname = str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "call"))
    qualname = qualname.replace("<locals>.", "").replace("<", "").replace(">", "")
    module = module_name(fn)
    if module == "__main__":
        from ._notebook import folder_name, main_notebook

        notebook = main_notebook(getattr(fn, "__module__", None) or "__main__")
        if notebook:
            module = folder_name(notebook)
    return f"{module}/{qualname}"
