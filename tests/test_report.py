"""Reading many trials back: load_report, load_trials, find_trial_dirs, trial_row."""

from __future__ import annotations

import collections
import dataclasses
import os
import shutil
import warnings
from pathlib import Path

import pandas
import pytest

import votakvot
from votakvot import report
from votakvot.exceptions import MissingDependencyError, TrialLoadError
from votakvot.report import SkippedTrialWarning, find_trial_dirs, load_report, load_trials
from votakvot.testing import isolated

Point = collections.namedtuple("Point", "x y")


@dataclasses.dataclass
class Score:
    accuracy: float
    loss: float


@pytest.fixture
def root(tmp_path: Path):
    """A local root with trials of two functions; settings restored afterwards."""
    with isolated(str(tmp_path / "results")) as path:

        @votakvot.track("mod/experiment")
        def experiment(one, two, three="x"):
            votakvot.inform(note=f"n{one}")
            return one + two

        @votakvot.track("mod/other")
        def other(state, one):
            votakvot.inform(one="informed", tid="bad")
            return {"x": one, "y": {"z": 2}}

        for i in range(3):
            experiment(i, 0.5)
        other("s", 7)
        yield Path(path)


def move_to(trial_dir: str, root: Path, day: str, hour: str) -> None:
    """Move a trial into another date/time folder, as if it ran then."""
    parts = Path(trial_dir).relative_to(root).parts
    target = root.joinpath(parts[0], parts[1], day, hour, parts[-1])
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(trial_dir, target)


def test_report_has_base_columns_then_bare_params_info_and_result(root: Path) -> None:
    """Columns: tid, state, created, duration, params and info bare, result; integer index.

    ``note`` is reserved for annotations (``votakvot.annotate``): an informed one is ``info.note``.
    """
    rep = load_report(str(root / "mod" / "experiment"))
    assert list(rep.columns) == ["tid", "state", "created", "duration", "one", "two", "three",
                                 "info.note", "result"]
    assert list(rep.index) == [0, 1, 2]
    assert rep.loc[0]["tid"].startswith("mod/experiment/")
    assert list(rep["one"]) == [0, 1, 2]
    assert list(rep["result"]) == [0.5, 1.5, 2.5]
    assert set(rep["state"]) == {"done"}
    assert rep["created"].dtype.kind == "M"
    assert (rep["duration"] >= 0).all()


def test_report_is_oldest_first(root: Path) -> None:
    """Rows come in the order the calls were made."""
    rep = load_report(str(root))
    assert rep["created"].is_monotonic_increasing


def test_clashing_names_follow_the_documented_rule(root: Path) -> None:
    """A param named like a base column, or info named like a param, gets a prefix."""
    rep = load_report(str(root / "mod" / "other"))
    row = rep.loc[0]
    assert row["state"] == "done"
    assert row["params.state"] == "s"
    assert row["one"] == 7
    assert row["info.one"] == "informed"
    assert row["info.tid"] == "bad"
    assert row["result.x"] == 7
    assert row["result.y.z"] == 2


def test_full_adds_ids_timestamps_path_and_meta(root: Path) -> None:
    """full=True adds id, function, parent, every timestamp, path, error and meta.*."""
    rep = load_report(str(root), full=True)
    for column in report.FULL_COLUMNS:
        assert column in rep.columns
    assert any(c.startswith("meta.python.") for c in rep.columns)
    assert (rep["started"] >= rep["created"]).all()
    assert (rep["finished"] >= rep["started"]).all()
    assert all(os.path.isdir(p) for p in rep["path"])
    trials = load_trials(str(root))
    assert set(rep["id"]) == {t.id for t in trials.values()}


def test_readme_paths_globs_and_concat(root: Path) -> None:
    """The README's ways of choosing trials: a folder, a function, a day, an hour, **."""
    dirs = find_trial_dirs(str(root / "mod" / "experiment"))
    move_to(dirs[0], root, "21-05-20", "15:01:02")
    move_to(dirs[1], root, "21-05-20", "16:00:00")
    move_to(dirs[2], root, "21-05-21", "15:30:00")
    assert len(load_report(str(root))) == 4
    assert len(load_report(f"{root}/mod/experiment")) == 3
    assert len(load_report(f"{root}/**/21-05-20")) == 2
    assert len(load_report(f"{root}/**/21-05-20/15:*")) == 1
    assert len(load_report(f"{root}/*/*/21-05-2?")) == 3
    assert len(load_report(f"{root}/**/21-05-2[01]/**")) == 3
    assert len(load_report(f"{root}/**/votakvot.yaml")) == 4
    df = pandas.concat(
        load_report(f"{root}/**/{day}/**") for day in ["21-05-20", "21-05-21", "21-05-22"]
    )
    assert len(df) == 3


def test_default_path_is_the_init_root(root: Path) -> None:
    """With no path, reports read the root given to votakvot.init."""
    assert len(load_report()) == 4
    assert len(load_trials()) == 4


def test_nothing_found_gives_empty_frames_that_concat(tmp_path: Path) -> None:
    """No trials: an empty DataFrame with the base (or full) columns, never None."""
    empty = load_report(str(tmp_path / "missing"))
    assert list(empty.columns) == list(report.BASE_COLUMNS)
    assert empty.empty
    full = load_report(str(tmp_path), full=True)
    assert list(full.columns) == [*report.BASE_COLUMNS, *report.FULL_COLUMNS]
    assert len(pandas.concat([empty, full])) == 0
    assert load_trials(str(tmp_path)) == {}


def test_load_trials_gives_attribute_access(root: Path) -> None:
    """The README's load_trials example: ids, raw data, git info through attributes."""
    vs = load_trials(str(root))
    assert len(vs) == 4
    trial = next(v for v in vs.values() if v.tid.startswith("mod/other"))
    assert trial.params.state == "s"
    assert trial.result.y.z == 2
    assert trial.data["info"]["one"] == "informed"
    assert trial.meta.python.version
    assert [v.meta.system.node for v in vs.values()]
    assert set(vs) == {v.tid for v in vs.values()}


def test_tagged_results_show_their_fields(tmp_path: Path) -> None:
    """Namedtuples and dataclasses in results and params load as their fields, nothing run."""
    with isolated(str(tmp_path)):

        @votakvot.track("m/f")
        def f(p):
            return Score(0.9, 0.1)

        f(Point(1, 2))
    rep = load_report(str(tmp_path))
    assert rep.loc[0]["result.accuracy"] == 0.9
    assert rep.loc[0]["p.x"] == 1
    trial = next(iter(load_trials(str(tmp_path)).values()))
    assert trial.result.loss == 0.1


def test_failed_trials_have_error_columns(tmp_path: Path) -> None:
    """A failed call is a row with state failed and, with full=True, its error."""
    with isolated(str(tmp_path)):

        @votakvot.track("m/boom")
        def boom():
            raise ValueError("no luck")

        with pytest.raises(ValueError):
            boom()
    rep = load_report(str(tmp_path), full=True)
    assert rep.loc[0]["state"] == "failed"
    assert rep.loc[0]["error.type"] == "ValueError"
    assert rep.loc[0]["error.message"] == "no luck"
    assert "result" not in rep.columns


BAD_FILES = {
    "empty": (b"", "the file is empty"),
    "not-utf8": (b"tid: \xff\n", "not UTF-8"),
    "not-yaml": (b"tid: [1\n", "not valid YAML"),
    "truncated": (b"votakvot: 0.2.0\nid: x\ntid: a/b\nstate: done\nat:\n", "cut short"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_folders_are_skipped_with_one_warning(root: Path, kind: str) -> None:
    """Each unreadable folder costs one warning naming its file and reason; others load."""
    content, reason = BAD_FILES[kind]
    bad = root / "bad" / kind
    bad.mkdir(parents=True)
    (bad / "votakvot.yaml").write_bytes(content)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = load_report(str(root))
    skipped = [w for w in caught if issubclass(w.category, SkippedTrialWarning)]
    assert len(skipped) == 1
    assert str(bad / "votakvot.yaml") in str(skipped[0].message)
    assert reason in str(skipped[0].message)
    assert len(rep) == 4
    with pytest.raises(TrialLoadError, match=reason):
        load_report(str(root), safe=False)
    with pytest.raises(TrialLoadError):
        load_trials(str(root), safe=False)


def test_fifo_record_is_skipped_not_waited_on(root: Path) -> None:
    """A votakvot.yaml that is a FIFO would block a reader forever: it is skipped."""
    bad = root / "bad"
    bad.mkdir()
    os.mkfifo(bad / "votakvot.yaml")
    with pytest.warns(SkippedTrialWarning, match="not a regular file"):
        assert len(load_report(str(root))) == 4


def test_walk_skips_hidden_and_finds_nested_trials(root: Path) -> None:
    """Hidden folders (.git, .venv) are not walked; a trial below another trial is found."""
    one = find_trial_dirs(str(root))[0]
    shutil.copytree(one, root / ".hidden" / "copy")
    shutil.copytree(one, Path(one) / "child")
    (root / "loop").symlink_to(root)
    (root / "empty" / "leaf").mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = find_trial_dirs(str(root))
    assert len(found) == 5
    assert str(Path(one) / "child") in found
    assert found == sorted(found)
    with pytest.warns(SkippedTrialWarning, match="two trial folders record tid"):
        assert len(load_trials(str(root))) == 4


def test_a_trial_folder_itself_can_be_the_path(root: Path) -> None:
    """The path may be a trial folder or its votakvot.yaml."""
    one = find_trial_dirs(str(root))[0]
    assert find_trial_dirs(one) == [one]
    assert find_trial_dirs(os.path.join(one, "votakvot.yaml")) == [one]
    assert len(load_report(one)) == 1


def test_trial_row_matches_the_report(root: Path) -> None:
    """trial_row builds exactly the cells load_report shows, without pandas."""
    rep = load_report(str(root), full=True)
    for path in find_trial_dirs(str(root)):
        trial = votakvot.trial.read_trial(path)
        row = report.trial_row(trial, full=True)
        line = rep[rep["tid"] == trial.tid].iloc[0]
        for name, value in row.items():
            if name in ("created", "started", "finished"):
                assert pandas.Timestamp(value) == line[name]
            elif value is None:
                assert pandas.isna(line[name])
            else:
                assert line[name] == value, name


def test_file_urls_and_relative_paths(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """file:// URLs and paths relative to the current folder read the same trials."""
    assert len(load_report(f"file://{root}")) == 4
    monkeypatch.chdir(root.parent)
    assert len(load_report(root.name)) == 4
    assert len(load_report(f"{root.name}/**/experiment")) == 3


def test_missing_backend_names_the_package() -> None:
    """A protocol whose fsspec package is not installed says what to pip install."""
    pytest.importorskip("fsspec")
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("gcsfs is installed")
    with pytest.raises(MissingDependencyError, match="pip install gcsfs"):
        load_report("gs://bucket/results")


def test_query_accepts_dotted_names(root: Path) -> None:
    """report.query lets `result.x > 3` name dotted columns without backticks."""
    rep = load_report(str(root))
    assert len(report.query(rep, "result.x > 3 and one == 7")) == 1
    assert len(report.query(rep, "result > 1 and state == 'done'")) == 2


def test_forked_half_gives_the_same_report(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading half of a big report in a forked child changes nothing in the result."""
    from votakvot import _fork

    bad = root / "bad"
    bad.mkdir()
    (bad / "votakvot.yaml").write_text("tid: [\n")
    with pytest.warns(SkippedTrialWarning):
        sequential = load_report(str(root), full=True)
    monkeypatch.setattr(report, "PARALLEL_MIN", 1)
    monkeypatch.setattr(_fork, "can_fork", lambda: True)
    forks = []
    real = _fork.ForkedCall.__init__

    def counting(self, *args):
        forks.append(1)
        real(self, *args)

    monkeypatch.setattr(_fork.ForkedCall, "__init__", counting)
    with pytest.warns(SkippedTrialWarning, match="not valid YAML"):
        forked = load_report(str(root), full=True)
    assert forks == [1]
    pandas.testing.assert_frame_equal(forked, sequential)
    with pytest.raises(TrialLoadError):
        load_report(str(root), safe=False)


def test_forked_child_failure_falls_back_to_the_parent() -> None:
    """If the helper process cannot deliver, the parent computes the result itself."""
    from votakvot._fork import ForkedCall

    assert ForkedCall(sorted, [3, 1, 2]).result() == [1, 2, 3]
    assert ForkedCall(lambda: (lambda: 1)).result()() == 1  # unpicklable: done in the parent
