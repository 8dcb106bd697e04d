"""One trial read back: attributes, results and errors, files, and liveness."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import votakvot
from votakvot.exceptions import TrialFailedError, TrialLoadError
from votakvot.testing import isolated
from votakvot.trial import STALE_AFTER, Trial, read_trial


def make(tmp_path: Path, fn, *args, **kwargs) -> Trial:
    """Run ``fn`` as a tracked call under ``tmp_path`` and read its trial back."""
    with isolated(str(tmp_path)):
        tracked = votakvot.track("m/f")(fn)
        try:
            tracked(*args, **kwargs)
        except Exception:
            pass  # the failure is what some tests read back
    (trial,) = votakvot.load_trials(str(tmp_path)).values()
    return trial


def test_fields_are_attributes_all_the_way_down(tmp_path: Path) -> None:
    """tid, id, params, info, meta, at are reachable as attributes and in data."""

    def f(one, two):
        votakvot.inform(extra={"deep": [1, 2]})
        return {"sum": one + two}

    trial = make(tmp_path, f, 1, two=2)
    assert trial.tid.startswith("m/f/")
    assert trial.id and trial.id == trial.data["id"]
    assert trial.params.one == 1
    assert trial.info.extra.deep == [1, 2]
    assert trial.result.sum == 3
    assert trial.at.created == trial.created
    assert trial.duration >= 0
    assert trial.meta.python.implementation
    assert trial.state == trial.recorded_state == "done"
    assert repr(trial) == f"<Trial {trial.tid!r} done>"
    with pytest.raises(AttributeError, match="no field 'nope'"):
        trial.nope  # noqa: B018
    with pytest.raises(AttributeError, match="fields: one, two"):
        trial.params.three  # noqa: B018


def test_result_of_a_failed_trial_raises_with_recorded_traceback(tmp_path: Path) -> None:
    """Trial.result re-raises what was recorded: type, message and traceback text."""

    def f():
        raise KeyError("missing thing")

    trial = make(tmp_path, f)
    assert trial.state == "failed"
    with pytest.raises(TrialFailedError) as info:
        trial.result  # noqa: B018
    assert info.value.error_type == "KeyError"
    assert "missing thing" in info.value.error_message
    assert "raise KeyError" in info.value.traceback


def test_attached_files_are_listed_and_readable(tmp_path: Path) -> None:
    """attached lists user files (own files left out); attach opens one for reading."""

    def f():
        with votakvot.attach("notes.txt") as out:
            out.write("hello")
        with votakvot.attach("plots/a.bin", "wb") as out:
            out.write(b"\x00\x01")
        votakvot.meter(loss=1)

    trial = make(tmp_path, f)
    assert trial.attached == ["notes.txt", "plots/a.bin"]
    with trial.attach("notes.txt", "r") as fh:
        assert fh.read() == "hello"
    with trial.attach("plots/a.bin") as fh:
        assert fh.read() == b"\x00\x01"
    with pytest.raises(ValueError):
        trial.attach("../escape")


def write_running(folder: Path, started: float, beat: str | None) -> Trial:
    """A hand-made running trial started at ``started`` with an optional heartbeat file."""
    import datetime

    folder.mkdir(parents=True, exist_ok=True)
    when = datetime.datetime.fromtimestamp(started).astimezone()
    (folder / "votakvot.yaml").write_text(
        f"tid: r/1\nstate: running\nat:\n  created: {when.isoformat(' ')}\n"
        f"  started: {when.isoformat(' ')}\n"
    )
    if beat is not None:
        (folder / "votakvot.heartbeat").write_text(beat)
    trial = read_trial(str(folder))
    assert trial is not None
    return trial


def test_running_trial_with_fresh_heartbeat_is_running(tmp_path: Path) -> None:
    """A heartbeat newer than the threshold keeps a running trial running."""
    now = time.time()
    trial = write_running(tmp_path / "t", now - 3600, f"{now - 2:.3f} 5\n")
    assert trial.state == "running"
    assert trial.heartbeat is not None
    assert abs(trial.heartbeat.timestamp() - (now - 2)) < 0.01
    assert trial.liveness() == (pytest.approx(now - 2, abs=0.01), 5.0)


def test_silent_running_trial_is_stale(tmp_path: Path) -> None:
    """No beat for longer than max(3 intervals, 15 s) makes a running trial stale."""
    now = time.time()
    trial = write_running(tmp_path / "t", now - 3600, f"{now - 31:.3f} 10\n")
    assert trial.state == "stale"
    assert trial.recorded_state == "running"
    assert not trial.is_stale(now=now - 5)  # 26 s of silence < 3 x 10 s
    assert trial.is_stale(now=now)


def test_short_intervals_still_wait_the_minimum(tmp_path: Path) -> None:
    """With a 1 s interval a trial is stale only after STALE_AFTER seconds."""
    now = time.time()
    trial = write_running(tmp_path / "t", now - 3600, f"{now - 5:.3f} 1\n")
    assert trial.state == "running"
    assert trial.is_stale(now=now + STALE_AFTER)


def test_without_heartbeat_the_start_time_counts(tmp_path: Path) -> None:
    """A trial that never beat is judged from at.started; a garbled file is ignored."""
    now = time.time()
    assert write_running(tmp_path / "a", now - 2, None).state == "running"
    old = write_running(tmp_path / "b", now - 60, None)
    assert old.state == "stale"
    assert old.heartbeat is None
    assert write_running(tmp_path / "c", now - 60, "garbage").state == "stale"


def test_finished_trials_are_never_stale(tmp_path: Path) -> None:
    """Only running trials can be stale, whatever their heartbeat says."""
    trial = make(tmp_path, lambda: 1)
    Path(trial.path, "votakvot.heartbeat").write_text("1 5\n")
    assert trial.state == "done"


def test_read_trial_of_missing_folder_is_none(tmp_path: Path) -> None:
    """A folder without votakvot.yaml is not a trial: None, not an error."""
    assert read_trial(str(tmp_path)) is None
    assert read_trial(str(tmp_path / "nope")) is None


def test_read_trial_error_names_the_file(tmp_path: Path) -> None:
    """An unreadable record raises TrialLoadError with the file's path."""
    (tmp_path / "votakvot.yaml").write_text("tid: [\n")
    with pytest.raises(TrialLoadError) as info:
        read_trial(str(tmp_path))
    assert info.value.path == str(tmp_path / "votakvot.yaml")


def test_output_and_logs_delegate_to_capture(tmp_path: Path, monkeypatch) -> None:
    """Trial.output and Trial.logs are read by votakvot.capture."""
    from votakvot import capture

    trial = make(tmp_path, lambda: 1)
    monkeypatch.setattr(capture, "read_output", lambda t: f"out of {t.tid}")
    monkeypatch.setattr(capture, "read_logs", lambda t: ["log"])
    assert trial.output == f"out of {trial.tid}"
    assert trial.logs == ["log"]


def test_read_trial_refuses_a_record_that_is_not_a_regular_file(tmp_path) -> None:
    """A FIFO named votakvot.yaml would block a reader forever: it is refused at once."""
    import os

    import pytest

    from votakvot import TrialLoadError
    from votakvot.trial import read_trial

    os.mkfifo(tmp_path / "votakvot.yaml")
    with pytest.raises(TrialLoadError, match="not a regular file"):
        read_trial(str(tmp_path))
