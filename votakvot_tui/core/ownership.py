"""Whose trial folder this is, before the dashboard runs the code its record names.

Rerun and resume import the module named in a trial's record and call its function,
from the folder the record says the trial ran in. Whoever can write the folder
chooses all three: when the folder is not the user's own, the forms say so and
show exactly what would be imported and called before anything runs. Free of
Textual, so the check is tested on its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from votakvot.layout import YAML_NAME
from votakvot.storage import is_local, split_protocol

__all__ = ["ForeignCode", "foreign_code", "foreign_trial_code"]


@dataclass(frozen=True)
class ForeignCode:
    """The code a rerun or resume of someone else's trial folder would run."""

    folder: str
    """The trial folder."""
    owner: str
    """Its owner: a user name, or ``uid N`` when the name is unknown."""
    module: str
    """The module that would be imported (the record's function without its last name)."""
    function: str
    """The function or class that would be called, as the record names it."""
    cwd: str
    """The folder it would be imported from (the record's ``meta.system.cwd`` if present)."""

    def text(self, action: str) -> str:
        """What the form shows above its buttons; ``action`` is ``"rerun"`` or ``"resume"``."""
        return (
            f"This trial folder belongs to {self.owner}, not to you. To {action} it, the "
            f"dashboard imports module {self.module} from {self.cwd} and calls "
            f"{self.function} as you. Whoever can write this folder chose them: go on only "
            "if you trust its owner."
        )


def _owner_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"


def foreign_code(
    folder: str, record: Mapping[str, Any], cwd: str | None = None
) -> ForeignCode | None:
    """What rerunning or resuming ``folder`` would run, when the folder (or its record)
    is not owned by the current user; ``None`` when it is, or when the owner cannot be
    known (a remote store, or a system without user ids).

    Args:
        folder: the trial folder.
        record: its parsed ``votakvot.yaml``.
        cwd: where the code would be imported from (default: the current folder).
    """
    if not is_local(folder) or not hasattr(os, "getuid"):
        return None
    local = split_protocol(folder)[1]
    me = os.getuid()
    owners = []
    for path in (local, os.path.join(local, YAML_NAME)):
        try:
            owners.append(os.stat(path).st_uid)
        except OSError:
            continue  # gone meanwhile: the form says so when it reads it
    strangers = [uid for uid in owners if uid != me]
    if not strangers:
        return None
    function = str(record.get("function") or "?")
    module = function.rpartition(".")[0] or function
    return ForeignCode(
        folder=folder,
        owner=_owner_name(strangers[0]),
        module=module,
        function=function,
        cwd=cwd or os.getcwd(),
    )


def foreign_trial_code(folder: str) -> ForeignCode | None:
    """:func:`foreign_code` of the trial in ``folder``, reading its record (blocking: call
    from a thread). ``None`` also when there is no readable record: the resume that
    follows says why it cannot go on, without running anything."""
    if not is_local(folder):
        return None
    from votakvot.trial import read_trial

    from .runs import trial_cwd

    try:
        trial = read_trial(folder)
    except Exception:
        return None  # unreadable: start_resume reports it and runs nothing
    if trial is None:
        return None
    return foreign_code(folder, trial.data, trial_cwd(trial.data))
