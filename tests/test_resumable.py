"""Resumable tasks: snapshots between loops, resuming after a crash or a kill, progress."""

from __future__ import annotations

import datetime
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import yaml

import votakvot
from votakvot import layout as _layout
from votakvot._config import get_config, set_config
from votakvot.resumable import read_snapshot_header


@pytest.fixture
def root(tmp_path: Path):
    """A fresh local root; the previous settings come back after the test."""
    previous = get_config()
    votakvot.init(path=str(tmp_path / "results"), capture="none")
    yield tmp_path / "results"
    set_config(previous)


def record(folder: Path) -> dict:
    return yaml.unsafe_load((folder / _layout.YAML_NAME).read_text())


class Boom(Exception):
    """A crash planned by a test."""


class summer(votakvot.resumable_fn):
    """Sums 1..n one number per loop; fails once at ``crash_at`` (if set) to be resumed."""

    snapshot_each = 10
    snapshot_period = None
    crash_at: int | None = None
    inits = 0

    def init(self, n: int) -> None:
        type(self).inits += 1
        self.n = n
        self.i = 0
        self.total = 0

    def loop(self):
        self.i += 1
        self.total += self.i
        votakvot.meter(i=self.i)
        if self.i == type(self).crash_at:
            type(self).crash_at = None
            raise Boom(f"planned crash at {self.i}")
        if self.i >= self.n:
            return self.total
        return None


@pytest.fixture(autouse=True)
def _reset_summer():
    summer.crash_at = None
    summer.inits = 0


def test_call_runs_untracked(root: Path) -> None:
    """``cls.call(**params)`` runs the task to its end as a plain function: no trial folder."""
    assert summer.call(n=100) == 5050
    assert not root.exists() or not any(root.rglob(_layout.YAML_NAME))


def test_fresh_run_records_a_done_trial(root: Path) -> None:
    """A first ``run`` records the result, ``kind: resumable``, the loop count and snapshots,
    and drops the snapshot once the trial is done."""
    trial = votakvot.run("sum/n=25", summer, n=25)
    assert trial.state == "done"
    assert trial.result == 325
    data = record(root / "sum" / "n=25")
    assert data["state"] == "done"
    assert data["kind"] == "resumable"
    assert data["function"] == f"{__name__}.summer"
    assert data["params"] == {"n": 25}
    progress = data["resumable"]
    assert progress["loops"] == 25
    assert progress["snapshots"] == 3  # after init, after loop 10 and loop 20
    assert progress["snapshot_loop"] == 20
    assert isinstance(progress["snapshot_at"], datetime.datetime)
    assert progress["resumes"] == []
    assert not (root / "sum" / "n=25" / _layout.SNAPSHOT_NAME).exists()


def test_resume_after_a_failure_continues_from_the_snapshot(root: Path) -> None:
    """A task that failed at loop 37 resumes from its loop-30 snapshot: same folder, same
    id and creation time, init not run again, the resume recorded with its time."""
    summer.crash_at = 37
    with pytest.raises(Boom):
        votakvot.run("sum/n=50", summer, n=50)
    folder = root / "sum" / "n=50"
    failed = record(folder)
    assert failed["state"] == "failed"
    assert (folder / _layout.SNAPSHOT_NAME).exists()
    assert (folder / _layout.TRACEBACK_NAME).exists()

    trial = votakvot.run("sum/n=50", summer, n=50)
    assert trial.result == sum(range(51))
    assert summer.inits == 1
    done = record(folder)
    assert done["state"] == "done"
    assert done["id"] == failed["id"]
    assert done["at"]["created"] == failed["at"]["created"]
    assert done["at"]["duration"] >= failed["at"]["duration"]
    (resume,) = done["resumable"]["resumes"]
    assert resume["loop"] == 30
    assert resume["previous"] == "failed"
    assert isinstance(resume["at"], datetime.datetime)
    assert done["resumable"]["loops"] == 50
    assert "error" not in done
    assert not (folder / _layout.TRACEBACK_NAME).exists()


def test_metrics_continue_across_a_resume(root: Path) -> None:
    """Metrics up to the snapshot are on disk; the resumed run adds a new metric file
    instead of overwriting or appending to the old ones."""
    summer.crash_at = 15
    with pytest.raises(Boom):
        votakvot.run("m", summer, n=20)
    votakvot.run("m", summer, n=20)
    folder = root / "m"
    files = sorted(p.name for p in folder.glob(f"{_layout.METRICS_PREFIX}*"))
    assert len(files) == 2
    seen = []
    for name in files:
        lines = (folder / name).read_text().splitlines()
        assert lines[0] == "at_us,i"  # integer-microsecond stamps (issue 18)
        seen.extend(int(line.split(",")[1]) for line in lines[1:])
    # 1..15 from the first run (flushed when it failed), 11..20 replayed from the snapshot.
    assert sorted(set(seen)) == list(range(1, 21))
    assert seen[-10:] == list(range(11, 21))


def test_finished_trial_is_returned_without_running(root: Path) -> None:
    """Running a finished id again returns the recorded trial; ``rerun=True`` runs anew."""
    first = votakvot.run("again", summer, n=5)
    second = votakvot.run("again", summer, n=5)
    assert summer.inits == 1
    assert second.id == first.id
    assert second.result == 15
    third = votakvot.run("again", summer, rerun=True, n=5)
    assert summer.inits == 2
    assert third.id != first.id
    assert third.result == 15


def test_other_params_on_resume_are_refused(root: Path) -> None:
    """Resuming with other params raises ResumeError showing both sets and the way out."""
    summer.crash_at = 12
    with pytest.raises(Boom):
        votakvot.run("p", summer, n=20)
    with pytest.raises(votakvot.ResumeError) as info:
        votakvot.run("p", summer, n=21)
    message = str(info.value)
    assert "{'n': 20}" in message and "{'n': 21}" in message
    assert "rerun=True" in message
    assert votakvot.run("p", summer, rerun=True, n=21).result == sum(range(22))


def test_other_params_for_a_finished_trial_are_refused(root: Path) -> None:
    """A finished id asked for with other params is an error, not the other params' result."""
    votakvot.run("fin", summer, n=3)
    with pytest.raises(votakvot.ResumeError, match=r"recorded: \{'n': 3\}"):
        votakvot.run("fin", summer, n=4)


def test_corrupt_snapshot_is_reported_with_the_way_out(root: Path) -> None:
    """A snapshot that cannot be unpickled gives ResumeError naming the file and rerun=True."""
    summer.crash_at = 12
    with pytest.raises(Boom):
        votakvot.run("bad", summer, n=20)
    snapshot = root / "bad" / _layout.SNAPSHOT_NAME
    snapshot.write_bytes(b"not a pickle at all")
    with pytest.raises(votakvot.ResumeError) as info:
        votakvot.run("bad", summer, n=20)
    assert str(snapshot) in str(info.value)
    assert "rerun=True" in str(info.value)
    assert votakvot.run("bad", summer, n=20, rerun=True).result == 210


class _vanishing(votakvot.resumable_fn):
    """A task whose class is removed from its module after a snapshot, as if renamed."""

    snapshot_each = 1

    def init(self) -> None:
        self.i = 0

    def loop(self):
        self.i += 1
        if self.i == 3:
            raise Boom("stop")
        return None


def test_snapshot_of_a_changed_class_is_reported(root: Path, monkeypatch) -> None:
    """When the class in the snapshot no longer exists, the error says the class changed."""
    with pytest.raises(Boom):
        votakvot.run("gone", _vanishing)
    monkeypatch.delattr(sys.modules[__name__], "_vanishing")
    with pytest.raises(votakvot.ResumeError) as info:
        votakvot.run("gone", summer)
    text = str(info.value)
    assert _layout.SNAPSHOT_NAME in text
    assert "class may have changed" in text
    assert "rerun=True" in text


class peek(votakvot.resumable_fn):
    """Reads its own YAML at loop 5, as a viewer would while it runs."""

    snapshot_each = 2
    snapshot_period = None
    seen: dict = {}

    def init(self) -> None:
        self.i = 0

    def loop(self):
        self.i += 1
        if self.i == 5:
            folder = Path(votakvot._active.current().path)
            peek.seen = record(folder)
            peek.seen["snapshot_on_disk"] = (folder / _layout.SNAPSHOT_NAME).exists()
            return "ok"
        return None


def test_progress_is_in_the_yaml_while_running(root: Path) -> None:
    """While the task runs, its YAML shows the snapshots taken so far (a viewer's progress)."""
    votakvot.run("peek", peek)
    seen = peek.seen
    assert seen["state"] == "running"
    assert seen["kind"] == "resumable"
    assert seen["resumable"]["snapshot_loop"] == 4
    assert seen["resumable"]["snapshots"] == 3  # after init, loop 2, loop 4
    assert seen["snapshot_on_disk"]


class timed(votakvot.resumable_fn):
    """Snapshots after every loop through a zero ``timedelta`` period."""

    snapshot_period = datetime.timedelta(0)

    def init(self) -> None:
        self.i = 0

    def loop(self):
        self.i += 1
        return self.i if self.i == 4 else None


class bad_period(timed):
    snapshot_period = -1  # type: ignore[assignment]


class bad_each(timed):
    snapshot_each = 0


def test_snapshot_period_as_timedelta_and_validation(root: Path) -> None:
    """``snapshot_period`` takes seconds or a timedelta; bad values are named in the error."""
    trial = votakvot.run("timed", timed)
    assert trial.data["resumable"]["snapshots"] == 4  # init + loops 1..3
    assert trial.data["resumable"]["snapshot_period"] == 0
    with pytest.raises(ValueError, match=r"snapshot_period must be seconds >= 0.*-1"):
        votakvot.run("bad", bad_period)
    with pytest.raises(ValueError, match=r"snapshot_each must be an int >= 1.*0"):
        votakvot.run("bad_each", bad_each)


def test_task_defined_in_a_function_is_refused(root: Path) -> None:
    """A task class nested in a function could never be unpickled: refused before running."""

    class nested(timed):
        pass

    with pytest.raises(TypeError, match="top level of a module"):
        votakvot.run("nested", nested)
    assert not root.exists() or not any(root.rglob(_layout.YAML_NAME))


class holds_lock(votakvot.resumable_fn):
    """Keeps a lock on self, which pickle refuses."""

    def init(self) -> None:
        self.lock = threading.Lock()

    def loop(self):
        return 1


def test_unpicklable_state_fails_the_trial_clearly(root: Path) -> None:
    """State that cannot be pickled fails at the first snapshot with a message saying why."""
    with pytest.raises(TypeError, match=r"could not snapshot holds_lock.*picklable"):
        votakvot.run("lock", holds_lock)
    assert record(root / "lock")["state"] == "failed"


class interrupted_once(votakvot.resumable_fn):
    """Raises KeyboardInterrupt at loop 3 the first time only."""

    snapshot_each = 1
    fired = False

    def init(self) -> None:
        self.i = 0

    def loop(self):
        self.i += 1
        if self.i == 3 and not interrupted_once.fired:
            interrupted_once.fired = True
            raise KeyboardInterrupt
        return self.i if self.i == 5 else None


def test_interrupted_task_resumes(root: Path) -> None:
    """A KeyboardInterrupt in ``loop`` records ``interrupted``; the next run resumes."""
    with pytest.raises(KeyboardInterrupt):
        votakvot.run("intr", interrupted_once)
    assert record(root / "intr")["state"] == "interrupted"
    trial = votakvot.run("intr", interrupted_once)
    assert trial.result == 5
    assert trial.data["resumable"]["resumes"][0]["previous"] == "interrupted"
    assert trial.data["resumable"]["resumes"][0]["loop"] == 2


class waits(votakvot.resumable_fn):
    """Blocks in its first loop until the test releases it."""

    started = threading.Event()
    release = threading.Event()

    def init(self) -> None:
        pass

    def loop(self):
        waits.started.set()
        waits.release.wait(30)
        return "done"


def test_same_trial_twice_in_one_process_is_refused(root: Path) -> None:
    """A second run of an id this process is running now raises instead of clobbering it."""
    thread = threading.Thread(target=votakvot.run, args=("busy", waits))
    thread.start()
    try:
        assert waits.started.wait(30)
        with pytest.raises(votakvot.ResumeError, match="already running in this process"):
            votakvot.run("busy", waits)
    finally:
        waits.release.set()
        thread.join(30)
    assert votakvot.run("busy", waits).result == "done"


def test_trial_running_in_a_live_process_is_refused(root: Path) -> None:
    """A record saying ``running`` in a live process of this machine is not resumed; once
    that process is gone it is."""
    summer.crash_at = 12
    with pytest.raises(Boom):
        votakvot.run("live", summer, n=20)
    folder = root / "live"
    data = record(folder)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        data["state"] = "running"
        data["meta"]["process"]["pid"] = sleeper.pid
        (folder / _layout.YAML_NAME).write_text(yaml.safe_dump(data))
        with pytest.raises(votakvot.ResumeError, match=f"still running in process {sleeper.pid}"):
            votakvot.run("live", summer, n=20)
    finally:
        sleeper.kill()
        sleeper.wait()
    trial = votakvot.run("live", summer, n=20)
    assert trial.result == 210
    assert trial.data["resumable"]["resumes"][0]["previous"] == "died"


def test_resume_on_an_fsspec_root() -> None:
    """Snapshots, resume and the final cleanup work on a remote-style (fsspec) root too."""
    from votakvot.testing import isolated

    with isolated(capture="none") as url:
        summer.crash_at = 23
        with pytest.raises(Boom):
            votakvot.run("remote/t", summer, n=30)
        trial = votakvot.run("remote/t", summer, n=30)
        assert trial.result == 465
        assert trial.data["resumable"]["resumes"][0]["loop"] == 20
        import fsspec

        fs = fsspec.filesystem("memory")
        names = {
            p.rsplit("/", 1)[-1]
            for p in fs.ls(url.removeprefix("memory://") + "/remote/t", detail=False)
        }
        assert _layout.SNAPSHOT_NAME not in names
        assert sum(n.startswith(_layout.METRICS_PREFIX) for n in names) >= 2


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import votakvot

    class slow_sum(votakvot.resumable_fn):
        snapshot_each = 7
        snapshot_period = 0.01

        def init(self, n):
            self.n = n
            self.i = 0
            self.total = 0
            self.blob = bytes(200_000)  # a snapshot that takes a moment to write

        def loop(self):
            self.i += 1
            self.total += self.i * self.i
            time.sleep(0.001)
            if self.i >= self.n:
                return self.total

    votakvot.init(sys.argv[1], capture="none")
    trial = votakvot.run("kill/me", slow_sum, n=int(sys.argv[2]))
    print("RESULT", trial.result, len(trial.data["resumable"]["resumes"]))
    """
)


def _looping(folder: Path, pid: int) -> bool:
    try:
        data = record(folder)
    except FileNotFoundError:
        return False
    return (
        data["meta"]["process"]["pid"] == pid
        and data["state"] == "running"
        and (folder / _layout.SNAPSHOT_NAME).exists()
    )


def test_sigkill_at_random_moments_then_resume(tmp_path: Path) -> None:
    """Killing the process with SIGKILL at random moments never leaves a snapshot that
    cannot be resumed; the final result is the same as an uninterrupted run."""
    kill_and_resume(tmp_path, rounds=6, n=400, seed=4)


@pytest.mark.stress
@pytest.mark.parametrize("seed", range(5))
def test_sigkill_many_times_then_resume(tmp_path: Path, seed: int) -> None:
    """The same, killed 30 times in a longer run, with other random moments."""
    kill_and_resume(tmp_path, rounds=30, n=3000, seed=seed)


def kill_and_resume(tmp_path: Path, rounds: int, n: int, seed: int) -> None:
    script = tmp_path / "kill_me.py"
    script.write_text(KILL_SCRIPT)
    results = tmp_path / "results"
    rng = random.Random(seed)
    folder = results / "kill" / "me"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    kills = 0
    for _ in range(rounds):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(results), str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        # Wait until this process is looping (its pid in the record, a snapshot on disk),
        # then kill it at a random moment.
        deadline = time.monotonic() + 60
        while proc.poll() is None and not _looping(folder, proc.pid):
            assert time.monotonic() < deadline, "the task never started looping"
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        _out, err = proc.communicate(timeout=60)
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, err.decode()
        # Whatever moment it died at, the snapshot on disk is whole: its header reads back
        # (the task itself, a class of the child's __main__, is unpickled by the resume).
        with open(folder / _layout.SNAPSHOT_NAME, "rb") as f:
            header, _ = read_snapshot_header(f.read())
        assert header["loops"] >= 0
    final = subprocess.run(
        [sys.executable, str(script), str(results), str(n)],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert final.returncode == 0, final.stderr.decode()
    line = [x for x in final.stdout.decode().splitlines() if x.startswith("RESULT")][-1]
    _, result, resumes = line.split()
    assert int(result) == sum(i * i for i in range(1, n + 1))
    assert kills >= 1
    assert int(resumes) == kills  # every killed run was resumed by the next one
    data = record(folder)
    assert data["state"] == "done"
    assert data["resumable"]["loops"] == n
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


class stepper(votakvot.resumable_fn):
    """Counts to ``n``, snapshotting every loop; fails at ``fail_at`` (once) to leave a snapshot."""

    snapshot_each = 1
    snapshot_period = None
    fail_at: int | None = None
    inits = 0

    def init(self, n: int) -> None:
        type(self).inits += 1
        self.n = n
        self.i = 0

    def loop(self):
        self.i += 1
        if self.i == type(self).fail_at:
            type(self).fail_at = None
            raise Boom(f"planned failure at {self.i}")
        return self.i if self.i >= self.n else None


def _left_by_someone_else(tid: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Leave a failed ``stepper`` trial at ``tid`` whose snapshot is signed with another
    key than the one used from now on: it does not verify as this user's."""
    from votakvot._userkey import KEY_ENV

    monkeypatch.setenv(KEY_ENV, "1" * 64)
    stepper.fail_at = 3
    with pytest.raises(Boom):
        votakvot.run(tid, stepper, n=5)
    monkeypatch.setenv(KEY_ENV, "2" * 64)


@pytest.mark.parametrize("runner", ["inplace", "process"])
@pytest.mark.parametrize("how", ["map", "sweep", "imap", "as_completed", "submit_run"])
def test_trust_snapshot_passes_through_the_runner_api(
    root: Path, runner: str, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot that does not verify is refused by every runner entry point; with
    ``trust_snapshot=True`` (as ``votakvot.run`` takes it) the task resumes from it."""
    from votakvot import runners

    votakvot.init(path=str(root), capture="none", runner=runner, workers=1)
    try:
        _left_by_someone_else("s/n=5", monkeypatch)

        def call(**extra: object) -> list:
            params = [{"n": 5}]
            if how == "map":
                return votakvot.map(stepper, params, tid="s/n={n}", **extra)
            if how == "sweep":
                return votakvot.sweep(stepper, tid="s/n={n}", n=[5], **extra)
            if how == "imap":
                return list(votakvot.imap(stepper, params, tid="s/n={n}", **extra))
            if how == "as_completed":
                return [
                    r for _, r in votakvot.as_completed(stepper, params, tid="s/n={n}", **extra)
                ]
            return [runners.submit_run("s/n=5", stepper, n=5, **extra).result()]

        with pytest.raises(votakvot.ResumeError, match="trust_snapshot=True"):
            call()
        assert call(trust_snapshot=True) == [5]
        done = record(root / "s" / "n=5")
        assert done["state"] == "done"
        assert [r["loop"] for r in done["resumable"]["resumes"]] == [2]
    finally:
        runners.shutdown()


def test_dashboard_resume_helper_says_one_thing(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard's resume program over a snapshot that does not verify: the refusal
    (with its way out) is the only message, no earlier note about the snapshot header."""
    from votakvot_tui.core.runs import main

    _left_by_someone_else("h/n=5", monkeypatch)
    folder = root / "h" / "n=5"
    capsys.readouterr()
    with pytest.raises(votakvot.ResumeError, match="trust_snapshot=True"):
        main(["resume", str(folder)])
    out = capsys.readouterr()
    assert "header" not in out.err and "unreadable" not in out.err
    assert "h/n=5" in out.out  # "resuming h/n=5 under ...": what it tried
