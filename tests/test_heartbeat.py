"""Heartbeats: a running trial (tracked or resumable) keeps ``votakvot.heartbeat`` fresh, so a
reader can tell it from one whose process died; resuming relies on the same rule."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

import votakvot
from votakvot import _active
from votakvot import layout as _layout
from votakvot._config import get_config, set_config
from votakvot.trial import read_trial

INTERVAL = 0.05


@pytest.fixture
def root(tmp_path: Path):
    """A fresh root with heartbeats every 50 ms; the previous settings come back after."""
    previous = get_config()
    votakvot.init(
        str(tmp_path / "results"),
        capture="none",
        heartbeat_interval=INTERVAL,
        flush_interval=INTERVAL / 2,
    )
    yield tmp_path / "results"
    set_config(previous)


def read_beat(folder: Path) -> tuple[float, float] | None:
    try:
        text = (folder / _layout.HEARTBEAT_NAME).read_text()
    except FileNotFoundError:
        return None
    beat, interval = text.split()
    return float(beat), float(interval)


def wait_for_beats(folder: Path, count: int) -> list[float]:
    """The first ``count`` distinct heartbeat times seen in ``folder`` (60 s at most)."""
    seen: list[float] = []
    deadline = time.monotonic() + 60
    while len(seen) < count:
        assert time.monotonic() < deadline, f"saw only {len(seen)} heartbeats in {folder}"
        beat = read_beat(folder)
        if beat is not None and (not seen or beat[0] != seen[-1]):
            assert beat[1] == INTERVAL
            seen.append(beat[0])
        time.sleep(INTERVAL / 5)
    return seen


@votakvot.track()
def waits_for_beats(count: int) -> list[float]:
    return wait_for_beats(Path(_active.current().path), count)


def test_running_tracked_trial_refreshes_its_heartbeat(root: Path) -> None:
    """While a tracked call runs, its heartbeat file is rewritten with later times and the
    interval, so a reader sees the trial alive."""
    beats = waits_for_beats(3)
    assert beats == sorted(beats) and len(set(beats)) == 3


class beating(votakvot.resumable_fn):
    """A resumable task that watches its own heartbeat for a few beats."""

    def init(self) -> None:
        self.beats: list[float] = []

    def loop(self):
        self.beats = wait_for_beats(Path(_active.current().path), 2)
        return self.beats


def test_resumable_trial_beats_too(root: Path) -> None:
    """A resumable trial is kept alive by the same heartbeat."""
    trial = votakvot.run("beating", beating)
    assert len(trial.result) == 2


def test_reader_sees_a_dead_running_trial_as_stale(root: Path) -> None:
    """A record left ``running`` whose heartbeat is old reads back as ``stale``; a fresh
    heartbeat makes it ``running`` again (the file itself is never changed)."""
    votakvot.run("dead", beating)
    folder = root / "dead"
    data = yaml.unsafe_load((folder / _layout.YAML_NAME).read_text())
    data["state"] = "running"
    (folder / _layout.YAML_NAME).write_text(yaml.safe_dump(data))
    (folder / _layout.HEARTBEAT_NAME).write_text(f"{time.time() - 3600:.3f} {INTERVAL}\n")
    assert read_trial(str(folder)).state == "stale"
    (folder / _layout.HEARTBEAT_NAME).write_text(f"{time.time():.3f} {INTERVAL}\n")
    assert read_trial(str(folder)).state == "running"
    assert yaml.unsafe_load((folder / _layout.YAML_NAME).read_text())["state"] == "running"


class crash_once(votakvot.resumable_fn):
    """Fails after its first snapshot the first time; then finishes after checking that its
    heartbeat is fresh from the start of the resumed run."""

    snapshot_each = 1
    crashed = False

    def init(self) -> None:
        self.i = 0

    def loop(self):
        self.i += 1
        if not crash_once.crashed and self.i == 2:
            crash_once.crashed = True
            raise RuntimeError("crash")
        if self.i >= 3:
            return read_beat(Path(_active.current().path))
        return None


def test_resumed_trial_replaces_the_dead_heartbeat(root: Path) -> None:
    """A resumed run beats at once, so the old run's heartbeat never makes it look stale."""
    with pytest.raises(RuntimeError):
        votakvot.run("resumed", crash_once)
    folder = root / "resumed"
    (folder / _layout.HEARTBEAT_NAME).write_text(f"{time.time() - 3600:.3f} {INTERVAL}\n")
    before = time.time()
    trial = votakvot.run("resumed", crash_once)
    beat, _ = trial.result
    assert beat >= before - 1


def _pretend_running_elsewhere(folder: Path, beat: float) -> None:
    data = yaml.unsafe_load((folder / _layout.YAML_NAME).read_text())
    data["state"] = "running"
    data["meta"]["system"]["node"] = "some-other-machine"
    (folder / _layout.YAML_NAME).write_text(yaml.safe_dump(data))
    (folder / _layout.HEARTBEAT_NAME).write_text(f"{beat:.3f} {INTERVAL}\n")


def test_resume_waits_for_another_machines_trial_to_go_stale(root: Path) -> None:
    """A trial recorded as running on another machine with a fresh heartbeat is not resumed;
    once its heartbeat is stale it is."""
    crash_once.crashed = False
    with pytest.raises(RuntimeError):
        votakvot.run("elsewhere", crash_once)
    folder = root / "elsewhere"
    _pretend_running_elsewhere(folder, time.time())
    with pytest.raises(votakvot.ResumeError, match="still running on some-other-machine"):
        votakvot.run("elsewhere", crash_once)
    _pretend_running_elsewhere(folder, time.time() - 3600)
    trial = votakvot.run("elsewhere", crash_once)
    assert trial.state == "done"
    assert trial.data["resumable"]["resumes"][0]["previous"] == "died"
