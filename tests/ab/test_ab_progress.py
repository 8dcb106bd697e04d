"""The live progress line and the status it shows."""

from __future__ import annotations

import io
from pathlib import Path

from votakvot.ab.progress import Progress, fmt_seconds


def test_line_for_number_and_duration_modes() -> None:
    """The line shows done/total (or elapsed/duration), calls/s, errors, p50 and p99,
    rewritten in place and cleared at the end."""
    stream = io.StringIO()
    progress = Progress(None, stream)
    status = {"total": 1000, "done": 250, "errors": 3, "rate_now": 12345.6,
              "p50": 0.0012, "p99": 0.0201, "elapsed": 1.0, "duration": None}  # fmt: skip
    progress.update(status)
    text = stream.getvalue()
    assert text.startswith("\r")
    for part in ("250/1,000 (25%)", "12,346 calls/s", "errors 3", "p50 1.20 ms", "p99 20.10 ms"):
        assert part in text
    timed = dict(status, total=None, duration=30.0, elapsed=65.0)
    assert progress.render(timed).startswith("1:05/30.0s 250 calls")
    progress.clear()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_units() -> None:
    """Latencies are shown in the unit that reads best."""
    assert fmt_seconds(None) == "-"
    assert fmt_seconds(250e-9) == "250 ns"
    assert fmt_seconds(3.45e-6) == "3.5 us"
    assert fmt_seconds(0.0123) == "12.30 ms"
    assert fmt_seconds(2.5) == "2.500 s"


def test_no_progress_line_when_not_a_terminal(workdir: Path, ab) -> None:
    """With output to a pipe there is no progress line, only the banner and report."""
    out = ab("-d", "0.6", "mods.slow", cwd=workdir)
    assert out.returncode == 0, out.stderr
    assert "\r" not in out.stderr and "\r" not in out.stdout
    assert out.stderr.startswith("votakvot-ab: mods.slow(), 0.6 s, 1 thread")
