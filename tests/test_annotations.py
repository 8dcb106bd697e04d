"""Tags and notes added after the fact: the sidecar, ``Trial.tags``, report columns, the CLI."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

import votakvot
from votakvot import cli
from votakvot.annotations import Annotations, annotate, read_annotations
from votakvot.exceptions import TrialLoadError, UnreadableFileWarning
from votakvot.layout import ANNOTATIONS_NAME, YAML_NAME
from votakvot.testing import isolated


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Three done trials of one function, one of them informing a ``note``."""
    with isolated(str(tmp_path / "results")) as path:

        @votakvot.track("mod/exp")
        def exp(lr):
            if lr == 0.3:
                votakvot.inform(note="informed")
            return lr * 2

        for lr in (0.1, 0.2, 0.3):
            exp(lr)
    return Path(path)


def _tids(root: Path) -> list[str]:
    return list(votakvot.load_report(str(root))["tid"])


def test_annotate_by_tid_writes_only_the_sidecar(root: Path) -> None:
    """Tags are added once each in order, removed, the note replaced; the record is untouched."""
    tid = _tids(root)[0]
    folder = root / tid
    record = (folder / YAML_NAME).read_bytes()
    with isolated(str(root)):
        first = votakvot.annotate(tid, tags=["best", "lr-sweep"], note="  wins  ")
        again = votakvot.annotate(tid, tags="best", remove_tags=["lr-sweep", "never-had"])
    assert first == Annotations(("best", "lr-sweep"), "wins")
    assert again == Annotations(("best",), "wins")  # note=None keeps the note
    assert (folder / YAML_NAME).read_bytes() == record
    assert sorted(os.listdir(folder)) == sorted([YAML_NAME, ANNOTATIONS_NAME])  # no temp left
    cleared = annotate(str(folder), note="")
    assert cleared == Annotations(("best",), "")


def test_tags_and_note_read_back_with_the_trial(root: Path) -> None:
    """``Trial.tags``/``Trial.note`` come from the sidecar; an unannotated trial has none."""
    tid, other, _ = _tids(root)
    annotate(str(root / tid), tags=["best", "bad-seed"], note="line one\nline two")
    trials = votakvot.load_trials(str(root))
    assert trials[tid].tags == ["best", "bad-seed"]
    assert trials[tid].note == "line one\nline two"
    assert trials[other].tags == [] and trials[other].note == ""
    assert trials[tid].attached == []  # the sidecar is votakvot's own file
    assert read_annotations(trials[tid]).tags == ("best", "bad-seed")


def test_a_trial_object_passed_in_sees_the_new_values(root: Path) -> None:
    """``annotate(trial)`` updates what that Trial object reads, without reading again."""
    trial = next(iter(votakvot.load_trials(str(root)).values()))
    assert trial.tags == []
    annotate(trial, tags=["best"])
    assert trial.tags == ["best"]


def test_report_columns_only_when_annotated(root: Path) -> None:
    """``tags`` (comma-joined) and ``note`` follow the base columns; others read as ``""``."""
    before = votakvot.load_report(str(root))
    assert "tags" not in before.columns and "note" not in before.columns
    assert "info.note" in before.columns  # reserved name: an informed note never clashes
    tid = _tids(root)[1]
    annotate(str(root / tid), tags=["best", "bad-seed"], note="look")
    rep = votakvot.load_report(str(root))
    assert list(rep.columns[:6]) == ["tid", "state", "created", "duration", "tags", "note"]
    assert list(rep["tags"]) == ["", "best,bad-seed", ""]
    assert list(rep["note"]) == ["", "look", ""]
    assert list(rep["info.note"].fillna("")) == ["", "", "informed"]
    picked = votakvot.report.query(rep, 'tags.str.contains("best")')
    assert list(picked["tid"]) == [tid]


def test_unsafe_sidecar_is_skipped_with_a_warning_and_never_run(root: Path) -> None:
    """A sidecar asking to run code is refused (the command never runs); the trial stays."""
    tid = _tids(root)[0]
    proof = root / "ran"
    (root / tid / ANNOTATIONS_NAME).write_text(
        f"!!python/object/apply:os.system ['touch {proof}']\n"
    )
    with pytest.warns(UnreadableFileWarning, match=ANNOTATIONS_NAME):
        rep = votakvot.load_report(str(root))
    assert len(rep) == 3 and "tags" not in rep.columns
    with pytest.warns(UnreadableFileWarning, match="fix or delete"):
        assert votakvot.load_trials(str(root))[tid].tags == []
    assert not proof.exists()
    with pytest.raises(TrialLoadError, match="fix or delete the file"):
        annotate(str(root / tid), tags="best")  # never overwrite what it cannot read


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("[1, 2]\n", "expected a mapping"),
        ("tags: best\n", "'tags' must be a list"),
        ("tags: ['a,b']\n", "must not contain a comma"),
        ("tags: [x]\nnote: {a: 1}\n", "a note must be text"),
    ],
)
def test_malformed_sidecars_name_the_problem(root: Path, content: str, reason: str) -> None:
    """Each malformed sidecar is named with what is wrong; the trial is kept."""
    tid = _tids(root)[0]
    (root / tid / ANNOTATIONS_NAME).write_text(content)
    with pytest.raises(TrialLoadError, match=reason):
        read_annotations(str(root / tid))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(votakvot.load_report(str(root))) == 3
    assert any(reason in str(w.message) for w in caught)


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (["a,b"], "must not contain a comma"),
        ([""], "must not be empty"),
        (["two\nlines"], "one line"),
        ([3], "must be text"),
        (["x" * 65], "at most 64"),
    ],
)
def test_bad_tags_are_refused_before_writing(root: Path, tags: list, message: str) -> None:
    """A bad tag raises a ValueError naming it, and nothing is written."""
    folder = root / _tids(root)[0]
    with pytest.raises(ValueError, match=message):
        annotate(str(folder), tags=tags)
    assert not (folder / ANNOTATIONS_NAME).exists()


def test_no_such_trial(tmp_path: Path) -> None:
    """A folder without a record is no trial: nothing is written there."""
    (tmp_path / "x").mkdir()
    with pytest.raises(FileNotFoundError):
        annotate("x", tags="best", root=str(tmp_path))
    assert not (tmp_path / "x" / ANNOTATIONS_NAME).exists()


def test_fsspec_root() -> None:
    """On a ``memory://`` root the sidecar is written and read back through fsspec."""
    with isolated() as root:
        trial = votakvot.run("sweep/a", lambda: 1)
        done = votakvot.annotate("sweep/a", tags=["best"], note="remote")
        assert done.tags == ("best",)
        rep = votakvot.load_report(root)
        assert list(rep["tags"]) == ["best"] and list(rep["note"]) == ["remote"]
        assert votakvot.load_trials(root)["sweep/a"].tags == ["best"]
        assert trial.path.startswith("memory://")


def test_cli_tag_adds_removes_and_notes(root: Path, capsys) -> None:
    """``votakvot tag TID best -r bad-seed --note ...`` by tid under --root, then by path."""
    tid = _tids(root)[0]
    assert cli.main(["tag", tid, "--root", str(root), "bad-seed,x", "best"]) == cli.OK
    assert cli.main(["tag", str(root / tid), "-r", "bad-seed", "-r", "x", "--note", "n 1"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-3:] == [tid, "tags: best", "note: n 1"]
    assert read_annotations(str(root / tid)) == Annotations(("best",), "n 1")


def test_cli_tag_errors(root: Path, capsys) -> None:
    """Nothing to do and a bad tag are usage errors; an unknown trial cannot be read."""
    tid = _tids(root)[0]
    assert cli.main(["tag", str(root / tid)]) == cli.USAGE
    assert "nothing to do" in capsys.readouterr().err
    assert cli.main(["tag", str(root / tid), "two\nlines"]) == cli.USAGE
    assert "one line" in capsys.readouterr().err
    assert cli.main(["tag", "no/such", "--root", str(root), "best"]) == cli.UNREADABLE
    assert "no trial" in capsys.readouterr().err


def test_cli_show_names_tags_and_note(root: Path, capsys) -> None:
    """``votakvot show`` prefixes the record with its tags and note, as YAML comments."""
    folder = root / _tids(root)[0]
    annotate(str(folder), tags=["best", "x"], note="line one\nline two")
    assert cli.main(["show", str(folder)]) == cli.OK
    out = capsys.readouterr().out
    assert out.startswith("# tags: best, x\n# note: line one\n#       line two\nvotakvot:")
