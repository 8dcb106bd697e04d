"""``votakvot-ab`` as a command: user mistakes, the README's examples under gevent,
processes, and Ctrl-C. Each runs in its own process (gevent patches the whole process).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from votakvot.trial import read_trial

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))

README_MODULE = """
try:
    import requests
except ImportError:  # the same calls through the standard library
    requests = None
    import urllib.request

URL = "{url}"


def get_example():
    if requests is not None:
        return requests.get(URL).status_code
    with urllib.request.urlopen(URL) as r:
        return r.status


class HttpGet:
    def __init__(self, url):
        self.url = url
        self.session = requests.Session() if requests is not None else None

    def __call__(self):
        if self.session is not None:
            return self.session.get(self.url).status_code
        with urllib.request.urlopen(self.url) as r:
            return r.status
"""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchmod_q.f"], "no module named 'nosuchmod_q'"),
        (["mods.noopp"], "'mods' has no attribute 'noopp'; did you mean 'noop'?"),
        (["mods.NOT_CALLABLE"], "mods.NOT_CALLABLE is not callable"),
        (["mods.add", "a"], "argument 'a' is not KEY=VALUE"),
        (["mods.add", "c=1"], "cannot take c=1"),
        (["-n", "0", "mods.noop"], "-n/--number must be >= 1 (got 0)"),
        (["-n", "x", "mods.noop"], "argument -n/--number: expected a whole number (got 'x')"),
        (["-n", "5", "-d", "1", "mods.noop"], "not allowed with argument -n/--number"),
        (["-c", "0", "mods.noop"], "-c/--concurrency must be >= 1 (got 0)"),
        (["-q", "-3", "mods.noop"], "-q/--rate must be > 0"),
        (["-w", "abc", "mods.noop"], "expected a number of calls (100) or seconds (2s)"),
        (["--processes", "3", "-c", "2", "mods.noop"], "--processes 3 needs at least as many"),
        (["--bogus", "mods.noop"], "unrecognized arguments: --bogus"),
        ([], "the following arguments are required: CALLABLE"),
    ],
)
def test_user_mistakes_print_one_line_and_exit_2(workdir: Path, ab, args, message) -> None:
    """Each mistake: exit status 2, one line on stderr naming it, no traceback."""
    out = ab(*args, cwd=workdir)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("votakvot-ab: error: ")
    assert message in lines[0]
    assert "Traceback" not in out.stderr
    assert not (workdir / "ab").exists()


def test_help_explains_with_examples(workdir: Path, ab) -> None:
    """--help lists every option and shows examples, compare and exit statuses."""
    out = ab("--help", cwd=workdir)
    assert out.returncode == 0
    for text in ("--gevent", "--processes", "--rate", "--warmup", "--strict", "--max-errors",
                 "--json", "--quiet", "--tid", "--path", "KEY=VALUE", "examples:",
                 "compare", "Exit status"):  # fmt: skip
        assert text in out.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--gevent", "-n500", "-1200", "my_module.get_example"],
        ["--gevent", "-n500", "-c100", "my_module.get_example"],
        ["-g", "-n500", "-c100", "my_module.HttpGet", "url={url}"],
    ],
)
def test_readme_examples_under_gevent(tmp_path: Path, ab, http_url: str, args) -> None:
    """The README's commands work as written against a local server: 500 calls, all 200."""
    (tmp_path / "my_module.py").write_text(README_MODULE.format(url=http_url))
    args = [a.format(url=http_url) for a in args]
    out = ab(*args, "--json", cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["count"] == 500 and summary["errors"] == 0
    assert summary["results"] == [{"value": 200, "count": 500}]
    trial = read_trial(summary["trial"])
    assert trial is not None and trial.params["engine"] == "gevent"


def test_gevent_refused_when_threads_already_run(workdir: Path) -> None:
    """--gevent in a process that already started threads fails with a clear line."""
    code = (
        "import threading, time, sys\n"
        "threading.Thread(target=time.sleep, args=(5,), daemon=True).start()\n"
        "from votakvot.ab.cli import main\n"
        "sys.exit(main(['-g', 'mods.noop']))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, timeout=60,
        env=ENV,
    )  # fmt: skip
    assert out.returncode == 2
    assert "--gevent must patch the standard library before any thread starts" in out.stderr
    assert "Traceback" not in out.stderr


def test_processes_spread_and_merge(workdir: Path, ab) -> None:
    """--processes runs the workers in several processes and merges their histograms."""
    out = ab("-n", "2001", "-c", "4", "--processes", "2", "--json", "mods.Counter", cwd=workdir)
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["count"] == 2001 and s["results"] == [{"value": "tick", "count": 2001}]
    trial = read_trial(s["trial"])
    assert trial is not None and trial.params["processes"] == 2


def test_processes_in_duration_and_rate_mode(workdir: Path, ab) -> None:
    """Rate mode over processes: the slots interleave and the total rate is kept."""
    out = ab("-d", "1", "-q", "100", "-c", "2", "--processes", "2", "--json", "mods.noop",
             cwd=workdir)  # fmt: skip
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert 95 <= s["count"] <= 102


def test_gevent_duration_mode(workdir: Path, ab) -> None:
    """Greenlets in duration mode with a sleeping callable (patched time.sleep)."""
    out = ab("-g", "-d", "0.5", "-c", "50", "--json", "mods.slow", "ms=10", cwd=workdir)
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    # 50 greenlets sleeping 10 ms each for 0.5 s: far more than one thread could do
    assert s["count"] > 500


@pytest.mark.parametrize("engine", [[], ["--gevent"]])
def test_ctrl_c_keeps_partial_results(workdir: Path, engine: list[str]) -> None:
    """SIGINT stops the run early: the results so far are printed, the trial is
    interrupted with its summary, and the status file said running before."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "votakvot.ab", "-d", "60", "-c", "2", "-p", "res",
         "-t", "sig", *engine, "mods.slow", "ms=2"],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=ENV,
    )  # fmt: skip
    status_file = workdir / "res" / "sig" / "ab.status.json"
    try:
        deadline = time.monotonic() + 30
        running = None
        while time.monotonic() < deadline:
            if status_file.exists():
                running = json.loads(status_file.read_text())
                if running["done"] > 0:
                    break
            time.sleep(0.05)
        assert running is not None and running["state"] == "running"
        assert running["pid"] == proc.pid and running["tid"] == "sig"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Summary:" in out and "(interrupted)" in out
    trial = read_trial(str(workdir / "res" / "sig"))
    assert trial is not None and trial.state == "interrupted"
    assert trial.data["result"]["count"] > 0
    assert trial.data["result"]["stopped"] == "interrupted"
    assert json.loads(status_file.read_text())["state"] == "interrupted"


def test_ctrl_c_with_processes(workdir: Path) -> None:
    """SIGINT to the parent of --processes stops the children and merges what they did."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "votakvot.ab", "-d", "60", "-c", "2", "--processes", "2",
         "-p", "res", "-t", "sigp", "mods.slow", "ms=2"],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=ENV,
    )  # fmt: skip
    status_file = workdir / "res" / "sigp" / "ab.status.json"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if status_file.exists() and json.loads(status_file.read_text())["done"] > 0:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    trial = read_trial(str(workdir / "res" / "sigp"))
    assert trial is not None and trial.state == "interrupted"
    assert trial.data["result"]["count"] > 0


def test_shipped_example_module(tmp_path: Path, ab, http_url: str) -> None:
    """examples/ab/my_module.py (the README's module) runs under gevent against a
    local server when requests is installed."""
    pytest.importorskip("requests")
    example = ROOT / "examples" / "ab"
    env = {"EXAMPLE_URL": http_url}
    for args in (["my_module.get_example"], ["my_module.HttpGet", f"url={http_url}"]):
        out = ab("-g", "-n", "200", "-c", "20", "--json", "-p", str(tmp_path), *args,
                 cwd=example, env=env)  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["results"] == [{"value": 200, "count": 200}]


def test_gevent_in_processes(workdir: Path, ab) -> None:
    """--gevent with --processes: each child patches itself before importing the module,
    and the greenlets of both children are counted."""
    out = ab("-g", "-d", "0.5", "-c", "20", "--processes", "2", "--json", "mods.slow", "ms=5",
             cwd=workdir)  # fmt: skip
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["count"] > 500  # 20 greenlets x 0.5 s / 5 ms = 2000; 2 threads would do 200
