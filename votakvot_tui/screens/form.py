"""What the dashboard's forms (rerun, sweep, tags, launch ab) share: Tab keys that never
lose typing, reading a field as a Python literal with a message that says what is allowed,
and (:class:`TrialForm`) filling a form from a trial's record."""

from __future__ import annotations

import ast
import re
from typing import Any, ClassVar

from textual import events, on
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Button, Input, Static, TextArea

from votakvot.layout import YAML_NAME

from ..core.jobs import Job
from ..core.runs import check_importable
from .base import BaseModal

__all__ = [
    "EARLY_FOCUS_KEYS",
    "LITERAL_HELP",
    "EarlyKeys",
    "FormInput",
    "FormTextArea",
    "TrialForm",
    "import_problem",
    "literal_error",
    "read_literal",
]

EARLY_FOCUS_KEYS = [
    Binding("tab", "next_field", "Next field", show=False, priority=True),
    Binding("shift+tab", "previous_field", "Previous field", show=False, priority=True),
]
"""Tab and shift+Tab of an :class:`EarlyKeys` form, as *priority* bindings.

Textual forwards a key to the focused widget by queueing it there, and an ordinary
Tab binding only runs once the key comes back up from that widget: keys that
arrived in the same read from the terminal (a fast typist, a paste, a script) are
already queued in the old field by then, so ``fakeml.sleepy`` Tab ``ms=5`` became
``fakeml.sleepyms=5``. A priority binding moves the focus before the next key is
forwarded; a Tab typed before the fields are there waits its turn with the keys
typed before it.
"""


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

    Nothing has the focus until then (no ``AUTO_FOCUS``): a key sent to a focused
    button or select would press it, or bubble up to the screen behind a Tab that
    reached it first (the Tab is a priority binding, run before keys are handed on).
    """

    AUTO_FOCUS: ClassVar[str | None] = ""  # None would mean the app's ("*")
    _early_keys: list[tuple[str, str | None]] | None = None
    _fields_ready = False

    def _early(self) -> list[tuple[str, str | None]]:
        if self._early_keys is None:
            self._early_keys = []
        return self._early_keys

    def fields_ready(self, first: Input) -> None:
        """Focus the first field (at once, not after the queued keys) and type into the
        fields what was typed meanwhile."""
        self._focus_now(first)
        self._fields_ready = True
        keys, self._early_keys = self._early(), []
        for key, character in keys:
            self._press(key, character)

    def _focus_now(self, field: Widget | None) -> None:
        """Focus ``field`` and select its text now, as its Focus event would later: the
        keys typed next replace a prefilled value, and the late event leaves them be."""
        before = self.focused  # type: ignore[attr-defined]
        if field is not None and field is not before:
            self.set_focus(field)  # type: ignore[attr-defined]
        if isinstance(field, FormInput) and field is not before and field.select_on_focus:
            field.select_all()
            field.selected_early = True

    def _press(self, key: str, character: str | None) -> None:
        if key in ("tab", "shift+tab"):
            chain = self.focus_chain  # type: ignore[attr-defined]
            focused = self.focused  # type: ignore[attr-defined]
            if chain:
                step = 1 if key == "tab" else -1
                at = chain.index(focused) if focused in chain else -step
                self._focus_now(chain[(at + step) % len(chain)])
        else:
            focused = self.focused  # type: ignore[attr-defined]
            # Edited here and now, not posted: the keys stay in the order they came.
            if isinstance(focused, TextArea):  # a note: typed at its cursor
                if key == "backspace":
                    focused.action_delete_left()
                elif character:
                    focused.replace(character, *focused.selection)
                return
            if not isinstance(focused, Input):
                return
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

    selected_early = False
    """An :class:`EarlyKeys` form focused the field and selected its text itself, and
    typed into it since: the Focus event still to come must not select all again."""

    def _on_focus(self, event: events.Focus) -> None:
        # Runs before Input's handler, which selects all when select_on_focus is set.
        if self.selected_early and self.select_on_focus:
            self.select_on_focus = False
            self.call_later(setattr, self, "select_on_focus", True)
        self.selected_early = False

    async def _on_key(self, event: events.Key) -> None:
        _delete_in_turn(self, event)

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


class FormTextArea(TextArea):
    """A form's text box whose backspace and delete act in turn with the typing (see
    :class:`FormInput`) and are never done twice by an :class:`EarlyKeys` screen."""

    async def _on_key(self, event: events.Key) -> None:
        _delete_in_turn(self, event)


def _delete_in_turn(field: Input | TextArea, event: events.Key) -> None:
    """Backspace and delete done by the field that got the key, in turn with the typing.
    As a binding it runs once the key is back at the app, on whatever field has the
    focus by then: backspace typed before a quick Tab deleted in the next field."""
    setattr(event, FROM_FIELD, True)  # see EarlyKeys.on_key
    if event.key in ("backspace", "delete"):
        event.stop()
        event.prevent_default()
        if event.key == "backspace":
            field.action_delete_left()
        else:
            field.action_delete_right()


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


def import_problem(function: str, cwd: str) -> str | None:
    """Why ``function`` cannot run from ``cwd`` (it does not import in a fresh
    interpreter there), with what to do about it; ``None`` when it imports."""
    why = check_importable(function, cwd)
    if why is None:
        return None
    return (
        f"{function} is not importable from {cwd}: {why}. Run the dashboard from "
        "the folder the trial ran in, or install its package"
    )


class TrialForm(BaseModal[Job | None]):
    """A form filled from the record of the trial in ``path`` (rerun, sweep); dismisses
    with the job Run started, or ``None``.

    Rerun and sweep read the record, show its params as named fields and report
    problems the same way; only the fields and what Run starts differ. The ids
    ``#<PREFIX>-grid`` (the fields) and ``#<PREFIX>-error`` are the subclass's, and so
    are :meth:`_show_record`, :meth:`_check_record` and a ``#cancel`` button.

    Args:
        path: the source trial's folder.
    """

    PREFIX: ClassVar[str]
    """The form's id prefix: ``rerun`` or ``sweep``."""

    def __init__(self, path: str) -> None:
        super().__init__(classes="modal")
        self.path = path
        """The source trial."""
        self.record: dict[str, Any] | None = None
        """Its ``votakvot.yaml`` once read."""
        self.checked = False
        """The function imported fine in a fresh interpreter (or, for a rerun from a
        folder of someone else's, the user was shown what Run would import and call)."""

    def on_mount(self) -> None:
        self.load()

    def load(self) -> None:
        """Read the trial and check its function imports (in a subprocess, so in a
        worker: the form shows meanwhile)."""
        self.run_worker(
            self._load,
            name="load",
            group=self.PREFIX,
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def _load(self) -> None:
        read = self._read_record()
        if read is not None:
            self._check_record(*read)

    def _check_record(self, record: dict[str, Any], function: str) -> None:
        """In the worker: check the record names a function Run can start; then
        ``_ready`` (or the reason shown)."""
        raise NotImplementedError

    def _read_record(self) -> tuple[dict[str, Any], str] | None:
        """In the worker: read the trial, show its record; the record and its function,
        or ``None`` (the reason shown) when there is no record or it names no function."""
        from votakvot.trial import read_trial

        trial = read_trial(self.path)
        if trial is None:
            self.app.call_from_thread(self.show_error, f"{self.path} has no {YAML_NAME}")
            return None
        record = dict(trial.data)
        function = str(record.get("function") or "")
        self.app.call_from_thread(self._show_record, record)
        if not function:
            self.app.call_from_thread(
                self.show_error, f"{trial.tid} records no function: nothing to {self.PREFIX}"
            )
            return None
        return record, function

    def _show_record(self, record: dict[str, Any]) -> None:
        """Fill the form from the record (on the event loop)."""
        raise NotImplementedError

    def show_error(self, text: str) -> None:
        """Say what is wrong below the form."""
        self.query_one(f"#{self.PREFIX}-error", Static).update(text)

    def param_texts(self) -> dict[str, str]:
        """Param name -> the text in its field."""
        out = {}
        for field in self.query(f"#{self.PREFIX}-grid Input"):
            assert isinstance(field, Input)
            if field.name:
                out[field.name] = field.value
        return out

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close without running anything."""
        self.dismiss(None)
