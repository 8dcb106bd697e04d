"""The write side: every call of a tracked function becomes a trial folder."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from pathlib import Path

import pytest
import yaml

import votakvot
from votakvot import _active, _flusher
from votakvot._config import get_config, set_config

TID_RE = re.compile(
    r"^(?P<module>[^/]+)/(?P<function>[^/]+)/\d\d-\d\d-\d\d/\d\d:\d\d:\d\d/"
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$"
)


def records(root: Path) -> list[dict]:
    return [yaml.unsafe_load(p.read_text()) for p in sorted(root.rglob("votakvot.yaml"))]


def only_record(root: Path) -> dict:
    (data,) = records(root)
    return data


def test_readme_basic_example(root: Path) -> None:
    """The seed README's first example: a call makes one folder with the documented fields."""

    @votakvot.track()
    def my_experiment(one, two):
        print(one, two)
        return one + two

    assert my_experiment(1, 2) == 3
    data = only_record(root)
    assert TID_RE.match(data["tid"]), data["tid"]
    assert data["tid"].startswith("test_tracking/test_readme_basic_example.my_experiment/")
    assert data["state"] == "done"
    assert data["params"] == {"one": 1, "two": 2}
    assert data["result"] == 3
    assert set(data["at"]) == {"created", "started", "finished", "duration"}
    assert data["at"]["duration"] >= 0
    assert data["id"] in data["tid"]
    assert data["meta"]["python"]["version"]
    assert data["meta"]["process"]["pid"] == os.getpid()
    folder = root / data["tid"]
    assert (folder / "votakvot.yaml").is_file()


def test_readme_inform_example(root: Path) -> None:
    """``inform`` records ad-hoc fields under ``info``, structured values included."""

    @votakvot.track()
    def my_experiment(one, two):
        votakvot.inform(any_custom_field="any-value", other_custom_field=["structured", "data"])
        return one + two

    my_experiment(1, 2)
    assert only_record(root)["info"] == {
        "any_custom_field": "any-value",
        "other_custom_field": ["structured", "data"],
    }


def test_readme_attach_example(root: Path) -> None:
    """``attach`` opens a file next to votakvot.yaml."""

    @votakvot.track()
    def my_experiment(one, two):
        with votakvot.attach("my-file-name.txt", mode="tw") as f:
            f.write("some text ...")
        with votakvot.attach("sub/dir/data.bin", mode="wb") as f:
            f.write(b"\x00\x01")

    my_experiment(1, 2)
    folder = root / only_record(root)["tid"]
    assert (folder / "my-file-name.txt").read_text() == "some text ..."
    assert (folder / "sub/dir/data.bin").read_bytes() == b"\x00\x01"


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "a/../../b", "..", "s3://x/y"])
def test_attach_refuses_names_outside_the_folder(root: Path, name: str) -> None:
    """A name that would leave the trial folder is a ValueError that says so."""

    @votakvot.track()
    def f():
        votakvot.attach(name)

    with pytest.raises(ValueError, match="trial folder"):
        f()
    assert not (root.parent / "escape.txt").exists()


def test_readme_meter_example(root: Path) -> None:
    """``meter`` rows land in CSV files with an ``at_us`` column (integer microseconds),
    all rows kept in order."""

    @votakvot.track()
    def train():
        for i in range(1000):
            votakvot.meter(step=i, loss=1 / (i + 1))
        votakvot.meter(metric_name="metric value")

    train()
    folder = root / only_record(root)["tid"]
    files = sorted(folder.glob("votakvot.metrics.*.csv"))
    assert len(files) == 2
    lines = files[0].read_text().splitlines()
    assert lines[0] == "at_us,step,loss"
    assert len(lines) == 1001
    assert all(line.split(",")[0].isdigit() for line in lines[1:])
    assert [int(line.split(",")[1]) for line in lines[1:]] == list(range(1000))
    assert files[1].read_text().splitlines()[1].endswith(",metric value")


def test_metrics_are_flushed_while_the_trial_runs(root: Path) -> None:
    """A running trial's metrics reach the disk before it ends (what a live viewer needs)."""
    seen: list[str] = []

    @votakvot.track()
    def train():
        votakvot.meter(loss=0.5)
        _flusher.flusher.flush_now()
        folder = root / votakvot.tid()
        seen.extend(p.read_text() for p in folder.glob("votakvot.metrics.*.csv"))

    train()
    assert seen and seen[0].splitlines()[0] == "at_us,loss"


def test_running_state_is_written_while_the_call_lasts(root: Path) -> None:
    """votakvot.yaml appears with state ``running`` while a call that lasts is still going
    (written by the flusher once the call outlasts ``RECORD_AFTER``)."""
    during: list[dict] = []

    @votakvot.track()
    def slow():
        record = root / votakvot.tid() / "votakvot.yaml"
        deadline = time.monotonic() + 30
        while not record.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        during.append(yaml.safe_load(record.read_text()))

    slow()
    assert during[0]["state"] == "running"
    assert "finished" not in during[0]["at"]
    assert only_record(root)["state"] == "done"


def test_heartbeat_is_refreshed_while_running(root: Path) -> None:
    """The background flusher writes ``votakvot.heartbeat`` as "<time> <interval>"."""

    @votakvot.track()
    def beating():
        _active.current().heartbeat()
        return (root / votakvot.tid() / "votakvot.heartbeat").read_text()

    text = beating()
    when, interval = text.split()
    assert float(when) > 0 and float(interval) == 5


def test_failed_call_is_recorded_and_reraised_unchanged(root: Path) -> None:
    """The exception keeps its type and traceback; the trial records both."""

    class Boom(Exception):
        pass

    @votakvot.track()
    def explode(x):
        raise Boom(f"bad {x}")

    with pytest.raises(Boom, match="bad 7") as info:
        explode(7)
    assert info.tb is not None
    frames = [f.name for f in info.traceback]
    assert "explode" in frames
    data = only_record(root)
    assert data["state"] == "failed"
    assert data["error"]["message"] == "bad 7"
    assert data["error"]["type"].endswith("Boom")
    assert "raise Boom" in data["traceback"]
    assert "sync_wrapper" not in data["traceback"]  # the record starts at the user's code
    assert "result" not in data
    assert (root / data["tid"] / "traceback.txt").read_text() == data["traceback"]


def test_keyboard_interrupt_marks_the_trial_interrupted(root: Path) -> None:
    """Ctrl-C inside a call ends the trial as ``interrupted``, and still propagates."""

    @votakvot.track()
    def stopped():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stopped()
    assert only_record(root)["state"] == "interrupted"


def test_async_functions_are_tracked(root: Path) -> None:
    """``async def`` works, and concurrent tasks never mix their info or metrics."""

    @votakvot.track()
    async def job(n):
        for i in range(5):
            votakvot.inform(n=n, last=i)
            votakvot.meter(n=n, i=i)
            await asyncio.sleep(0)
        return n * 10

    async def main():
        return await asyncio.gather(*(job(n) for n in range(8)))

    assert asyncio.run(main()) == [n * 10 for n in range(8)]
    data = records(root)
    assert len(data) == 8
    for d in data:
        n = d["params"]["n"]
        assert d["info"] == {"n": n, "last": 4}
        assert d["result"] == n * 10
        csv = next((root / d["tid"]).glob("votakvot.metrics.*.csv")).read_text().splitlines()
        assert {line.split(",")[1] for line in csv[1:]} == {str(n)}


def test_threads_never_mix_trials(root: Path) -> None:
    """Calls running at once in threads each record their own info and metrics."""

    @votakvot.track()
    def job(n):
        for i in range(50):
            votakvot.inform(n=n)
            votakvot.meter(n=n, i=i)
        return n

    threads = [threading.Thread(target=job, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    data = records(root)
    assert sorted(d["params"]["n"] for d in data) == list(range(16))
    for d in data:
        assert d["info"] == {"n": d["params"]["n"]}
        csv = next((root / d["tid"]).glob("votakvot.metrics.*.csv")).read_text().splitlines()
        assert len(csv) == 51
        assert {line.split(",")[1] for line in csv[1:]} == {str(d["params"]["n"])}


def test_nested_call_is_its_own_trial_and_names_its_parent(root: Path) -> None:
    """A tracked call inside another records the outer trial as ``parent``."""

    @votakvot.track()
    def inner(x):
        votakvot.inform(level="inner")
        return x

    @votakvot.track()
    def outer():
        votakvot.inform(level="outer")
        return inner(1), votakvot.tid()

    _, outer_tid = outer()
    data = {d["info"]["level"]: d for d in records(root)}
    assert data["inner"]["parent"] == outer_tid
    assert "parent" not in data["outer"]
    assert data["outer"]["info"] == {"level": "outer"}


def test_methods_kwargs_defaults_and_private_params(root: Path) -> None:
    """``self`` and ``_private`` params are left out; defaults and ``**kwargs`` are kept."""

    class Model:
        @votakvot.track()
        def fit(self, lr, epochs=3, _cache=None, *rest, **extra):
            return lr * epochs

    assert Model().fit(0.5, 2, None, "x", seed=1) == 1.0
    assert only_record(root)["params"] == {"lr": 0.5, "epochs": 2, "rest": ["x"], "seed": 1}


def test_track_name_overrides_module_and_function(root: Path) -> None:
    """``track(name=...)`` replaces the ``{module}/{function}`` part of the id."""

    @votakvot.track(name="experiments/baseline")
    def f():
        return 1

    f()
    assert only_record(root)["tid"].startswith("experiments/baseline/")


def test_functions_outside_a_trial_do_nothing_harmful(tmp_path: Path, caplog) -> None:
    """inform/meter/attach/tid outside any tracked call log and write nowhere."""
    os.chdir(tmp_path)
    with caplog.at_level(logging.WARNING, logger="votakvot"):
        votakvot.inform(x=1)
        votakvot.meter(x=1)
        with votakvot.attach("f.txt") as f:
            f.write("kept nowhere")
    assert votakvot.tid() is None
    assert list(tmp_path.iterdir()) == []
    assert "outside any tracked call" in caplog.text


def test_calls_before_init_use_the_current_folder(tmp_path: Path, monkeypatch) -> None:
    """Without ``init``, trials go under ``.`` (the documented default)."""
    previous = get_config()
    set_config(type(previous)())
    monkeypatch.chdir(tmp_path)
    try:

        @votakvot.track()
        def f():
            return 1

        assert f() == 1
    finally:
        set_config(previous)
    assert len(list(tmp_path.rglob("votakvot.yaml"))) == 1


def test_init_can_switch_roots(tmp_path: Path) -> None:
    """A second ``init`` sends the next trials elsewhere."""

    @votakvot.track()
    def f():
        return 1

    previous = get_config()
    try:
        votakvot.init(path=str(tmp_path / "a"))
        f()
        votakvot.init(path=str(tmp_path / "b"))
        f()
    finally:
        set_config(previous)
    assert len(list((tmp_path / "a").rglob("votakvot.yaml"))) == 1
    assert len(list((tmp_path / "b").rglob("votakvot.yaml"))) == 1


def test_memory_root_via_fsspec() -> None:
    """Any fsspec URL works as a root; ``votakvot.testing.isolated`` gives a fresh one."""
    import fsspec

    from votakvot.testing import isolated

    @votakvot.track()
    def f(x):
        votakvot.meter(x=x)
        with votakvot.attach("a.txt") as fh:
            fh.write("hi")
        return x

    with isolated() as root:
        f(3)
        fs = fsspec.filesystem("memory")
        (yaml_path,) = fs.glob(root.removeprefix("memory://") + "/**/votakvot.yaml")
        data = yaml.safe_load(fs.cat_file(yaml_path))
        assert data["result"] == 3
        folder = yaml_path.rsplit("/", 1)[0]
        assert fs.cat_file(folder + "/a.txt") == b"hi"
        assert fs.glob(folder + "/votakvot.metrics.*.csv")


def test_run_with_explicit_id(root: Path) -> None:
    """``run(tid, fn, **params)`` records under that id and returns a Trial."""

    def add(one, two):
        return one + two

    trial = votakvot.run("sweep/one=1", add, one=1, two=2)
    assert isinstance(trial, votakvot.Trial)
    assert trial.result == 3
    assert trial.tid == "sweep/one=1"
    assert (root / "sweep/one=1/votakvot.yaml").is_file()


def test_run_returns_a_finished_trial_without_running_again(root: Path) -> None:
    """A script of ``run`` calls that was interrupted picks up where it stopped."""
    calls: list[int] = []

    def work(n):
        calls.append(n)
        return n

    votakvot.run("w/n=1", work, n=1)
    again = votakvot.run("w/n=1", work, n=1)
    assert calls == [1] and again.result == 1
    votakvot.run("w/n=1", work, rerun=True, n=1)
    assert calls == [1, 1]


@pytest.mark.parametrize("bad", ["", "/", "../up", "s3://bucket/x"])
def test_run_rejects_bad_ids(root: Path, bad: str) -> None:
    """An id must be a relative folder below the root."""
    with pytest.raises(ValueError, match=r"trial id|relative"):
        votakvot.run(bad, lambda: 1)


def test_unrepresentable_values_are_stored_as_repr(root: Path, caplog) -> None:
    """A value YAML cannot hold does not break the call: its repr is stored, with a warning."""

    @votakvot.track()
    def f():
        return {"lock": threading.Lock(), "ok": 1}

    with caplog.at_level(logging.WARNING, logger="votakvot"):
        result = f()
    assert result["ok"] == 1
    stored = only_record(root)["result"]
    assert stored["ok"] == 1 and "lock" in stored["lock"]
    assert "result.lock" in caplog.text


def test_storage_failure_does_not_break_the_call(tmp_path: Path, caplog) -> None:
    """A root that cannot be written: the function still returns; one clear error is logged."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    previous = get_config()
    try:
        votakvot.init(path=str(blocker / "results"))

        @votakvot.track()
        def f(x):
            votakvot.meter(x=x)
            return x * 2

        with caplog.at_level(logging.ERROR, logger="votakvot"):
            assert f(4) == 8
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1
        assert "could not create the trial folder" in errors[0].getMessage()
        assert "strict=True" in errors[0].getMessage()

        votakvot.init(path=str(blocker / "results"), strict=True)
        with pytest.raises(votakvot.StorageError, match="could not create the trial folder"):
            f(4)
    finally:
        set_config(previous)


def test_init_validates_its_arguments() -> None:
    """Bad settings fail at ``init`` with the value named."""
    with pytest.raises(ValueError, match="capture must be"):
        votakvot.init(capture="everything")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be > 0"):
        votakvot.init(flush_interval=0)


def test_missing_fsspec_backend_names_the_package() -> None:
    """A protocol whose package is missing says what to install."""
    import importlib.util

    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here")
    with pytest.raises(votakvot.MissingDependencyError, match="pip install gcsfs"):
        votakvot.init(path="gs://bucket/results")
