"""Finding the callable and parsing its KEY=VALUE arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from votakvot.ab.target import UsageError, parse_kwargs, resolve


def test_values_are_literals_or_strings() -> None:
    """Literals parse as Python values; anything else stays the string it was."""
    got = parse_kwargs(["n=10", "x=1.5", "s='10'", "url=http://example.com", "v=None",
                        "xs=[1, 2]", "e=", "expr=__import__('os')"])  # fmt: skip
    assert got == {
        "n": 10, "x": 1.5, "s": "10", "url": "http://example.com", "v": None,
        "xs": [1, 2], "e": "", "expr": "__import__('os')",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["novalue"], "'novalue' is not KEY=VALUE"),
        (["1x=2"], "'1x' is not a valid Python argument name"),
        (["a=1", "a=2"], "argument 'a' is given twice"),
    ],
)
def test_bad_arguments(items: list[str], message: str) -> None:
    """Each malformed argument is refused with a message naming it."""
    with pytest.raises(UsageError, match=message):
        parse_kwargs(items)


def test_module_attr_from_the_current_directory(workdir: Path) -> None:
    """``mods.noop`` is found in the current directory; its name is recorded."""
    target = resolve("mods.noop")
    assert target.obj() is None
    assert target.name == "mods.noop"
    assert not target.is_class


def test_file_path_spec(tmp_path: Path) -> None:
    """``path/to/file.py:attr`` loads the file, whatever the current directory."""
    sub = tmp_path / "deep"
    sub.mkdir()
    (sub / "filetarget_xyz.py").write_text("def f():\n    return 7\n")
    target = resolve(f"{sub}/filetarget_xyz.py:f")
    assert target.obj() == 7
    assert target.short == "filetarget_xyz.f"


def test_class_made_per_worker_with_close(workdir: Path) -> None:
    """A class is instantiated by ``make`` with the arguments; close() is handed back."""
    target = resolve("mods.Counter")
    call, close = target.make({"start": 5})
    assert call() == "tick" and call.n == 6
    assert close is not None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nosuchmod_q.f", "no module named 'nosuchmod_q'"),
        ("mods.noopp", "'mods' has no attribute 'noopp'; did you mean 'noop'?"),
        ("mods.NOT_CALLABLE", "mods.NOT_CALLABLE is not callable (it is the int 42)"),
        ("mods", "'mods' names no attribute; write module.attr"),
        ("./nofile.py:f", "no file './nofile.py'"),
        ("mods.Counter.nope", "'mods.Counter' has no attribute 'nope'"),
    ],
)
def test_resolution_mistakes(workdir: Path, spec: str, message: str) -> None:
    """Every way of naming a callable wrongly gives one line that says what is wrong."""
    with pytest.raises(UsageError) as info:
        resolve(spec)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_module_that_fails_to_import(workdir: Path) -> None:
    """A module raising at import is reported with the error and where it happened."""
    (workdir / "broken_mod_q.py").write_text("x = 1\nraise ImportError('needs a db')\n")
    with pytest.raises(UsageError, match=r"importing module 'broken_mod_q' failed: ImportError: "
                       r"needs a db \(.*broken_mod_q.py, line 2\)"):  # fmt: skip
        resolve("broken_mod_q.f")


def test_arguments_checked_against_the_signature(workdir: Path) -> None:
    """Arguments the callable cannot take are refused before anything runs."""
    resolve("mods.add").check_arguments({"a": 1})
    with pytest.raises(
        UsageError, match="cannot take a=1, c=3: got an unexpected keyword argument"
    ):
        resolve("mods.add").check_arguments({"a": 1, "c": 3})
    with pytest.raises(UsageError, match="constructor"):
        resolve("mods.Counter").check_arguments({"bogus": 1})
