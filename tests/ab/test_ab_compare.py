"""``votakvot-ab compare``: deltas, verdict and CI gates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from votakvot.ab.cli import main
from votakvot.ab.compare import CompareError, compare, parse_gate


def summary(rate: float, p99: float, errors: int = 0) -> dict:
    lat = {k: p99 / 2 for k in ("min", "mean", "stdev", "max", "p50", "p75", "p90", "p95")}
    lat.update({"p99": p99, "p99.9": p99, "p99.99": p99, "p50": p99 / 4})
    return {"count": 1000, "errors": errors, "rate": rate, "latency": lat}


def test_gates_pass_and_fail() -> None:
    """``p99:+5%`` fails only when B's p99 is more than 5 % above A's; ``rate:-10%``
    when calls/s fell by more than 10 %; absolute limits carry a unit."""
    a = summary(rate=1000, p99=0.010)
    b = summary(rate=950, p99=0.0104)
    gates = [parse_gate("p99:+5%"), parse_gate("rate:-10%"), parse_gate("p99:+0.3ms")]
    result = compare(a, b, gates)
    assert [g["passed"] for g in result["gates"]] == [True, True, False]
    worse = compare(a, summary(rate=800, p99=0.02), gates)
    assert [g["passed"] for g in worse["gates"]] == [False, False, False]
    assert worse["verdict"].startswith("B is slower")
    assert compare(a, summary(rate=2000, p99=0.005), [])["verdict"].startswith("B is faster")
    assert compare(a, a, [])["verdict"].startswith("no difference")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p98:+5%", "METRIC one of"),
        ("p99:5%", "needs a sign"),
        ("p99:+5", "give a unit"),
        ("rate:+5ms", "not a latency"),
    ],
)
def test_bad_gates(text: str, message: str) -> None:
    """A malformed gate is refused with what is expected."""
    with pytest.raises(CompareError, match=message):
        parse_gate(text)


def test_compare_command(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two recorded runs compared by tid: table and verdict, exit 1 on a failed gate,
    2 for an unknown trial; --json gives the same as data."""
    assert main(["-p", "res", "-t", "base", "-n", "200", "--quiet", "mods.slow", "ms=1"]) == 0
    assert main(["-p", "res", "-t", "new", "-n", "200", "--quiet", "mods.noop"]) == 0
    capsys.readouterr()
    assert main(["compare", "-p", "res", "base", "new", "--fail-if", "p99:+5%"]) == 0
    out = capsys.readouterr().out
    assert "verdict: B is faster" in out and "gate p99:+5%: ok" in out
    assert main(["compare", "-p", "res", "new", "base", "--fail-if", "p99:+5%"]) == 1
    assert "FAILED" in capsys.readouterr().out
    assert main(["compare", "-p", "res", "base", str(workdir / "res" / "new"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["a"] == "base" and data["b"] == "new"
    assert main(["compare", "-p", "res", "base", "nope"]) == 2
    assert "no trial 'nope'" in capsys.readouterr().err


def test_trials_found_by_uuid(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial can be named by the uuid at the end of its default tid."""
    for _ in range(2):
        assert main(["-p", "res", "-n", "20", "--quiet", "mods.noop"]) == 0
    capsys.readouterr()
    a, b = sorted(p.name for p in (workdir / "res").glob("ab/*/*/*/*"))
    assert main(["compare", "-p", "res", a, b]) == 0
    assert f"/{a} (done)" in capsys.readouterr().out
