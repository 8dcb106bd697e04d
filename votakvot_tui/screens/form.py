"""What the dashboard's forms (rerun, launch ab) share: Tab keys that never lose typing,
and reading a field as a Python literal with a message that says what is allowed."""

from __future__ import annotations

import ast
import re
from typing import Any

from textual import events
from textual.binding import Binding
from textual.widgets import Input

__all__ = [
    "EARLY_FOCUS_KEYS",
    "FOCUS_KEYS",
    "LITERAL_HELP",
    "EarlyKeys",
    "FormInput",
    "literal_error",
    "read_literal",
]

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
forwarded. A form deriving from :class:`EarlyKeys` uses :data:`EARLY_FOCUS_KEYS`.
"""

EARLY_FOCUS_KEYS = [
    Binding("tab", "next_field", "Next field", show=False, priority=True),
    Binding("shift+tab", "previous_field", "Previous field", show=False, priority=True),
]
""":data:`FOCUS_KEYS` of an :class:`EarlyKeys` form: a Tab typed before the fields are
there waits its turn with the keys typed before it."""


FROM_FIELD = "_votakvot_from_field"
"""Set on a key a form field received: a form screen leaves such a key alone."""


class EarlyKeys:
    """Keys typed before a form's first field has the focus go into it, in order.

    ``b`` then ``fakeml.sleepy`` typed at once: ``b`` pushes the form, and the next
    keys reach the form screen itself before its first field exists or has the
    focus; the screen used to ignore them. Here every key that reaches the screen
    (printable ones, backspace, Tab) is kept until :meth:`fields_ready` and then
    replayed in order; a printable key that reaches the screen while a field has
    the focus (it was sent to the screen before) goes to that field. Mixed into a
    ``Screen`` (listed before it in the bases).
    """

    _early_keys: list[tuple[str, str | None]] | None = None
    _fields_ready = False

    def _early(self) -> list[tuple[str, str | None]]:
        if self._early_keys is None:
            self._early_keys = []
        return self._early_keys

    def fields_ready(self, first: Input) -> None:
        """Focus the first field (at once, not after the queued keys) and type into the
        fields what was typed meanwhile."""
        self.set_focus(first)  # type: ignore[attr-defined]
        self._fields_ready = True
        keys, self._early_keys = self._early(), []
        for key, character in keys:
            self._press(key, character)

    def _press(self, key: str, character: str | None) -> None:
        if key == "tab":
            self.focus_next()  # type: ignore[attr-defined]
        elif key == "shift+tab":
            self.focus_previous()  # type: ignore[attr-defined]
        else:
            focused = self.focused  # type: ignore[attr-defined]
            if not isinstance(focused, Input):
                return
            # Edited here and now, not posted: the keys stay in the order they came.
            if key == "backspace":
                focused.action_delete_left()
            elif character:
                selection = focused.selection
                if selection.is_empty:
                    focused.insert_text_at_cursor(character)
                else:
                    focused.replace(character, *selection)

    def on_key(self, event: events.Key) -> None:
        key = event.key
        if not (event.is_printable or key in ("backspace", "tab", "shift+tab")):
            return
        if getattr(event, FROM_FIELD, False):
            return  # it came up from a field (backspace goes on to the field's binding)
        if not self._fields_ready:
            self._early().append((key, event.character))
        else:  # sent here before a field had the focus
            self._press(key, event.character)
        event.stop()
        event.prevent_default()

    def action_next_field(self) -> None:
        """Tab: the next field; before the fields are there, in turn with the keys
        typed before it (they wait in the screen's queue)."""
        if self._fields_ready:
            self.focus_next()  # type: ignore[attr-defined]
        else:
            self.post_message(events.Key("tab", "\t"))  # type: ignore[attr-defined]

    def action_previous_field(self) -> None:
        """Shift+Tab: the previous field (in turn, as for Tab)."""
        if self._fields_ready:
            self.focus_previous()  # type: ignore[attr-defined]
        else:
            self.post_message(events.Key("shift+tab", None))  # type: ignore[attr-defined]


class FormInput(Input):
    """A form field that keeps all of a paste.

    Textual's ``Input`` keeps only the first line of pasted text and drops the rest
    without a word (``x=1`` of ``x=1\ny=2``); here line breaks and tabs become spaces,
    so nothing pasted is lost and the field's check says if the result is wrong.
    """

    async def _on_key(self, event: events.Key) -> None:
        setattr(event, FROM_FIELD, True)  # see EarlyKeys.on_key
        # Deleting is done by the field that got the key, in turn with the typing. As a
        # binding it runs once the key is back at the app, on whatever field has the
        # focus by then: backspace typed before a quick Tab deleted in the next field.
        if event.key in ("backspace", "delete"):
            event.stop()
            event.prevent_default()
            if event.key == "backspace":
                self.action_delete_left()
            else:
                self.action_delete_right()

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
