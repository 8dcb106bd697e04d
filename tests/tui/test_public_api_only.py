"""The dashboard stands on the library's public API, and its core on no Textual.

A fix to reading trials is made once, in the library: the dashboard imports no
``votakvot._*`` module and spells out no file name of a trial folder (they come
from ``votakvot.layout``). Its Textual-free core (``votakvot_tui.core``) imports
no Textual, so it is usable and testable without a terminal.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "votakvot_tui"
MODULES = sorted(PACKAGE.rglob("*.py"))
PENDING: set[str] = set()
"""Private imports still needed (none: a rerun links its trial with ``init(info=...)``)."""


def _imported(tree: ast.AST) -> list[str]:
    """Every module (and ``module.name``) imported, at the top or inside a function."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append(node.module)
            out.extend(f"{node.module}.{a.name}" for a in node.names)
    return out


def test_dashboard_imports_no_private_library_module() -> None:
    """Not one ``votakvot._x`` import (nor ``from votakvot import _x``) in the dashboard."""
    assert MODULES
    bad = []
    for path in MODULES:
        for module in _imported(ast.parse(path.read_text(), str(path))):
            parts = module.split(".")
            if parts[0] == "votakvot" and any(p.startswith("_") for p in parts[1:]):
                bad.append(f"{path.relative_to(PACKAGE.parent)}: {module}")
    assert [b for b in bad if b not in PENDING] == []


def test_dashboard_spells_out_no_record_file_name() -> None:
    """``votakvot.yaml`` comes from ``votakvot.layout.YAML_NAME``, never a string literal."""
    bad = []
    for path in MODULES:
        tree = ast.parse(path.read_text(), str(path))
        docstrings = {  # a bare string statement documents; it names the file in prose
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and "votakvot.yaml" in node.value
                and id(node) not in docstrings
            ):
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert bad == []


def test_dashboard_core_imports_no_textual() -> None:
    """Every module of ``votakvot_tui.core`` loads without Textual, Rich or plotext."""
    names = sorted(
        "votakvot_tui.core." + p.stem
        for p in (PACKAGE / "core").glob("*.py")
        if p.stem != "__init__"
    )
    assert names
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(','.join(m for m in ('textual', 'rich', 'plotext', 'textual_plotext')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
