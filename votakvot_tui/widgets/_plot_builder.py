"""A helper process that draws big plots: ``python -m votakvot_tui.widgets._plot_builder``.

Reads pickled ``(figure, width, height, theme, colours)`` requests from stdin and
answers each with the plot's screen lines, packed (``plot_canvas.build_in_process``).
plotext draws in pure Python, and so does Rich when it parses the ANSI text into
segments; in a thread of the app either held the GIL against the event loop (keys
took 350 ms while twelve series were drawn). Plain pipes rather than ``multiprocessing``, as
for the scan helper: nothing depends on how the app's own ``__main__`` was started.
"""

from __future__ import annotations

import pickle
import sys

__all__ = ["NICENESS", "main"]


NICENESS = 5
"""How much lower the helper's CPU priority is than the app's: on a busy machine the
app's event loop (keys) goes first and the plot comes a little later."""


def main() -> None:
    import os

    from votakvot_tui.widgets.plot_canvas import build_in_process

    if hasattr(os, "nice"):
        os.nice(NICENESS)

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            request = pickle.load(stdin)
        except EOFError:
            return
        pickle.dump(build_in_process(*request), stdout, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.flush()


if __name__ == "__main__":
    main()
