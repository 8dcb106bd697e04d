"""Progress-bar redraws collapsed the way a terminal shows them.

tqdm and its kind redraw one line with ``\\r`` (and several lines with the ANSI
cursor-up ``ESC[A``) many times a second. A terminal shows only the last state
of each line; storing every redraw made ``output.log`` megabytes of bar
fragments. :class:`Screen` is a minimal terminal (``\\n``, ``\\r``, ``\\b``,
cursor up/down, erase line) that the capture writer feeds, so that it writes
the current state of the lines being redrawn at most about once a second, and
that readers use to show a file that still holds redraws (:func:`render`).

What the writer puts in the file is itself a terminal stream: finished lines,
and a redraw of the lines still changing that starts with ``\\r`` (plus
``ESC[nA`` to reach the first of several lines). ``cat`` or ``tail -f`` show it
as the terminal did; :func:`render` turns it into plain lines.
"""

from __future__ import annotations

import re

__all__ = ["KEEP_ROWS", "Screen", "has_redraws", "render"]

KEEP_ROWS = 16
"""Once the cursor moved up (multi-line bars), this many last lines stay redrawable."""

_TOKEN = re.compile(r"[\r\n\b]|\x1b\[(\d*)([ABK])|\x1b\[\?[\d;]*[hl]")
"""What moves the cursor or erases; ``ESC[?25l``-style mode switches are dropped."""
_MOVES = re.compile(r"\x1b\[(?:\d*[ABK]|\?[\d;]*[hl])")


def has_redraws(text: str) -> bool:
    """Whether ``text`` does more than append (a C-level scan: cheap)."""
    if "\r" in text or "\b" in text:
        return True
    return "\x1b[" in text and _MOVES.search(text) is not None


class Screen:
    """Rows of text and a cursor, as far as a stream of terminal output needs them.

    Args:
        keep: rows still reachable once the cursor moved up (``None``: all of them,
            for reading a whole file). Before any cursor-up, rows above the cursor's
            row are finished as soon as the cursor leaves them.
    """

    __slots__ = ("col", "keep", "moved_up", "row", "rows")

    def __init__(self, keep: int | None = KEEP_ROWS, line: str = "") -> None:
        self.rows: list[str] = [line]
        self.row = 0
        self.col = len(line)
        self.moved_up = False
        self.keep = keep

    def feed(self, text: str) -> list[str]:
        """Apply ``text``; returns the rows that can no longer change (oldest first)."""
        rows, row, col = self.rows, self.row, self.col
        pos = 0
        for match in _TOKEN.finditer(text):
            start = match.start()
            if start > pos:
                col = _put(rows, row, col, text[pos:start])
            pos = match.end()
            token = match.group()
            if token == "\n":
                row += 1
                col = 0
                if row == len(rows):
                    rows.append("")
            elif token == "\r":
                col = 0
            elif token == "\b":
                col = max(0, col - 1)
            elif match.group(2) == "A":
                row = max(0, row - int(match.group(1) or 1))
                self.moved_up = True
            elif match.group(2) == "B":
                row += int(match.group(1) or 1)
                rows.extend([""] * (row + 1 - len(rows)))
            elif match.group(2) == "K":
                line = rows[row]
                mode = match.group(1) or "0"
                if mode == "0":
                    rows[row] = line[:col]
                elif mode == "1":
                    rows[row] = " " * min(col + 1, len(line)) + line[col + 1 :]
                else:
                    rows[row] = ""
            # ESC[?25l and friends: no text, nothing to do
        if pos < len(text):
            col = _put(rows, row, col, text[pos:])
        if self.keep is None:
            cut = 0
        elif self.moved_up:
            cut = min(row, max(0, len(rows) - self.keep))
        else:
            cut = row
        done = rows[:cut]
        if cut:
            del rows[:cut]
        self.row, self.col = row - cut, col
        return done


def _put(rows: list[str], row: int, col: int, text: str) -> int:
    """Write ``text`` over row ``row`` from column ``col``; returns the new column."""
    line = rows[row]
    if col == len(line):
        rows[row] = line + text
    elif col > len(line):
        rows[row] = line + " " * (col - len(line)) + text
    else:
        rows[row] = line[:col] + text + line[col + len(text) :]
    return col + len(text)


def render(text: str) -> str:
    """``text`` as a terminal would show it: each redrawn line in its last state.

    Trailing blanks are dropped from the lines of a text with redraws: bars clear a line
    by writing spaces over it, which a terminal shows as nothing.
    """
    if not has_redraws(text):
        return text
    screen = Screen(keep=None)
    screen.feed(text)
    return "\n".join(row.rstrip(" ") for row in screen.rows)
