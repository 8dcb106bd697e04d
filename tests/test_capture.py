"""Output capture: what a trial prints and logs is kept in its folder (issue 9)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import votakvot
from votakvot import _active
from votakvot._config import get_config, set_config
from votakvot.capture import _sink as _capture_sink
from votakvot.capture import _streams as _capture_streams
from votakvot.capture import read_logs, read_output
from votakvot.trial import read_trial


def folders(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("votakvot.yaml"))


def folder_of(root: Path, **params) -> Path:
    """The folder of the one trial recorded with exactly these params."""
    found = [f for f in folders(root) if read_trial(str(f)).params == params]
    assert len(found) == 1, (params, found)
    return found[0]


def wait_for(predicate, timeout: float = 20.0) -> None:
    """Poll until ``predicate()`` holds (never asserts on time, only gives up)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


# --- stdout / stderr ---------------------------------------------------------------------


def test_output_is_kept_and_the_terminal_still_gets_it(root: Path, capsys) -> None:
    """stdout and stderr of the call land in output.log in order, and on the terminal."""

    @votakvot.track()
    def f(x):
        print("hello", x)
        print("to stderr", file=sys.stderr)
        sys.stdout.write("no newline")
        return x

    assert f(1) == 1
    trial = read_trial(str(folders(root)[0]))
    assert trial.output == "hello 1\nto stderr\nno newline"
    terminal = capsys.readouterr()
    assert terminal.out == "hello 1\nno newline"
    assert terminal.err == "to stderr\n"


def test_terminal_fd_still_gets_the_text(root: Path, capfd) -> None:
    """With file-descriptor capture (a real terminal underneath), the text still arrives."""

    @votakvot.track()
    def f():
        print("through the fd")

    f()
    assert capfd.readouterr().out == "through the fd\n"
    assert read_output(str(folders(root)[0])) == "through the fd\n"


def test_text_outside_any_trial_is_untouched_and_not_kept(root: Path, capsys) -> None:
    """Printing outside a trial, even while one runs in another thread, is not captured."""
    started, release = threading.Event(), threading.Event()

    @votakvot.track()
    def f():
        print("inside")
        started.set()
        release.wait(10)

    thread = threading.Thread(target=f)
    thread.start()
    started.wait(10)
    print("outside")
    release.set()
    thread.join()
    assert read_output(str(folders(root)[0])) == "inside\n"
    assert capsys.readouterr().out == "inside\noutside\n"


def test_threads_printing_at_once_end_in_their_own_files(root: Path) -> None:
    """Trials in threads interleaving their prints each keep exactly their own lines."""
    n_threads, n_lines = 6, 300
    barrier = threading.Barrier(n_threads)

    @votakvot.track()
    def worker(k):
        barrier.wait(10)
        for i in range(n_lines):
            print(f"worker {k} line {i}")
            if i % 7 == 0:
                time.sleep(0)
        logging.getLogger("w").warning("worker %d done", k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(n_threads):
        trial = read_trial(str(folder_of(root, k=k)))
        assert trial.output.splitlines() == [f"worker {k} line {i}" for i in range(n_lines)]
        assert list(trial.logs.message) == [f"worker {k} done"]


async def test_asyncio_tasks_printing_at_once_end_in_their_own_files(root: Path) -> None:
    """Trials in concurrent asyncio tasks keep their own lines, also from their subtasks."""

    async def helper(k, i):
        print(f"task {k} helper {i}")

    @votakvot.track()
    async def task(k):
        for i in range(50):
            print(f"task {k} line {i}")
            await asyncio.sleep(0)
            if i % 10 == 0:
                await asyncio.create_task(helper(k, i))

    await asyncio.gather(*(task(k) for k in range(5)))
    for k in range(5):
        lines = read_output(str(folder_of(root, k=k))).splitlines()
        assert [x for x in lines if "line" in x] == [f"task {k} line {i}" for i in range(50)]
        assert [x for x in lines if "helper" in x] == [
            f"task {k} helper {i}" for i in range(0, 50, 10)
        ]


def test_nested_trials_keep_their_own_output(root: Path) -> None:
    """A nested tracked call keeps what it prints; the outer keeps the rest."""

    @votakvot.track()
    def inner(level):
        print("inner")

    @votakvot.track(capture="none")
    def quiet(level):
        print("quiet goes to the outer trial")

    @votakvot.track()
    def outer(level):
        print("before")
        inner(level=2)
        quiet(level=3)
        print("after")

    outer(level=1)
    assert read_output(str(folder_of(root, level=1))) == (
        "before\nquiet goes to the outer trial\nafter\n"
    )
    assert read_output(str(folder_of(root, level=2))) == "inner\n"
    assert not (folder_of(root, level=3) / "output.log").exists()


def test_long_output_is_complete_and_in_order(root: Path) -> None:
    """Many more writes than the in-memory batch still reach the file, all in order."""
    n = 3 * _capture_sink.SPILL_PARTS

    @votakvot.track()
    def f():
        for i in range(n):
            print(i)

    f()
    assert read_output(str(folders(root)[0])) == "".join(f"{i}\n" for i in range(n))


def test_output_is_flushed_while_the_trial_runs(root: Path) -> None:
    """A running trial's output reaches the file within about a second (live tail)."""
    release = threading.Event()

    @votakvot.track()
    def f():
        print("visible while running")
        release.wait(30)

    thread = threading.Thread(target=f)
    thread.start()
    try:
        wait_for(lambda: len(folders(root)) == 1)
        log = folders(root)[0] / "output.log"
        wait_for(lambda: log.exists() and "visible while running" in log.read_text())
    finally:
        release.set()
        thread.join()


def test_size_cap_truncates_the_file_but_not_the_terminal(tmp_path: Path, capsys) -> None:
    """Past capture_limit the file says it was cut; the terminal gets everything."""
    previous = get_config()
    votakvot.init(path=str(tmp_path), capture_limit=2000)
    try:

        @votakvot.track()
        def f():
            for i in range(500):
                print(f"line {i:04d} ééé")  # multi-byte text: never split a character

        f()
    finally:
        set_config(previous)
    log = folders(tmp_path)[0] / "output.log"
    data = log.read_bytes()
    assert len(data) <= 2000
    text = data.decode("utf-8")  # strict: a cut character would raise
    assert text.startswith("line 0000 ééé\nline 0001 ééé\n")
    assert "\n[votakvot: output.log reached capture_limit=2000 bytes: " in text  # issue 17:
    assert text.endswith("line 0499 ééé\n")  # head and tail are kept
    assert capsys.readouterr().out.count("\n") == 500


def test_size_cap_of_log_records_keeps_whole_lines(tmp_path: Path) -> None:
    """log.jsonl is cut at a record boundary and ends with a record saying so."""
    previous = get_config()
    votakvot.init(path=str(tmp_path), capture="logging", capture_limit=3000)
    try:

        @votakvot.track()
        def f():
            for i in range(200):
                logging.getLogger("cap").warning("record %d", i)

        f()
    finally:
        set_config(previous)
    folder = folders(tmp_path)[0]
    assert (folder / "log.jsonl").stat().st_size <= 3000
    logs = read_logs(str(folder))
    assert list(logs.message[:3]) == ["record 0", "record 1", "record 2"]
    marker = logs[logs.logger == "votakvot"]  # issue 17: between head and tail
    assert len(marker) == 1 and "reached capture_limit=3000" in marker.message.iloc[0]
    assert logs.message.iloc[-1] == "record 199"


# --- logging ---------------------------------------------------------------------------


def test_logging_mode_keeps_records_not_prints(tmp_path: Path, caplog) -> None:
    """capture="logging": records go to log.jsonl (and to handlers as before), prints don't."""
    previous = get_config()
    votakvot.init(path=str(tmp_path), capture="logging")
    caplog.set_level(logging.INFO)
    try:

        @votakvot.track()
        def f():
            print("not kept")
            logging.getLogger("my.lib").info("step %d of %d", 1, 2)
            try:
                raise ValueError("bad value")
            except ValueError:
                logging.getLogger("my.lib").exception("it failed")

        f()
    finally:
        set_config(previous)
    folder = folders(tmp_path)[0]
    assert not (folder / "output.log").exists()
    logs = read_trial(str(folder)).logs
    assert list(logs.columns) == ["time", "level", "logger", "message", "exception"]
    assert list(logs.level) == ["INFO", "ERROR"]
    assert list(logs.logger) == ["my.lib", "my.lib"]
    assert list(logs.message) == ["step 1 of 2", "it failed"]
    assert logs.exception.isna().iloc[0]
    assert "ValueError: bad value" in logs.exception.iloc[1]
    assert str(logs.time.dt.tz) != "None"
    created = [r.created for r in caplog.records]
    assert [t.timestamp() for t in logs.time] == pytest.approx(created, abs=1e-5)
    assert [r.getMessage() for r in caplog.records] == ["step 1 of 2", "it failed"]
    raw = [json.loads(x) for x in (folder / "log.jsonl").read_text().splitlines()]
    assert set(raw[0]) == {"time", "level", "logger", "message", "exception"}


def test_all_mode_keeps_records_too_and_unconfigured_warnings_still_show(
    root: Path, capsys
) -> None:
    """capture="all" keeps records; logging's last-resort stderr output is not hidden."""

    @votakvot.track()
    def f():
        logging.getLogger("plain").warning("careful")

    root_logger = logging.getLogger()
    saved = root_logger.handlers[:]
    root_logger.handlers.clear()  # no handler anywhere: logging.lastResort prints to stderr
    try:
        f()
    finally:
        root_logger.handlers[:] = saved
    folder = folders(root)[0]
    assert list(read_logs(str(folder)).message) == ["careful"]
    assert capsys.readouterr().err == "careful\n"
    assert read_output(str(folder)) == "careful\n"


def test_track_capture_overrides_init(root: Path) -> None:
    """@track(capture=...) wins over init(capture=...); "none" keeps no file."""

    @votakvot.track(capture="none")
    def silent(n):
        print("x")
        logging.getLogger("x").warning("y")

    @votakvot.track(capture="logging")
    def records_only(n):
        print("x")
        logging.getLogger("x").warning("y")

    silent(n=1)
    records_only(n=2)
    assert not (folder_of(root, n=1) / "output.log").exists()
    assert not (folder_of(root, n=1) / "log.jsonl").exists()
    assert not (folder_of(root, n=2) / "output.log").exists()
    assert list(read_logs(str(folder_of(root, n=2))).message) == ["y"]


def test_logging_inside_a_print_handler_does_not_recurse(root: Path) -> None:
    """A handler that writes records to sys.stderr inside a trial: no loop, both files kept."""

    @votakvot.track()
    def f():
        logger = logging.getLogger("reentrant")
        handler = logging.StreamHandler(sys.stderr)  # the proxy, as it is now
        logger.addHandler(handler)
        try:
            logger.warning("once")
        finally:
            logger.removeHandler(handler)

    f()
    folder = folders(root)[0]
    assert read_output(str(folder)).count("once") >= 1
    assert list(read_logs(str(folder)).message) == ["once"]


def test_records_of_a_logger_that_does_not_propagate_are_kept(root: Path) -> None:
    """Loggers with propagate=False (common in libraries) are captured too."""
    lib = logging.getLogger("isolated.lib")
    lib.propagate = False
    lib.addHandler(logging.NullHandler())

    @votakvot.track()
    def f():
        lib.warning("from the library")

    try:
        f()
    finally:
        lib.propagate = True
        lib.handlers.clear()
    assert list(read_logs(str(folders(root)[0])).message) == ["from the library"]


# --- the proxy stream ------------------------------------------------------------------


def test_the_proxy_behaves_like_the_stream(root: Path) -> None:
    """isatty/fileno/encoding come from the wrapped stream; isinstance checks still pass."""
    seen = {}

    @votakvot.track()
    def f():
        out = sys.stdout
        seen["proxy"] = isinstance(out, _capture_streams.StreamProxy)
        seen["textio"] = isinstance(out, io.TextIOBase)
        seen["encoding"] = out.encoding
        seen["isatty"] = out.isatty()
        out.writelines(["a\n", "b\n"])
        out.flush()

    f()
    assert seen["proxy"] and seen["textio"]
    assert seen["encoding"] == getattr(sys.stdout, "encoding", None)
    assert seen["isatty"] is False
    assert read_output(str(folders(root)[0])) == "a\nb\n"


def test_printing_to_a_closed_stream_fails_as_before(root: Path, monkeypatch) -> None:
    """A closed stream raises the usual ValueError; nothing half-written is kept."""
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(sys, "stdout", closed)

    @votakvot.track()
    def f():
        print("lost")

    with pytest.raises(ValueError, match="closed file"):
        f()
    assert read_output(str(folders(root)[0])) == ""


def test_redirected_and_replaced_streams(root: Path, monkeypatch) -> None:
    """redirect_stdout inside a trial is respected; a stream replaced later is wrapped again."""
    buf = io.StringIO()

    @votakvot.track()
    def redirected(n):
        with contextlib.redirect_stdout(buf):
            print("to the buffer")
        print("to the trial")

    redirected(n=1)
    assert buf.getvalue() == "to the buffer\n"
    assert read_output(str(folder_of(root, n=1))) == "to the trial\n"

    replacement = io.StringIO()
    monkeypatch.setattr(sys, "stdout", replacement)

    @votakvot.track()
    def later(n):
        print("after the swap")

    later(n=2)
    assert replacement.getvalue() == "after the swap\n"
    assert read_output(str(folder_of(root, n=2))) == "after the swap\n"


def test_a_proxy_wrapped_by_another_wrapper_copies_once(root: Path, monkeypatch) -> None:
    """Only the newest proxy captures: a colour filter around ours does not double lines."""

    @votakvot.track()
    def first(n):
        print("one")

    first(n=1)

    class Filter:  # like colorama's wrapper: forwards to whatever it wraps
        def __init__(self, inner):
            self.inner = inner

        def write(self, s):
            return self.inner.write(s)

        def flush(self):
            self.inner.flush()

    monkeypatch.setattr(sys, "stdout", Filter(sys.stdout))

    @votakvot.track()
    def second(n):
        print("two")

    second(n=2)
    assert read_output(str(folder_of(root, n=2))) == "two\n"


def test_outside_trials_write_is_the_streams_own(root: Path) -> None:
    """Once no trial captures (a tick later), the proxy's write is the wrapped stream's."""
    before = _capture_streams._capturing  # an earlier test may have left a trial running

    @votakvot.track()
    def f():
        assert _capture_streams._capturing == before + 1
        return sys.stdout

    proxy = f()
    assert isinstance(proxy, _capture_streams.StreamProxy)
    assert _capture_streams._capturing == before
    _capture_streams.switch_off_if_idle()  # what the flusher does on its next tick
    if before == 0:
        assert proxy.write == proxy._stream.write
    else:
        assert proxy.write is proxy._capturing_write()


# --- storage -------------------------------------------------------------------------


def test_memory_root_gets_whole_files() -> None:
    """Roots that cannot append (memory://, object stores) get the whole file rewritten."""
    from votakvot.testing import isolated

    with isolated():

        def f():
            print("kept in memory")
            logging.getLogger("m").warning("record")

        trial = votakvot.run("in/memory", f)
        assert trial.path.startswith("memory://")
        assert trial.output == "kept in memory\n"
        assert list(trial.logs.message) == ["record"]


def test_write_failure_is_reported_and_the_call_goes_on(root: Path, caplog) -> None:
    """When output.log cannot be written, a warning names the trial and the call succeeds."""

    @votakvot.track()
    def f():
        os.mkdir(os.path.join(_active.current().path, "output.log"))  # not a file any more
        print("cannot be kept")
        return 7

    with caplog.at_level(logging.WARNING, logger="votakvot"):
        assert f() == 7
    messages = [r.getMessage() for r in caplog.records if r.name == "votakvot"]
    assert any("could not write output.log of trial" in m for m in messages), messages


# --- reading -------------------------------------------------------------------------


def test_reading_a_trial_without_captured_files(tmp_path: Path) -> None:
    """No output.log / log.jsonl: empty text and an empty frame with the columns."""
    assert read_output(str(tmp_path)) == ""
    logs = read_logs(str(tmp_path))
    assert list(logs.columns) == ["time", "level", "logger", "message", "exception"]
    assert len(logs) == 0


def test_torn_and_bad_log_lines(tmp_path: Path, caplog) -> None:
    """A torn last line (killed process) is skipped quietly; a bad middle line with a warning."""
    good = json.dumps(
        {
            "time": "2026-01-02T03:04:05.000001+01:00",
            "level": "INFO",
            "logger": "a",
            "message": "m",
            "exception": None,
        }
    )
    (tmp_path / "log.jsonl").write_text(f"{good}\nnot json\n{good}\n{good[:20]}")
    with caplog.at_level(logging.WARNING, logger="votakvot"):
        logs = read_logs(str(tmp_path))
    assert list(logs.message) == ["m", "m"]
    assert logs.time.iloc[0].timestamp() == pytest.approx(1767319445.000001)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "log.jsonl line 2" in warnings[0]


CHILD = """
import logging, os, sys, time
import votakvot

votakvot.init(path=sys.argv[1])

@votakvot.track()
def doomed():
    print("printed before the kill", flush=True)
    logging.getLogger("child").warning("logged before the kill")
    while True:
        time.sleep(0.05)

doomed()
"""


def test_a_killed_process_keeps_what_was_flushed(tmp_path: Path) -> None:
    """SIGKILL mid-trial: output and records flushed while it ran are still readable."""
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    results = tmp_path / "results"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(results)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:

        def flushed() -> bool:
            found = folders(results) if results.exists() else []
            if not found or not (found[0] / "log.jsonl").exists():
                return False
            out = found[0] / "output.log"  # the record also reaches stderr via lastResort
            return out.exists() and out.read_text().endswith("logged before the kill\n")

        wait_for(flushed, timeout=60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    trial = read_trial(str(folders(results)[0]))
    assert trial.state == "running"
    assert trial.output == "printed before the kill\nlogged before the kill\n"
    assert list(trial.logs.message) == ["logged before the kill"]


def test_threads_sharing_one_trial_lose_nothing_while_it_is_flushed(tmp_path: Path) -> None:
    """Threads run in the trial's context print while the flusher drains often: no line lost."""
    import contextvars

    previous = get_config()
    votakvot.init(path=str(tmp_path), flush_interval=0.005)
    n_threads, n_lines = 4, 3000
    try:

        @votakvot.track()
        def f():
            def work(k):
                for i in range(n_lines):
                    sys.stdout.write(f"{k} {i}\n")  # one write: print() would be two

            threads = [
                threading.Thread(target=contextvars.copy_context().run, args=(work, k))
                for k in range(n_threads)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        f()
    finally:
        set_config(previous)
    lines = read_output(str(folders(tmp_path)[0])).splitlines()
    assert len(lines) == n_threads * n_lines
    for k in range(n_threads):
        assert [x for x in lines if x.startswith(f"{k} ")] == [f"{k} {i}" for i in range(n_lines)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_write_into_the_parents_trial(root: Path) -> None:
    """What a child forked inside a trial prints is not the parent's output."""

    @votakvot.track()
    def f():
        print("parent before")
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            try:
                for i in range(2 * _capture_sink.SPILL_PARTS):
                    print("child", i)
                sys.stdout.flush()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        print("parent after")

    f()
    assert read_output(str(folders(root)[0])) == "parent before\nparent after\n"


@pytest.mark.parametrize("where", ["local", "memory"])
def test_a_resumed_trial_adds_to_the_output_of_its_earlier_runs(tmp_path: Path, where: str) -> None:
    """Files left by an earlier run are continued, not replaced; a torn last record of a
    killed run does not swallow the first new one."""
    from votakvot.capture import _hook
    from votakvot.testing import isolated

    path = str(tmp_path) if where == "local" else None
    with isolated(path):
        trial = _active.ActiveTrial("resumed", {})
        trial.storage.makedirs(trial.path)
        trial.storage.write_atomic(trial.file("output.log"), b"run 1\n")
        record = b'{"time": "2026-01-02T03:04:05.000001+00:00", "level": "INFO", "logger": "a"'
        trial.storage.write_atomic(trial.file("log.jsonl"), record)  # torn by a kill
        _hook.on_start(trial)
        try:
            print("run 2")
            logging.getLogger("again").warning("record of run 2")
        finally:
            _hook.on_end(trial)
        assert read_output(trial.url) == "run 1\nrun 2\n"
        assert list(read_logs(trial.url).message) == ["record of run 2"]


@pytest.mark.stress
def test_many_trials_in_threads_and_tasks_at_once(tmp_path: Path) -> None:
    """Dozens of trials in threads, each running asyncio tasks that are trials too, while
    the flusher drains often and caps bite: every file holds exactly its own lines."""
    previous = get_config()
    votakvot.init(path=str(tmp_path), flush_interval=0.01, capture_limit=200_000)
    n_threads, n_tasks, n_lines = 16, 8, 400
    try:

        @votakvot.track()
        async def task(t, k):
            for i in range(n_lines):
                sys.stdout.write(f"{t}.{k} {i}\n")
                if i % 50 == 0:
                    await asyncio.sleep(0)

        def thread(t):
            async def main():
                await asyncio.gather(*(task(t, k) for k in range(n_tasks)))

            asyncio.run(main())

        threads = [threading.Thread(target=thread, args=(t,)) for t in range(n_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        set_config(previous)
    found = folders(tmp_path)
    assert len(found) == n_threads * n_tasks
    for folder in found:
        trial = read_trial(str(folder))
        t, k = trial.params["t"], trial.params["k"]
        assert trial.output.splitlines() == [f"{t}.{k} {i}" for i in range(n_lines)]


def test_the_examples_in_docs_capture_md_run(tmp_path: Path) -> None:
    """The Python blocks of docs/capture.md, run in order as one script, work as written."""
    import re

    doc = Path(__file__).resolve().parent.parent / "docs" / "capture.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)
    assert blocks
    script = tmp_path / "doc_example.py"
    script.write_text("\n".join(blocks))
    out = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "epoch 1: loss=0.500" in out.stdout
    (log,) = (tmp_path / "results" / "quickstart" / "train").glob("output.log")
    assert log.read_text() == (
        "epoch 0: loss=1.000\nepoch 0 done\nepoch 1: loss=0.500\nepoch 1 done\n"
    )


def test_stderr_pointed_at_stdout_is_captured_once(root: Path, monkeypatch) -> None:
    """``sys.stderr = sys.stdout`` (2>&1 style) keeps each line once, and keeps capturing
    stderr after stdout is replaced."""

    @votakvot.track()
    def first(n):
        print("out")

    first(n=1)  # proxies in place
    monkeypatch.setattr(sys, "stderr", sys.stdout)

    @votakvot.track()
    def second(n):
        print("out")
        print("err", file=sys.stderr)

    second(n=2)
    assert read_output(str(folder_of(root, n=2))) == "out\nerr\n"
    monkeypatch.setattr(sys, "stdout", io.StringIO())

    @votakvot.track()
    def third(n):
        print("err again", file=sys.stderr)

    third(n=3)
    assert read_output(str(folder_of(root, n=3))) == "err again\n"


def test_a_flush_in_the_middle_of_a_line_adds_nothing(root: Path) -> None:
    """Drains that fall between the pieces of one line keep the text exactly as written."""

    @votakvot.track()
    def f():
        sys.stdout.write("abc")
        _capture_sink.drain_all()
        sys.stdout.write("def\n")
        _capture_sink.drain_all()
        sys.stdout.write("ghi")
        _capture_sink.drain_all()
        print(" jkl")

    f()
    assert read_output(str(folders(root)[0])) == "abcdef\nghi jkl\n"
