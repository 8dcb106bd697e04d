"""``init(info=...)``: fields recorded under ``info`` of every top-level trial."""

from __future__ import annotations

import votakvot


def test_init_info_reaches_top_level_trials_only(tmp_path):
    """Top-level trials get the fields (their own ``inform`` adds to them); a nested
    trial names its parent instead and does not repeat them."""
    votakvot.init(path=str(tmp_path), info={"batch": "b1", "rerun_of": "x/1"})

    @votakvot.track()
    def inner():
        return 1

    @votakvot.track()
    def outer():
        votakvot.inform(note="mine")
        return inner()

    outer()
    trials = {
        t.data["function"].rsplit(".", 1)[1]: t
        for t in votakvot.load_trials(str(tmp_path)).values()
    }
    assert trials["outer"].info == {"batch": "b1", "rerun_of": "x/1", "note": "mine"}
    assert "batch" not in trials["inner"].info
    assert trials["inner"].data["parent"] == trials["outer"].tid
    votakvot.init(path=str(tmp_path))  # later trials of this process: no fields
