"""The dashboard lists a trial of every value kind (docs/values.md) as ``done``, and
records earlier versions wrote with numpy pickles or refused tags as rows, not as
``unreadable`` (issue 12, part 1)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import yaml
from tui_helpers import loaded, rows
from value_kinds import KINDS, record_all

from votakvot.exceptions import UnreadableValueWarning
from votakvot_tui import make_app


def _old_record(root: Path, name: str, fields: str) -> None:
    folder = root / "old" / name
    folder.mkdir(parents=True)
    head = f"votakvot: 0.2.0\nid: {name}\ntid: old/{name}\nstate: done\n"
    (folder / "votakvot.yaml").write_text(head + fields)


async def test_every_value_kind_is_a_done_row(tmp_path: Path) -> None:
    """One trial per kind, plus an old numpy record and one with an os.system tag:
    every one is a ``done`` row whose values the table can show."""
    root = tmp_path / "results"
    tids = record_all(root)
    numpy_fields = yaml.dump({"params": {"lr": np.float32(0.25)}, "result": np.float64(1.5)})
    _old_record(root, "numpy", numpy_fields)
    system = "!!python/object/apply:os.system ['true']"
    _old_record(root, "tagged", f"params:\n  lr: 0.5\nresult: {system}\n")
    app = make_app([str(root)], watch=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreadableValueWarning)
        async with app.run_test() as pilot:
            shown = await loaded(pilot, len(KINDS) + 2)
    by_tid = {r.tid: r for r in shown}
    assert set(by_tid) == {*tids.values(), "old/numpy", "old/tagged"}
    assert {r.state for r in shown} == {"done"}, [(r.tid, r.values.get("error")) for r in shown]
    assert all(isinstance(r.text, str) for r in rows(app))  # every value can be displayed
    assert by_tid[tids["np_float64"]].values["result"] == 1.5
    assert by_tid[tids["enum"]].values["x"] == "RED"
    assert by_tid["old/numpy"].values["lr"] == 0.25
    assert by_tid["old/numpy"].values["result"] == 1.5
    assert by_tid["old/tagged"].values["lr"] == 0.5
    assert by_tid["old/tagged"].values["result._0"] == "true"  # the placeholder's fields
