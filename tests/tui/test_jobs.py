"""The jobs module on its own, with real subprocesses (no Textual)."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time

import pytest

from votakvot_tui.core.jobs import Job, JobError, JobManager, jobs_dir

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def manager(tmp_path):
    jobs = JobManager(str(tmp_path / "jobs"), grace=1.0)
    yield jobs
    for job in jobs.running():
        with_pid = job.child_pid or job.pid
        if with_pid:
            try:
                os.killpg(with_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _script(tmp_path, name: str, code: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return str(path)


def _wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_jobs_dir_from_environment(monkeypatch, tmp_path):
    """$VOTAKVOT_JOBS_DIR decides where jobs live; else the user's cache folder."""
    monkeypatch.setenv("VOTAKVOT_JOBS_DIR", str(tmp_path / "j"))
    assert jobs_dir() == str(tmp_path / "j")
    monkeypatch.delenv("VOTAKVOT_JOBS_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert jobs_dir() == str(tmp_path / "cache" / "votakvot" / "jobs")


def test_start_runs_to_end_and_records_output(manager, tmp_path):
    """A command runs in its cwd; stdout, stderr and the exit code land in its folder."""
    script = _script(
        tmp_path,
        "hello.py",
        """
        import os, sys
        print("out", os.getcwd())
        print("err line", file=sys.stderr)
        sys.exit(3)
        """,
    )
    job = manager.start([sys.executable, script], cwd=str(tmp_path), kind="test", title="hello")
    assert job.state in ("starting", "running", "failed")
    job = manager.wait(job, timeout=30)
    assert job.finished
    assert job.exit_code == 3
    assert job.state == "failed"
    assert job.tail(stream="stdout") == f"out {tmp_path}"
    assert job.tail(stream="stderr") == "err line"
    assert "out" in job.tail() and "err line" in job.tail()
    assert job.title == "hello"
    assert job.kind == "test"
    assert job.elapsed >= 0
    assert "exit 3" in job.describe()


def test_successful_job_is_done(manager):
    """Exit code 0 is ``done``."""
    job = manager.wait(manager.start([sys.executable, "-c", "print(1)"]), timeout=30)
    assert (job.state, job.exit_code) == ("done", 0)


def test_tail_keeps_last_lines_and_last_redraw(manager, tmp_path):
    """A tail gives the last N lines; a line redrawn with carriage returns shows its end."""
    script = _script(
        tmp_path,
        "many.py",
        """
        import sys
        for i in range(100):
            print("line", i)
        sys.stderr.write("10%\\r50%\\r100%\\n")
        """,
    )
    job = manager.wait(manager.start([sys.executable, script]), timeout=30)
    assert job.tail(3, "stdout").splitlines() == ["line 97", "line 98", "line 99"]
    assert job.tail(5, "stderr") == "100%"


def test_job_outlives_the_manager_and_is_listed_by_another(manager, tmp_path):
    """A job is detached: a new manager on the same folder (a restarted app) lists it."""
    script = _script(
        tmp_path,
        "slow.py",
        """
        import time
        print("started", flush=True)
        time.sleep(60)
        """,
    )
    job = manager.start([sys.executable, script], kind="slow")
    _wait_for(lambda: "started" in manager.get(job.id).tail())
    other = JobManager(manager.directory)
    listed = other.list_jobs()
    assert [j.id for j in listed] == [job.id]
    assert listed[0].state == "running"
    assert os.getsid(listed[0].pid) == listed[0].pid  # its own session
    assert [j.id for j in other.running()] == [job.id]
    other.stop(job.id)
    stopped = other.wait(job.id, timeout=30)
    assert stopped.state == "stopped"


def test_stop_sends_sigint_first(manager, tmp_path):
    """Stop delivers SIGINT: a Python command gets KeyboardInterrupt and can clean up."""
    script = _script(
        tmp_path,
        "polite.py",
        """
        import sys, time
        print("ready", flush=True)
        try:
            time.sleep(60)
        except KeyboardInterrupt:
            print("interrupted, saving", flush=True)
            sys.exit(130)
        """,
    )
    job = manager.start([sys.executable, script])
    _wait_for(lambda: "ready" in manager.get(job.id).tail())
    stopping = manager.stop(job)
    assert stopping.stop_requested is not None
    job = manager.wait(job, timeout=30)
    assert job.exit_code == 130
    assert job.state == "stopped"
    assert "interrupted, saving" in job.tail()


def test_stop_escalates_to_sigterm(manager, tmp_path):
    """A command that ignores SIGINT gets SIGTERM after the grace period."""
    script = _script(
        tmp_path,
        "stubborn.py",
        """
        import signal, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(60)
        """,
    )
    job = manager.start([sys.executable, script])
    _wait_for(lambda: "ready" in manager.get(job.id).tail())
    manager.stop(job)
    assert manager.get(job.id).state == "stopping"
    job = manager.wait(job, timeout=30)
    assert job.exit_code == -signal.SIGTERM
    assert job.state == "stopped"


def test_second_stop_escalates_at_once(tmp_path):
    """Asking to stop again does not wait for the grace period."""
    manager = JobManager(str(tmp_path / "jobs"), grace=120.0)
    script = _script(
        tmp_path,
        "stubborn.py",
        """
        import signal, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(60)
        """,
    )
    job = manager.start([sys.executable, script])
    _wait_for(lambda: "ready" in manager.get(job.id).tail())
    manager.stop(job)
    manager.stop(job)
    job = manager.wait(job, timeout=30)
    assert job.exit_code == -signal.SIGTERM


def test_stop_of_finished_job_does_nothing(manager):
    """Stopping a job that ended leaves it as it was."""
    job = manager.wait(manager.start([sys.executable, "-c", "pass"]), timeout=30)
    assert manager.stop(job).state == "done"


def test_missing_program_is_a_failed_job(manager):
    """A command that cannot start ends ``failed`` and says why in its output."""
    job = manager.wait(manager.start(["/no/such/program-xyz"]), timeout=30)
    assert job.state == "failed"
    assert job.exit_code == 127
    assert "program-xyz" in job.tail()


def test_vanished_supervisor_is_lost(manager, tmp_path):
    """A supervisor killed outright (SIGKILL) leaves a ``lost`` job, not a running one."""
    script = _script(tmp_path, "s.py", "import time\nprint('ready', flush=True)\ntime.sleep(60)\n")
    job = manager.start([sys.executable, script])
    _wait_for(lambda: "ready" in manager.get(job.id).tail())
    job = manager.get(job.id)
    os.kill(job.pid, signal.SIGKILL)
    os.killpg(job.child_pid, signal.SIGKILL)
    _wait_for(lambda: manager.get(job.id).state == "lost")


def test_bad_cwd_and_empty_command_are_refused(manager, tmp_path):
    """Mistakes are reported before anything starts, naming the folder."""
    with pytest.raises(JobError, match="no such folder"):
        manager.start(["true"], cwd=str(tmp_path / "nope"))
    with pytest.raises(JobError, match="empty"):
        manager.start([])
    with pytest.raises(JobError, match="no job"):
        manager.get("nope")


def test_forget_removes_an_ended_job(manager):
    """An ended job's folder can be removed; a running one cannot."""
    job = manager.wait(manager.start([sys.executable, "-c", "pass"]), timeout=30)
    manager.forget(job)
    assert manager.list_jobs() == []


def test_job_extra_and_trial_are_kept(manager, tmp_path):
    """What the launcher remembers (trial folder, form values) reads back."""
    job = manager.start(
        [sys.executable, "-c", "pass"], trial=str(tmp_path / "t"), extra={"form": {"n": 3}}
    )
    again = Job.load(job.folder)
    assert again is not None
    assert again.trial == str(tmp_path / "t")
    assert again.extra == {"form": {"n": 3}}


def test_environment_reaches_the_command(manager, tmp_path, monkeypatch):
    """Extra variables reach the command; the user's PYTHONPATH is passed unchanged."""
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    code = "import os; print(os.environ['X_JOB'], os.environ.get('PYTHONPATH'))"
    job = manager.wait(manager.start([sys.executable, "-c", code], env={"X_JOB": "7"}), 30)
    assert job.tail() == "7 /somewhere"
    monkeypatch.delenv("PYTHONPATH")
    job = manager.wait(manager.start([sys.executable, "-c", code], env={"X_JOB": "8"}), 30)
    assert job.tail() == "8 None"


def test_stop_right_after_start_is_not_lost(manager, tmp_path):
    """A stop asked before the supervisor started the command is carried out once it runs."""
    script = _script(tmp_path, "s.py", "import time\ntime.sleep(60)\n")
    jobs = [manager.start([sys.executable, script]) for _ in range(3)]
    for job in jobs:
        manager.stop(job)
    for job in jobs:
        ended = manager.wait(job, timeout=30)
        assert ended.state == "stopped", ended.tail()


def test_docs_example_runs(tmp_path):
    """The Python example at the end of docs/launch.md runs as written."""
    import contextlib
    import io
    import pathlib
    import re

    text = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "launch.md").read_text()
    code = re.findall(r"```python\n(.*?)```", text, re.S)[-1]
    code = code.replace('"/tmp/my-jobs"', repr(str(tmp_path / "jobs")))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/launch.md", "exec"), {})
    assert out.getvalue().strip() == "done 0 hello"


def test_supervisor_that_cannot_start_is_lost_with_its_reason(tmp_path):
    """A supervisor that dies before starting the command (here: a python that cannot
    import the supervisor) ends ``lost`` once the start grace passed, its error in the tail."""
    from votakvot_tui.core import jobs as jobs_module

    manager = JobManager(str(tmp_path / "jobs"))
    folder = tmp_path / "jobs" / "260101-000000000-command-abcdef"
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(
        '{"argv": ["true"], "cwd": "/", "created": 0, "pid": 999999999}'
    )
    (folder / "supervisor.log").write_text("ModuleNotFoundError: No module named 'votakvot_tui'\n")
    (job,) = manager.list_jobs()
    assert job.state == "lost"
    assert "No module named 'votakvot_tui'" in job.tail()
    assert jobs_module.START_GRACE > 0
