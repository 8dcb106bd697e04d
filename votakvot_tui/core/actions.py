"""What the dashboard's actions do, apart from any screen: deleting, exporting, code.

Kept free of Textual so they are easy to test and to reuse from other screens.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from votakvot.layout import YAML_NAME
from votakvot.storage import open_storage

from .model import View, ViewSpec, display, is_query

__all__ = ["delete_trial_folders", "export_csv", "view_as_code"]


def delete_trial_folders(paths: Sequence[str]) -> dict[str, str]:
    """Remove trial folders for good; returns ``{path: reason}`` for those that failed.

    A folder is only removed if it holds a ``votakvot.yaml``: a stale path never
    makes us delete something that is not a trial.
    """
    failed: dict[str, str] = {}
    for path in paths:
        try:
            storage = open_storage(path)
            if storage.stamp(storage.join(storage.root, YAML_NAME)) is None:
                failed[path] = f"not a trial folder (no {YAML_NAME})"
                continue
            storage.remove_tree(storage.root)
        except OSError as exc:
            failed[path] = str(exc)
    return failed


def export_csv(view: View, target: str) -> int:
    """Write the view's rows and shown columns (raw values, not display text) to CSV."""
    import pandas

    frame = pandas.DataFrame.from_records(
        [{c: r.values.get(c) for c in view.columns} | {"path": r.path} for r in view.rows],
        columns=[*view.columns, "path"],
    )
    for column in ("started", "created", "finished"):
        if column in frame:
            frame[column] = pandas.to_datetime(frame[column], unit="s", utc=True)
    frame.to_csv(os.path.expanduser(target), index=False)
    return len(frame)


def view_as_code(paths: Sequence[str], spec: ViewSpec) -> str:
    """The pandas code that loads the same trials, filtered and sorted the same way.

    Example: ``votakvot.load_report('runs').query('lr > 0.1')``.
    """
    if len(paths) == 1:
        code = f"votakvot.load_report({paths[0]!r})"
    else:
        code = (
            f"pandas.concat([votakvot.load_report(p) for p in {list(paths)!r}], ignore_index=True)"
        )
    text = spec.text.strip()
    steps = []
    if text and is_query(text):
        steps.append(f".query({text!r})")
    if spec.sort is not None:
        column = "created" if spec.sort == "started" else spec.sort
        steps.append(f".sort_values({column!r}, ascending={not spec.reverse})")
    else:
        steps.append(f".sort_values('created', ascending={spec.reverse})")
    if text and not is_query(text):
        # A text filter has no query form: keep rows where any cell contains it.
        return (
            f"rep = {code}{''.join(steps)}\n"
            f"rep = rep[rep.astype(str).apply(lambda c: c.str.contains({text!r}, "
            "case=False, regex=False)).any(axis=1)]"
        )
    return code + "".join(steps)


def preview(value: object) -> str:
    """Short text of a value for side-by-side tables."""
    return display(value)
