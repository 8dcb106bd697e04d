"""Progress bars and the capture cap (issue 17): redraws are kept as a terminal shows
them, and a capped file keeps its head and its tail around a marker."""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from tqdm import tqdm

import votakvot
from votakvot import _active
from votakvot._config import get_config, set_config
from votakvot.capture import _sink as _capture_sink
from votakvot.capture import read_logs, read_output
from votakvot.capture._redraw import render
from votakvot.trial import read_trial

MARKER = re.compile(
    r"\[votakvot: output\.log reached capture_limit=(\d+) bytes: (\d+) bytes \((\d+) lines\) "
    r"left out here; the last (\d+) bytes follow\]\n"
)


@pytest.fixture
def capped(tmp_path: Path):
    previous = get_config()
    votakvot.init(path=str(tmp_path / "results"), capture_limit=2000)
    yield tmp_path / "results"
    set_config(previous)


def the_folder(root: Path) -> Path:
    found = [p.parent for p in root.rglob("votakvot.yaml")]
    assert len(found) == 1, found
    return found[0]


def wait_for(predicate, timeout: float = 20.0) -> None:
    """Poll until ``predicate()`` holds (never asserts on time, only gives up)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


# --- redraws ------------------------------------------------------------------------------


def test_a_tqdm_loop_leaves_a_small_readable_log(root: Path, capsys) -> None:
    """20,000 redraws: a few hundred bytes on disk (1.3 MB before), the last bar state,
    the final line at the end; the terminal still gets every redraw."""

    @votakvot.track()
    def train():
        print("start")
        for _ in tqdm(range(20_000), mininterval=0):
            pass
        print("FINAL test_acc=0.93")

    train()
    raw = (the_folder(root) / "output.log").read_bytes()
    assert len(raw) < 4000, len(raw)
    assert raw.endswith(b"FINAL test_acc=0.93\n")
    lines = read_output(str(the_folder(root))).split("\n")
    assert lines[0] == "start"
    assert "100%" in lines[1] and "20000/20000" in lines[1]
    assert lines[2:] == ["FINAL test_acc=0.93", ""]
    assert capsys.readouterr().err.count("\r") >= 20_000


def test_tqdm_write_between_updates_stays_in_order(root: Path) -> None:
    @votakvot.track()
    def train():
        bar = tqdm(total=3, mininterval=0, file=sys.stdout)
        for i in range(3):
            bar.update()
            tqdm.write(f"epoch {i} done", file=sys.stdout)
            _capture_sink.drain_all()
        bar.close()
        print("after")

    train()
    lines = read_output(str(the_folder(root))).rstrip("\n").split("\n")
    assert [line.strip() for line in lines if "epoch" in line] == [
        "epoch 0 done",
        "epoch 1 done",
        "epoch 2 done",
    ]
    assert "3/3" in lines[-2] and lines[-1] == "after"
    assert lines.index("epoch 2 done") < len(lines) - 2


def test_multi_line_bars_are_not_stored_per_redraw(root: Path) -> None:
    """Nested tqdm bars (``position=``, cursor-up): bounded file, last states readable."""

    @votakvot.track()
    def train():
        for _ in tqdm(range(40), position=0, mininterval=0, desc="outer"):
            for _ in tqdm(range(250), position=1, mininterval=0, desc="inner", leave=False):
                pass
        print("FINAL done")

    train()
    folder = the_folder(root)
    size = (folder / "output.log").stat().st_size
    assert size < 50_000, size  # 10,000 redraws of ~80 bytes each before
    text = read_output(str(folder))
    assert "outer: 100%" in text and "40/40" in text
    assert text.endswith("FINAL done\n")
    assert text.count("inner") <= 1


@pytest.mark.parametrize(
    ("writes", "expected"),
    [
        (["a\r\n", "b\r\n"], "a\nb\n"),  # Windows line ends: plain newlines
        (["loss 0.9\r", "\n", "next\n"], "loss 0.9\nnext\n"),  # \r at the end of a write
        (["50%\r", "100%\r", "\n"], "100%\n"),
        (["abc\b\bX\n"], "aXc\n"),
        (["xyz\rabc   ", "def\n"], "abc   def\n"),  # blanks before more text stay
        (["epoch 1: ", "\r10%", "\r100%\n"], "100%h 1:\n"),  # a terminal overwrites
        (["\x1b[?25lwork\r\x1b[2Kdone\n\x1b[?25h"], "done\n"),  # rich-style erase line
        (["plain \x1b[31mred\x1b[0m text\n"], "plain \x1b[31mred\x1b[0m text\n"),  # colours kept
    ],
)
def test_terminal_controls_across_writes_and_flushes(root: Path, writes, expected) -> None:
    @votakvot.track()
    def f():
        for text in writes:
            sys.stdout.write(text)
            _capture_sink.drain_all()  # a flush between any two writes changes nothing

    f()
    assert read_output(str(the_folder(root))) == expected


def test_a_running_bar_reaches_the_file_within_a_second_and_moves(root: Path) -> None:
    """While a bar waits, its latest state is written without any new text (live tail)."""
    steps = [threading.Event(), threading.Event()]

    @votakvot.track()
    def f():
        for i, step in enumerate(steps):
            sys.stdout.write(f"\rstep {i}")
            step.wait(30)

    thread = threading.Thread(target=f)
    thread.start()
    try:
        wait_for(lambda: list((root).rglob("output.log")))
        wait_for(lambda: list(root.rglob("votakvot.yaml")))  # written once the call ran 0.1 s
        folder = str(the_folder(root))
        wait_for(lambda: read_output(folder) == "step 0")
        steps[0].set()
        wait_for(lambda: read_output(folder) == "step 1")
    finally:
        for step in steps:
            step.set()
        thread.join()


def test_render_reads_files_with_every_redraw() -> None:
    """Files written before redraws were collapsed (or by hand) are shown collapsed."""
    assert render("x\r 10%\r 20%\r100%\ndone\n") == "100%\ndone\n"
    assert render("a\nb\x1b[1A\rA\n\rB\n") == "A\nB\n"
    assert render("plain\n") == "plain\n"


# --- the cap: head and tail -----------------------------------------------------------------


def test_a_capped_output_keeps_head_marker_and_the_final_line(capped: Path, capsys) -> None:
    @votakvot.track()
    def train():
        for i in range(500):
            print(f"epoch {i:04d} loss=0.5 ééé")  # multi-byte: never split a character
        print("FINAL test_acc=0.93")

    train()
    folder = the_folder(capped)
    raw = (folder / "output.log").read_bytes()
    assert len(raw) <= 2000
    text = raw.decode("utf-8")  # strict: a cut character would raise
    assert text == read_output(str(folder))
    assert text.startswith("epoch 0000 loss=0.5 ééé\n")
    assert text.endswith("epoch 0499 loss=0.5 ééé\nFINAL test_acc=0.93\n")
    head, tail = MARKER.split(text)[0], MARKER.split(text)[-1]
    limit, left_bytes, left_lines, tail_bytes = map(int, MARKER.search(text).groups())
    assert limit == 2000 and tail_bytes == len(tail.encode())
    assert head.endswith("\n") and tail.startswith("epoch ")
    kept = head.count("\n") + tail.count("\n")
    assert left_lines == 501 - kept
    assert (
        left_bytes
        == len("".join(f"epoch {i:04d} loss=0.5 ééé\n" for i in range(500)).encode())
        + len("FINAL test_acc=0.93\n")
        - len(head.encode())
        - tail_bytes
    )
    assert not (folder / "votakvot.output.log.tail").exists()
    assert capsys.readouterr().out.count("\n") == 501


def test_a_running_trial_past_the_cap_shows_its_latest_lines(capped: Path) -> None:
    """Readers join the head and the tail kept so far while the trial still runs."""
    release = threading.Event()

    @votakvot.track()
    def train():
        for i in range(500):
            print(f"epoch {i:04d}")
        print("LATEST so far")
        release.wait(30)

    thread = threading.Thread(target=train)
    thread.start()
    try:
        wait_for(lambda: list(capped.rglob("votakvot.yaml")))
        folder = str(the_folder(capped))
        wait_for(lambda: read_output(folder).endswith("LATEST so far\n"))
        text = read_output(folder)
        assert text.startswith("epoch 0000\n") and MARKER.search(text)
        assert Path(folder, "votakvot.output.log.tail").exists()
    finally:
        release.set()
        thread.join()
    # Nothing printed after the tail was written: the end still moves it into the file.
    assert not Path(folder, "votakvot.output.log.tail").exists()
    assert Path(folder, "output.log").read_text() == text


def test_capped_log_records_keep_head_and_tail_as_whole_records(tmp_path: Path) -> None:
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
    folder = the_folder(tmp_path)
    assert (folder / "log.jsonl").stat().st_size <= 3000
    logs = read_logs(str(folder))  # every line parses: no half record
    assert list(logs.message[:2]) == ["record 0", "record 1"]
    assert logs.message.iloc[-1] == "record 199"
    marker = logs[logs.logger == "votakvot"].message
    assert len(marker) == 1
    assert re.fullmatch(
        r"log\.jsonl reached capture_limit=3000 bytes: \d+ bytes \(\d+ records\) left out "
        r"here; the last \d+ bytes follow",
        marker.iloc[0],
    )
    assert len(logs) < 200


def test_a_capped_memory_root_keeps_head_and_tail() -> None:
    from votakvot.testing import isolated

    with isolated(capture_limit=2000):

        def f():
            for i in range(500):
                print(f"line {i}")

        trial = votakvot.run("in/memory", f)
        text = trial.output
        assert text.startswith("line 0\n") and text.endswith("line 499\n")
        assert MARKER.search(text)


SIGTERM_CHILD = """
import sys, time
import votakvot

votakvot.init(path=sys.argv[1], capture_limit=3000)

@votakvot.track()
def train():
    for i in range(2000):
        print(f"epoch {i} loss=0.5")
    print("FINAL test_acc=0.93", flush=True)
    sys.__stderr__.write("READY\\n")
    sys.__stderr__.flush()
    time.sleep(120)

train()
"""


def test_a_sigtermed_process_keeps_its_tail(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(SIGTERM_CHILD))
    results = tmp_path / "results"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(results)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline() == "READY\n"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    folder = the_folder(results)
    assert read_trial(str(folder)).state != "running"
    raw = (folder / "output.log").read_bytes()
    assert len(raw) <= 3000
    text = raw.decode()
    assert text.startswith("epoch 0 loss=0.5\n") and MARKER.search(text)
    assert text.endswith("epoch 1999 loss=0.5\nFINAL test_acc=0.93\n")
    assert not (folder / "votakvot.output.log.tail").exists()


def test_a_killed_runs_tail_is_added_on_resume_and_dropped_on_a_fresh_start(
    tmp_path: Path,
) -> None:
    from votakvot.capture import _hook
    from votakvot.testing import isolated

    marker = (
        b"[votakvot: output.log reached capture_limit=99 bytes: 5 bytes (1 lines) left out "
        b"here; the last 5 bytes follow]\n"
    )
    with isolated(str(tmp_path)):
        trial = _active.ActiveTrial("resumed", {})
        trial.storage.makedirs(trial.path)
        trial.storage.write_atomic(trial.file("output.log"), b"head\n")
        trial.storage.write_atomic(trial.file("votakvot.output.log.tail"), marker + b"tail\n")
        assert read_output(trial.url) == "head\n" + marker.decode() + "tail\n"
        _hook.on_start(trial)
        try:
            print("run 2")
        finally:
            _hook.on_end(trial)
        assert read_output(trial.url) == "head\n" + marker.decode() + "tail\nrun 2\n"
        assert not Path(trial.file("votakvot.output.log.tail")).exists()

        fresh = _active.ActiveTrial("fresh", {})
        fresh.storage.makedirs(fresh.path)
        fresh.storage.write_atomic(fresh.file("votakvot.output.log.tail"), marker + b"old\n")
        _hook.on_start(fresh)
        try:
            print("new")
        finally:
            _hook.on_end(fresh)
        assert read_output(fresh.url) == "new\n"
        assert not Path(fresh.file("votakvot.output.log.tail")).exists()


def test_a_resumed_run_of_a_full_file_keeps_its_own_tail(tmp_path: Path) -> None:
    """An earlier run filled the head and died mid-line: the new run's end is kept after
    a marker that starts a line of its own."""
    from votakvot.capture import _hook
    from votakvot.testing import isolated

    with isolated(str(tmp_path), capture_limit=1000):
        trial = _active.ActiveTrial("resumed", {})
        trial.storage.makedirs(trial.path)
        trial.storage.write_atomic(trial.file("output.log"), b"x" * 900)  # torn by a kill
        _hook.on_start(trial)
        try:
            for i in range(100):
                print(f"run 2 line {i}")
        finally:
            _hook.on_end(trial)
        text = read_output(trial.url)
        assert text.startswith("x" * 900 + "\n[votakvot: output.log reached capture_limit=1000")
        assert MARKER.search(text)
        assert text.endswith("run 2 line 98\nrun 2 line 99\n")
