"""``votakvot-ab``: call a Python callable many times, concurrently, measure it, and
store the run as a trial (see ``docs/ab.md``).

Modules: ``cli`` (the command), ``options`` (what a run is told: :class:`Options`,
used by the command line, the runner and the dashboard's form), ``target`` (finding
the callable), ``engines`` (the worker loops), ``histogram`` and ``stats`` (what is
measured), ``runner`` (one run from options to trial), ``record`` (the trial's
files), ``progress`` and ``render`` (what is printed), ``compare`` (``votakvot-ab
compare``).
"""

from __future__ import annotations

from .options import Options

__all__ = ["Options", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run ``votakvot-ab`` with ``argv``; returns the exit status (see ``cli.main``)."""
    from .cli import main as cli_main

    return cli_main(argv)
