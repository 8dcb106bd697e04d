"""Builds the hostile corpus of trial folders in a scratch directory.

The small cases are committed next to this file, one folder per kind; the ones
that are huge, or that git cannot hold (a symlink loop, a FIFO, an unreadable
folder, file names that are not UTF-8), are made here at test time. Each kind
lands in its own root together with one valid trial written by votakvot, so a
reader that stops at the bad item is caught by the good one going missing.

``KINDS`` says what a reader must do with each: ``skip`` it (and name it in a
message), ``list`` it, or ``either``; ``none`` means there is no trial to find.
``metrics`` kinds must also load their good rows through ``load_metrics`` and
name the bad file. Any path containing ``@MARKER@`` is where a code-running tag
would create a file if a reader ever executed it.

Run it by hand to look at the corpus: ``python tests/data/bad_trials/generate.py DEST``.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import shutil
import stat
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MARKER = "@MARKER@"
GOOD_TID = "good/trial"


@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind of bad input and what readers must do with it."""

    name: str
    what: str
    expect: str = "skip"
    """``skip``: not listed, named in a message; ``list``: listed; ``either``; ``none``."""
    metrics: bool = False
    """The trial's metric files are broken: ``load_metrics`` returns the good rows
    and names the bad file in a message."""
    generated: bool = False


KINDS: dict[str, Kind] = {
    k.name: k
    for k in [
        Kind("truncated_yaml", "votakvot.yaml cut in the middle of a line"),
        Kind("empty_yaml", "votakvot.yaml of 0 bytes"),
        Kind("whitespace_yaml", "votakvot.yaml of blank lines only"),
        Kind("binary_garbage", "4 KB of random bytes as votakvot.yaml"),
        Kind("invalid_utf8", "bytes that are not UTF-8 inside a value"),
        Kind("utf16_yaml", "a valid record encoded as UTF-16 with a BOM", "either"),
        Kind("yaml_bomb", "billion laughs: 9 levels of 9 aliases"),
        Kind("alias_cycle", "an alias that contains itself"),
        Kind("deep_nesting", "a value nested 990 levels deep", "either"),
        Kind("deep_nesting_over_limit", "a value nested 5000 levels deep"),
        Kind("tag_os_system", "!!python/object/apply:os.system", "list"),  # a placeholder
        Kind("tag_subprocess", "subprocess.check_output / Popen / run tags"),
        Kind("tag_exec_eval", "builtins.exec / eval and os.popen tags"),
        Kind("tag_name_module", "!!python/name, !!python/module, map(eval, ...)", "either"),
        Kind("tag_object_setstate", "__setstate__ and copyreg._reconstructor payloads", "list"),
        Kind("unknown_tags", "local, global and unknown !!python tags", "either"),
        Kind("top_level_list", "a YAML list instead of a mapping"),
        Kind("top_level_scalar", "a YAML string instead of a mapping"),
        Kind("missing_fields", "no tid, state, at, id", "either"),
        Kind("wrong_types", "every field of the wrong type (params is a string)", "either"),
        Kind("wrong_field_types", "a valid tid and state, at: true, params a string, info a "
             "list, meta an int", "list"),
        Kind("wrong_types_nested", "timestamps and meta of the wrong type", "either"),
        Kind("non_string_keys", "int/null/bool keys and an unhashable key"),
        Kind("non_string_keys_hashable", "int/null/bool/date/dotted/empty keys", "either"),
        Kind("duplicate_keys", "tid and params given twice", "either"),
        Kind("multi_document", "two YAML documents in one file"),
        Kind("fraction_exponent", "Fraction('1e999999999'): a billion-digit integer", "either"),
        Kind("big_int", "a 5000-digit integer (over Python's str->int limit)", "either"),
        Kind("bad_timestamps", "an explicit !!timestamp that is not a date", "either"),
        Kind("control_chars", "terminal escapes, NUL and bidi controls in values", "list"),
        Kind("markup_injection", "Rich/Textual markup in keys and values", "list"),
        Kind("metrics_ragged", "a metrics CSV with rows of 1 and 5 fields", "list", True),
        Kind("metrics_torn_last_line", "a metrics CSV whose last line was cut", "list", True),
        Kind("metrics_torn_header", "a metrics CSV cut inside its header", "list", True),
        Kind("metrics_garbage", "a metrics CSV of random bytes", "list", True),
        Kind("metrics_no_at", "a metrics CSV without the `at` column", "list"),
        Kind("metrics_non_numeric_at", "`at` values that are not numbers", "list", True),
        Kind("metrics_empty", "metrics CSVs of 0 bytes and header only", "list"),
        Kind("metrics_formula_injection", "spreadsheet formulas and newlines in cells", "list"),
        Kind("snapshot_not_votakvot", "a snapshot pickle whose __reduce__ runs os.system",
             "list", generated=True),
        Kind("snapshot_garbage", "a snapshot that is not a pickle", "list"),
        Kind("heartbeat_garbage", "a heartbeat of random text", "list"),
        Kind("heartbeat_odd_values", "a heartbeat of 1e308 and nan", "list"),
        Kind("traceback_binary", "a failed trial with a binary traceback and odd error", "list"),
        Kind("tmp_leftover_only", "only a half-written votakvot.yaml.*.tmp", "none"),
        Kind("attachment_like_own_files", "an attachment folder with its own votakvot.yaml",
             "list"),
        # made at test time
        Kind("huge_yaml_100mb", "a valid votakvot.yaml of 100 MB", "either", generated=True),
        Kind("huge_attachment_100mb", "a 100 MB attachment", "list", generated=True),
        Kind("symlink_loop", "symlinks to . and to each other inside and above a trial",
             "list", generated=True),
        Kind("yaml_symlink_loop", "votakvot.yaml is a symlink to itself", generated=True),
        Kind("yaml_dangling_symlink", "votakvot.yaml points nowhere", "either", generated=True),
        Kind("yaml_dev_zero", "votakvot.yaml is a symlink to /dev/zero (endless)",
             generated=True),
        Kind("yaml_fifo", "votakvot.yaml is a named pipe no one writes to", generated=True),
        Kind("yaml_is_directory", "votakvot.yaml is a folder", generated=True),
        Kind("metrics_is_directory", "a votakvot.metrics.00000.csv that is a folder", "list",
             True, generated=True),
        Kind("unreadable_folder", "a trial folder with mode 000", generated=True),
        Kind("unreadable_yaml", "a votakvot.yaml with mode 000", generated=True),
        Kind("non_utf8_names", "a trial folder and attachment whose names are not UTF-8",
             "either", generated=True),
        Kind("long_names", "folder names of 255 bytes, 14 levels deep", "list", generated=True),
    ]
}


@dataclasses.dataclass
class Case:
    """A kind made on disk: ``root`` holds the bad item and the good trial."""

    kind: Kind
    root: Path
    bad: Path
    """The bad trial folder (or the folder holding the bad item)."""


def write_good_trial(root: Path, tid: str = GOOD_TID) -> Path:
    """A valid trial with params, info, metrics and an attachment, written by votakvot."""
    from votakvot._active import ActiveTrial
    from votakvot._config import Config

    trial = ActiveTrial(
        tid, {"one": 1, "two": "b"}, function="hostile.good", config=Config(path=str(root))
    )
    trial.start()
    trial.inform({"note": "the good one"})
    trial.meter({"loss": 0.5, "step": 1})
    trial.meter({"loss": 0.25, "step": 2})
    with trial.attach("files/a.txt") as f:
        f.write("attached")
    trial.succeed(3)
    return root.joinpath(*tid.split("/"))


class _Evil:
    """Pickles to a call of os.system: a snapshot that must never be loaded by a reader."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return (os.system, (self.command,))


def _head(tid: str, state: str = "done") -> str:
    return (
        f'votakvot: "0.2.0"\nid: "00000000-0000-4000-8000-000000000042"\n'
        f"tid: {tid}\nstate: {state}\nfunction: hostile.fn\n"
        "at:\n  created: 2024-05-20 10:00:00+00:00\n  started: 2024-05-20 10:00:01+00:00\n"
    )


def _copy_static(src: Path, dest: Path, marker_dir: Path) -> None:
    shutil.copytree(src, dest)
    for path in dest.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if MARKER.encode() in data:
                path.write_bytes(data.replace(MARKER.encode(), str(marker_dir).encode()))


def _generate(kind: str, bad: Path, marker_dir: Path) -> None:
    """Make one generated kind's bad item in folder ``bad``."""
    bad.mkdir(parents=True, exist_ok=True)
    yaml_path = bad / "votakvot.yaml"
    if kind == "huge_yaml_100mb":
        with open(yaml_path, "w") as f:
            f.write(_head(kind) + "params: {x: 1}\nresult: 1\ninfo:\n  blob: ")
            chunk = "x" * (1 << 20)
            for _ in range(100):
                f.write(chunk)
            f.write("\n")
    elif kind == "huge_attachment_100mb":
        yaml_path.write_text(_head(kind) + "params: {x: 1}\nresult: 1\n")
        with open(bad / "big.bin", "wb") as f:
            f.truncate(100 << 20)  # sparse: costs no disk, reads as 100 MB of zeros
    elif kind == "snapshot_not_votakvot":
        (bad / "votakvot.snapshot.pkl").write_bytes(
            pickle.dumps(_Evil(f"touch {marker_dir}/snapshot_pickle"), protocol=2)
        )
    elif kind == "symlink_loop":
        yaml_path.write_text(_head(kind) + "params: {x: 1}\nresult: 1\n")
        os.symlink(".", bad / "self")
        os.symlink("b", bad / "a")
        os.symlink("a", bad / "b")
        os.symlink("..", bad / "up")
        os.symlink(str(bad.parent), bad.parent / "root_again")
    elif kind == "yaml_symlink_loop":
        os.symlink("votakvot.yaml", yaml_path)
    elif kind == "yaml_dangling_symlink":
        os.symlink("/nonexistent/votakvot.yaml", yaml_path)
    elif kind == "yaml_dev_zero":
        os.symlink("/dev/zero", yaml_path)
    elif kind == "yaml_fifo":
        os.mkfifo(yaml_path)
    elif kind == "yaml_is_directory":
        (yaml_path / "inner").mkdir(parents=True)
    elif kind == "metrics_is_directory":
        yaml_path.write_text(_head(kind, "running") + "params: {x: 1}\n")
        (bad / "votakvot.metrics.00000.csv").mkdir()
        (bad / "votakvot.metrics.00001.csv").write_text(
            "at,loss,step\n1716199200.0,0.5,1\n1716199201.0,0.25,2\n"
        )
    elif kind == "unreadable_folder":
        yaml_path.write_text(_head(kind) + "params: {x: 1}\nresult: 1\n")
        bad.chmod(0)
    elif kind == "unreadable_yaml":
        yaml_path.write_text(_head(kind) + "params: {x: 1}\nresult: 1\n")
        yaml_path.chmod(0)
    elif kind == "non_utf8_names":
        folder = os.path.join(os.fsencode(bad), b"trial-\xff\xfe-caf\xe9")
        os.makedirs(folder)
        with open(os.path.join(folder, b"votakvot.yaml"), "w") as f:
            f.write(_head("non_utf8_names/trial") + "params: {x: 1}\nresult: 1\n")
        with open(os.path.join(folder, b"attached-\xff.txt"), "wb") as fb:
            fb.write(b"\xff\xfe")
    elif kind == "long_names":
        path = os.fsencode(bad)
        for i in range(14):
            path = os.path.join(path, (b"%02d" % i) + b"n" * 253)
        os.makedirs(path)
        with open(os.path.join(path, b"votakvot.yaml"), "w") as f:
            f.write(_head("long_names/deep") + "params: {x: 1}\nresult: 1\n")
    else:
        raise ValueError(f"no generator for kind {kind!r}")


def build(dest: Path, marker_dir: Path, kinds: list[str] | None = None) -> list[Case]:
    """Make every kind (or those named) under ``dest/<kind>/``, each beside a good trial.

    Args:
        dest: an empty or missing folder.
        marker_dir: where an executed payload would leave a file.
    """
    dest.mkdir(parents=True, exist_ok=True)
    marker_dir.mkdir(parents=True, exist_ok=True)
    template = dest / ".good-template"
    if not template.exists():
        write_good_trial(template)
    cases = []
    for name in kinds or list(KINDS):
        kind = KINDS[name]
        root = dest / name
        bad = root / "bad" / name
        shutil.copytree(template, root)
        static = HERE / name
        if static.is_dir():
            bad.parent.mkdir(parents=True, exist_ok=True)
            _copy_static(static, bad, marker_dir)
        if kind.generated:
            _generate(name, bad, marker_dir)
        cases.append(Case(kind, root, bad))
    return cases


def make_readable(dest: Path) -> None:
    """Give back permissions taken by ``unreadable_*`` kinds so the folder can be removed."""
    for dirpath, dirnames, _ in os.walk(dest):
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, stat.S_IRWXU)
    for path in dest.rglob("votakvot.yaml"):
        if path.is_file() and not path.is_symlink():
            path.chmod(stat.S_IRUSR | stat.S_IWUSR)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bad-trials-corpus")
    made = build(out, out / ".markers")
    print(f"{len(made)} kinds in {out}")
