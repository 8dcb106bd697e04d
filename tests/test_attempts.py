"""Attempts and crashes (issue 15): a call that kills its worker process is recorded
``crashed`` and the map goes on; a retried call is one trial with ``attempt: N``, its
earlier attempts kept aside as ``superseded``; ``load_report`` shows one row per call."""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import time
from pathlib import Path

import pytest
import yaml

import votakvot
from votakvot import layout, runners
from votakvot._config import get_config, set_config
from votakvot.exceptions import WorkerCrashedError


def crash_on_seven(x: int) -> int:
    """Kills its own process for x == 7 (exit code 3), a plain square otherwise."""
    votakvot.meter(x=x)
    if x == 7:
        os._exit(3)
    return x * x


def segfault(x: int) -> int:
    faulthandler.disable()  # a real segfault, without pytest's traceback dump on stderr
    os.kill(os.getpid(), signal.SIGSEGV)
    return x


def flaky(marker: str, how: str) -> str:
    """Fails (``raise``) or dies (``crash``) on its first attempt, succeeds after."""
    if not os.path.exists(marker):
        Path(marker).write_text("tried")
        votakvot.inform(first=True)
        if how == "crash":
            os._exit(9)
        raise RuntimeError("first attempt fails")
    return "ok"


def always_fails(x: int) -> int:
    raise ValueError(f"bad {x}")


def records(root: Path) -> list[dict]:
    return [yaml.unsafe_load(p.read_text()) for p in sorted(root.rglob(layout.YAML_NAME))]


@pytest.fixture
def use(tmp_path: Path):
    """``use(runner, **options)`` points votakvot at a fresh root with that runner."""
    previous = get_config()

    def configure(runner: str, **options) -> Path:
        root = tmp_path / "results"
        votakvot.init(str(root), runner=runner, capture="none", **options)
        return root

    yield configure
    runners.shutdown()
    set_config(previous)


def test_a_crash_in_a_batched_map_is_recorded_and_the_map_goes_on(use) -> None:
    """One call of 60 kills its worker mid-batch: the other 59 finish (the batch is run
    again call by call to find the culprit) and the culprit is recorded ``crashed``
    with its exit code, by the client: one record per call, none left ``running``."""
    root = use("process", workers=2)
    out = votakvot.map(crash_on_seven, [{"x": x} for x in range(60)], return_exceptions=True)
    assert isinstance(out[7], WorkerCrashedError)
    assert "exited with code 3" in str(out[7])
    assert [r for i, r in enumerate(out) if i != 7] == [x * x for x in range(60) if x != 7]
    found = records(root)
    assert len(found) == 60 and len({r["tid"] for r in found}) == 60
    crashed = [r for r in found if r["state"] != "done"]
    assert [(r["state"], r["params"]) for r in crashed] == [("crashed", {"x": 7})]
    assert crashed[0]["error"]["type"] == "WorkerExit"
    assert crashed[0]["meta"]["runner"]["exitcode"] == 3
    report = votakvot.load_report(root)
    assert len(report) == 60 and (report.state == "crashed").sum() == 1
    # Calls of the broken batch that had finished ran again from a clean folder.
    for data in found:
        if data["state"] == "done":
            rows = votakvot.load_metrics(root / data["tid"])
            assert list(rows.x) == [data["params"]["x"]], data["tid"]


def test_a_segfault_is_recorded_with_its_signal_and_reruns_work(use) -> None:
    """A segfault shows as ``SIGSEGV``; running the same map again (explicit ids) keeps
    the trials that finished and records the crash again, as attempt 2 of the same
    trial, the first crash kept aside instead of overwritten."""
    root = use("process", workers=2)
    params = [{"x": 1}, {"x": 2}]
    for _ in range(2):
        with pytest.raises(WorkerCrashedError, match="SIGSEGV"):
            votakvot.map(segfault, params, tid="seg/{x}")
    found = [r for r in records(root) if r["state"] != "superseded"]
    assert sorted(r["tid"] for r in found) == ["seg/1", "seg/2"]
    assert {r["state"] for r in found} == {"crashed"}
    assert {r["error"]["type"] for r in found} == {"SIGSEGV"}
    assert {r["attempt"] for r in found} == {2}
    assert {r["meta"]["runner"]["attempt"] for r in found} == {2}
    earlier = [r for r in records(root) if r["state"] == "superseded"]
    assert sorted((r["tid"], r["attempt"], r["ended_as"]) for r in earlier) == [
        ("seg/1", 1, "crashed"),
        ("seg/2", 1, "crashed"),
    ]
    assert votakvot.map(crash_on_seven, [{"x": 3}], tid="ok/{x}") == [9]


@pytest.mark.parametrize("how", ["raise", "crash"])
def test_a_retried_call_is_one_trial_with_its_attempts_linked(use, tmp_path: Path, how) -> None:
    """With ``retries=1`` a call that fails (or kills its worker) once runs again at the
    same tid as ``attempt: 2``; attempt 1 moves to ``votakvot.attempt-1/``, marked
    ``superseded`` with what it ended as; the report shows one row unless asked."""
    root = use("process", workers=1)
    marker = str(tmp_path / "marker")
    assert votakvot.map(flaky, [{"marker": marker, "how": how}], retries=1) == ["ok"]
    latest, earlier = sorted(records(root), key=lambda r: r["attempt"], reverse=True)
    assert latest["tid"] == earlier["tid"]
    assert latest["state"] == "done" and latest["attempt"] == 2
    assert latest["meta"]["runner"]["attempt"] == 2
    assert earlier["state"] == "superseded" and earlier["superseded_by"] == 2
    assert earlier["ended_as"] == ("failed" if how == "raise" else "crashed")
    folder = root / latest["tid"]
    assert (folder / "votakvot.attempt-1" / layout.YAML_NAME).is_file()
    assert "info" not in latest or "first" not in latest["info"]
    report = votakvot.load_report(root)
    assert list(report.state) == ["done"]
    every = votakvot.load_report(root, attempts=True, full=True)
    assert sorted(every.state) == ["done", "superseded"]
    assert sorted(every.attempt) == [1, 2]
    assert list(votakvot.load_trials(root)) == [latest["tid"]]


def test_retries_on_the_thread_runner_and_from_init(use) -> None:
    """``init(retries=2)`` is the default of every map: a call that always fails runs
    three times, is one row in the report and raises its own error."""
    root = use("thread", workers=2, retries=2)
    with pytest.raises(ValueError, match="bad 1"):
        votakvot.map(always_fails, [{"x": 1}])
    found = records(root)
    assert sorted(r["attempt"] for r in found) == [1, 2, 3]
    assert sorted(r["state"] for r in found) == ["failed", "superseded", "superseded"]
    assert list(votakvot.load_report(root).state) == ["failed"]


def test_bad_retry_and_timeout_values_are_refused(use) -> None:
    """Wrong values name the argument; a timeout on the thread runner says why not."""
    use("thread")
    with pytest.raises(ValueError, match="retries must be an int >= 0"):
        votakvot.map(always_fails, [{"x": 1}], retries=-1)
    with pytest.raises(ValueError, match="'thread' runner cannot stop a call"):
        votakvot.map(always_fails, [{"x": 1}], timeout=3)


@votakvot.track(capture="all")
def loud(x: int) -> int:
    print(f"loud {x}")
    return x


def test_a_tracked_function_keeps_its_own_settings_on_the_process_runner(use) -> None:
    """``@track(capture="all")`` wins over ``init(capture="none")`` in a worker too: the
    runner makes the trial itself (at the id it chose) with the decorator's settings."""
    root = use("process", workers=1)
    assert votakvot.map(loud, [{"x": 4}]) == [4]
    (data,) = records(root)
    assert data["tid"].startswith("test_attempts/loud/")
    assert (root / data["tid"] / layout.OUTPUT_NAME).read_text() == "loud 4\n"


def fails_until(marker: str, x: int) -> int:
    """Fails while the file ``marker`` is missing: a call the user fixes between runs."""
    votakvot.meter(x=x)
    if not os.path.exists(marker):
        raise RuntimeError(f"not yet {x}")
    return x


def dies_until(marker: str, x: int) -> int:
    """Kills its process while the file ``marker`` is missing."""
    votakvot.meter(x=x)
    if not os.path.exists(marker):
        os._exit(5)
    return x


@pytest.mark.parametrize("runner", ["inplace", "thread", "process"])
def test_rerunning_a_map_with_tids_counts_attempts_on(use, tmp_path: Path, runner) -> None:
    """A map with explicit ids run three times over a call that failed twice: the record
    says attempt 3, attempts 1 and 2 are kept (``superseded``, with what they ended as
    and the attempt after them), ``load_report(attempts=True)`` lists all three; the
    call that was done the first time is not run again."""
    root = use(runner, workers=2)
    marker = tmp_path / "fixed"
    params = [{"marker": str(marker), "x": 1}, {"marker": str(tmp_path), "x": 2}]  # 2: done at once
    for _ in range(2):
        out = votakvot.map(fails_until, params, tid="t/{x}", return_exceptions=True)
        assert isinstance(out[0], RuntimeError) and out[1] == 2
    marker.write_text("fixed")
    assert votakvot.map(fails_until, params, tid="t/{x}") == [1, 2]
    latest = yaml.safe_load((root / "t" / "1" / layout.YAML_NAME).read_text())
    assert latest["state"] == "done" and latest["attempt"] == 3
    assert latest["meta"]["runner"]["attempt"] == 3
    for n in (1, 2):
        kept = yaml.safe_load(
            (root / "t" / "1" / f"votakvot.attempt-{n}" / layout.YAML_NAME).read_text()
        )
        assert (kept["state"], kept["ended_as"], kept["attempt"], kept["superseded_by"]) == (
            "superseded",
            "failed",
            n,
            n + 1,
        )
        assert list(votakvot.load_metrics(root / "t" / "1" / f"votakvot.attempt-{n}").x) == [1]
    assert list(votakvot.load_metrics(root / "t" / "1").x) == [1], "a fresh metric file"
    other = yaml.safe_load((root / "t" / "2" / layout.YAML_NAME).read_text())
    assert other.get("attempt", 1) == 1 and not list((root / "t" / "2").glob("votakvot.attempt-*"))
    every = votakvot.load_report(root, attempts=True, full=True)
    ones = every[every.tid == "t/1"]
    assert sorted(ones.attempt) == [1, 2, 3]
    assert sorted(ones.state) == ["done", "superseded", "superseded"]
    assert len(votakvot.load_report(root)) == 2


def test_rerunning_with_tids_after_crashes_and_retries_counts_on(use, tmp_path: Path) -> None:
    """Process runner: a call that killed its worker (retried once, so attempts 1 and 2)
    and is run again by the same map is attempt 3, crashed again; once it can succeed,
    attempt 4 is ``done``; every earlier attempt is kept, none counted twice."""
    root = use("process", workers=1)
    marker = tmp_path / "fixed"
    params = [{"marker": str(marker), "x": 1}]
    with pytest.raises(WorkerCrashedError):
        votakvot.map(dies_until, params, tid="d/{x}", retries=1)
    with pytest.raises(WorkerCrashedError):
        votakvot.map(dies_until, params, tid="d/{x}")
    marker.write_text("fixed")
    assert votakvot.map(dies_until, params, tid="d/{x}") == [1]
    found = sorted(records(root), key=lambda r: r["attempt"])
    assert [(r["attempt"], r["state"]) for r in found] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "superseded"),
        (4, "done"),
    ]
    assert [r.get("ended_as") for r in found[:3]] == ["crashed"] * 3
    assert [r.get("superseded_by") for r in found[:3]] == [2, 3, 4]


def square(x: int) -> int:
    votakvot.meter(x=x)
    return x * x


def _held(runner) -> bool:
    return any(slot is not None and slot.held for slot in runner._slots)


def test_a_worker_killed_while_idle_costs_no_call(use) -> None:
    """The only worker is stopped between calls, handed the next call, then killed with
    SIGKILL before it could begin it: that call is not recorded ``crashed`` (it never
    ran); it runs on a new worker, once, as attempt 1, and nothing is lost."""
    root = use("process", workers=1)
    assert votakvot.map(square, [{"x": 1}]) == [1]
    (first,) = records(root)
    pid = first["meta"]["runner"]["pid"]
    os.kill(pid, signal.SIGSTOP)  # idle, and now unable to begin anything
    try:
        future = runners.submit(square, x=2)
        runner = runners.get_runner()
        deadline = time.monotonic() + 60
        while not _held(runner) and time.monotonic() < deadline:
            time.sleep(0.01)  # until the call sits in the stopped worker's pipe
        assert _held(runner), "the call was handed to the stopped worker"
    finally:
        os.kill(pid, signal.SIGKILL)
    assert future.result(timeout=60) == 4
    found = records(root)
    assert sorted((r["params"]["x"], r["state"], r.get("attempt", 1)) for r in found) == [
        (1, "done", 1),
        (2, "done", 1),
    ]
    (second,) = [r for r in found if r["params"]["x"] == 2]
    assert second["meta"]["runner"]["pid"] != pid


def dies_before_it_begins(x: int) -> int:
    return x


class _KillsOnUnpickle:
    """A param whose unpickling kills the worker: the call takes it down before it begins."""

    def __reduce__(self):
        return os._exit, (4,)


def test_a_call_that_kills_workers_before_it_begins_is_recorded_once(use, caplog) -> None:
    """A call that kills every worker before it can begin (its params kill on unpickling)
    is tried on a second worker, then recorded ``crashed``: one record, not lost, and the
    call after it still runs."""
    root = use("process", workers=1)
    caplog.set_level(logging.WARNING, logger="votakvot")
    out = votakvot.map(
        dies_before_it_begins, [{"x": _KillsOnUnpickle()}, {"x": 3}], return_exceptions=True
    )
    assert isinstance(out[0], WorkerCrashedError) and "exited with code 4" in str(out[0])
    assert out[1] == 3
    states = sorted(r["state"] for r in records(root))
    assert states == ["crashed", "done"]
    again = [r for r in caplog.records if "running the trial on another worker" in r.message]
    assert len(again) == 1 and "exited with code 4 before trial" in again[0].message


def test_a_worker_gone_between_keeping_an_attempt_aside_and_the_next_one(
    use, tmp_path: Path
) -> None:
    """A worker that moved attempt 1 aside and died before attempt 2 wrote its record
    (here: the move done by hand) leaves the id still numbered: the rerun is attempt 2
    and attempt 1 is kept once, not overwritten by a second "attempt 1"."""
    from votakvot.runners._attempts import archive_attempt

    root = use("inplace")
    marker = tmp_path / "fixed"
    params = [{"marker": str(marker), "x": 1}]
    with pytest.raises(RuntimeError):
        votakvot.map(fails_until, params, tid="g/{x}")
    archive_attempt(get_config(), "g/1", 2)  # ... and the worker died here
    marker.write_text("fixed")
    assert votakvot.map(fails_until, params, tid="g/{x}") == [1]
    found = sorted(records(root), key=lambda r: r["attempt"])
    assert [(r["attempt"], r["state"], r.get("ended_as")) for r in found] == [
        (1, "superseded", "failed"),
        (2, "done", None),
    ]
