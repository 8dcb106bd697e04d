"""What the dashboard's forms (rerun, launch ab) share: Tab keys that never lose typing,
and reading a field as a Python literal with a message that says what is allowed."""

from __future__ import annotations

import ast
import re
from typing import Any

from textual import events
from textual.binding import Binding
from textual.widgets import Input

__all__ = ["FOCUS_KEYS", "LITERAL_HELP", "FormInput", "literal_error", "read_literal"]

FOCUS_KEYS = [
    Binding("tab", "app.focus_next", "Next field", show=False, priority=True),
    Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True),
]
"""Tab and shift+Tab as *priority* bindings of a form.

Textual forwards a key to the focused widget by queueing it there, and an ordinary
Tab binding only runs once the key comes back up from that widget: keys that
arrived in the same read from the terminal (a fast typist, a paste, a script) are
already queued in the old field by then, so ``fakeml.sleepy`` Tab ``ms=5`` became
``fakeml.sleepyms=5``. A priority binding moves the focus before the next key is
forwarded.
"""


class FormInput(Input):
    """A form field that keeps all of a paste.

    Textual's ``Input`` keeps only the first line of pasted text and drops the rest
    without a word (``x=1`` of ``x=1\ny=2``); here line breaks and tabs become spaces,
    so nothing pasted is lost and the field's check says if the result is wrong.
    """

    def _on_paste(self, event: events.Paste) -> None:
        # Textual runs the handler of every class on the way up: Input's must not run.
        event.prevent_default()
        event.stop()
        text = re.sub(r"[\r\n\t]+", " ", event.text).strip()
        if not text:
            return
        if self.selection.is_empty:
            self.insert_text_at_cursor(text)
        else:
            self.replace(text, *self.selection)


LITERAL_HELP = "a Python literal: 3, 0.1, 'text', True, None, [1, 2], {'a': 1}"
"""What a param field accepts, for messages."""


def read_literal(text: str) -> Any:
    """The value a field holds: ``ast.literal_eval`` of its text (nothing is ever run).

    Raises:
        ValueError: the text is empty or not a literal; the message says what is allowed.
    """
    problem = literal_error(text)
    if problem:
        raise ValueError(problem)
    return ast.literal_eval(text.strip())


def literal_error(text: str) -> str:
    """Why ``text`` is not a Python literal ("" when it is one)."""
    stripped = text.strip()
    if not stripped:
        return f"empty: type {LITERAL_HELP}"
    try:
        ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        if not stripped.startswith(("[", "{", "(", "'", '"')):
            return f"not a literal: quote text ({stripped!r}) or type {LITERAL_HELP}"
        return f"not a literal: type {LITERAL_HELP}"
    return ""
