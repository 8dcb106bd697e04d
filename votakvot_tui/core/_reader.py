"""A helper process for big scans: ``python -m votakvot_tui.core._reader``.

Reads pickled lists of trial folders from stdin and answers each with the pickled
``(records, widths)`` of :func:`votakvot_tui.core.model.read_and_measure`. Parsing is
pure Python; in a thread it would share one core with the interface and fight it
for the GIL, in helper processes it uses every core. Plain pipes rather than
``multiprocessing``: nothing depends on how the app's own ``__main__`` was started.
"""

from __future__ import annotations

import pickle
import sys

__all__ = ["main"]


def main() -> None:
    from votakvot_tui.core.model import read_and_measure

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            paths = pickle.load(stdin)
        except EOFError:
            return
        pickle.dump(read_and_measure(paths), stdout, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.flush()


if __name__ == "__main__":
    main()
