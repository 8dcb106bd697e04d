"""The ``votakvot`` command: reports, single trials and metrics from the shell.

Exit codes, for scripts:

* ``0``: done;
* ``1``: ``report`` found no trials (or the query matched none), ``show --output``/``--logs``
  found nothing captured;
* ``2``: the command line is wrong (unknown option or column, bad query, bad tag);
* ``3``: the trial or path cannot be read (not found, unreadable record, missing package).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .exceptions import MissingDependencyError, TrialLoadError
from .layout import YAML_NAME
from .storage import redact

if TYPE_CHECKING:
    import pandas

__all__ = ["add_storage_option", "main"]

OK, EMPTY, USAGE, UNREADABLE = 0, 1, 2, 3


class _Exit(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="votakvot",
        description="Read back trials recorded by votakvot.",
        epilog="Exit codes: 0 done, 1 nothing found, 2 bad command line, 3 cannot read.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    report = commands.add_parser(
        "report",
        help="print one row per trial",
        description="Print one row per trial found at or below PATH (a folder, a glob "
        "with * and **, or an fsspec URL such as sftp://host/dir).",
    )
    report.add_argument("path", nargs="?", default=".", metavar="PATH")
    add_storage_option(report)
    report.add_argument("--full", action="store_true", help="add ids, timestamps, meta.*")
    _add_format(report)
    report.add_argument(
        "--query",
        "-q",
        metavar="EXPR",
        help="keep rows matching a pandas query, e.g. \"state == 'done' and result > 3\"; "
        "dotted names (result.x) may be written as they are",
    )
    report.add_argument(
        "--columns",
        "-c",
        nargs="+",
        metavar="NAME",
        help="columns to print, in order (space or comma separated)",
    )
    report.add_argument(
        "--attempts",
        action="store_true",
        help="also show earlier attempts of calls that were run again (state superseded)",
    )
    report.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 3) when anything is skipped: an unreadable trial, a folder that "
        "cannot be listed, a record that is not a regular file",
    )
    report.add_argument(
        "--no-cache",
        action="store_true",
        help="read every record; neither use nor update the warm index of unchanged "
        "rows kept in ~/.cache/votakvot ($VOTAKVOT_CACHE_DIR)",
    )

    show = commands.add_parser(
        "show",
        help="print one trial's votakvot.yaml",
        description="Print the record of one trial, given its folder, URL or tid.",
    )
    _add_trial(show)
    what = show.add_mutually_exclusive_group()
    what.add_argument("--output", action="store_true", help="print what the call printed")
    what.add_argument("--logs", action="store_true", help="print the logging records it emitted")

    metrics = commands.add_parser(
        "metrics",
        help="print one trial's metrics",
        description="Print every metric row of one trial, given its folder, URL or tid.",
    )
    _add_trial(metrics)
    _add_format(metrics)

    tag = commands.add_parser(
        "tag",
        help="tag a trial or write its note, after the fact",
        description="Add tags to one trial (given its folder, URL or tid), remove tags, "
        "set its note; prints the trial's tags and note as they are then. Written to "
        "the trial's votakvot.annotations.yaml; its votakvot.yaml is never changed.",
        epilog='example: votakvot tag TID best -r bad-seed --note "lr 0.1 wins"',
    )
    _add_trial(tag)
    tag.add_argument("tags", nargs="*", metavar="TAG", help="tags to add (a comma list works too)")
    tag.add_argument(
        "--remove",
        "-r",
        action="append",
        default=[],
        metavar="TAG",
        help="a tag to remove (repeatable, or a comma list)",
    )
    tag.add_argument("--note", "-n", metavar="TEXT", help='the new note; --note "" clears it')
    return parser


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        "-f",
        choices=("table", "csv", "json"),
        default="table",
        help="output format (default: table)",
    )


def _add_trial(parser: argparse.ArgumentParser) -> None:
    """The trial of ``show`` and ``metrics``: a folder, URL or tid, and where tids are."""
    parser.add_argument("trial", metavar="TID_OR_PATH")
    parser.add_argument(
        "--root",
        default=".",
        metavar="PATH",
        help="where a tid is looked up (default: the current folder)",
    )
    add_storage_option(parser)


def add_storage_option(parser: argparse.ArgumentParser) -> None:
    """``--storage-option/-o KEY=VALUE`` (repeatable) into ``args.storage_options``,
    a list of ``(key, value)``: the one spelling of the option (CLI, dashboard)."""
    parser.add_argument(
        "--storage-option",
        "-o",
        action="append",
        default=[],
        type=_storage_option,
        metavar="KEY=VALUE",
        dest="storage_options",
        help="an option of the fsspec filesystem (credentials, endpoints), e.g. "
        "-o anon=True -o endpoint_url=http://localhost:9000; repeatable; a value "
        "that is a Python literal (True, 3, {...}) is read as one, else as text",
    )


def _storage_option(text: str) -> tuple[str, Any]:
    """``"key=value"`` -> ``(key, value)`` (see :func:`votakvot.storage.parse_option`)."""
    from .storage import parse_option

    try:
        return parse_option(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _options(args: argparse.Namespace) -> dict[str, Any] | None:
    return dict(args.storage_options) or None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # `tag TID --root R best`: tags after options are tags too
        if args.command != "tag" or any(e.startswith("-") for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.tags += extra
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if args.command == "report":
                code = _report(args)
            elif args.command == "show":
                code = _show(args)
            elif args.command == "tag":
                code = _tag(args)
            else:
                code = _metrics(args)
        except _Exit as exc:
            _say(exc.message)
            code = exc.code
        except (TrialLoadError, MissingDependencyError, FileNotFoundError) as exc:
            _say(str(exc))
            code = UNREADABLE
        except BrokenPipeError:
            code = OK  # `votakvot report | head`: the reader had enough
        except Exception as exc:
            from ._store_errors import store_error

            cause = store_error(exc)
            if cause is None:
                raise  # not the store: a bug, with its traceback
            where = getattr(args, "path", None) or getattr(args, "trial", "")
            _say(f"cannot read {where}: {type(cause).__name__}: {cause}")
            code = UNREADABLE
        finally:
            for warning in caught:
                _say(f"warning: {warning.message}")
    return code


def _say(message: str) -> None:
    """A line on stderr; characters it cannot encode (odd file names) become escapes."""
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    text = f"votakvot: {redact(message)}\n"  # URLs named in messages lose their password
    text = text.encode(encoding, "backslashreplace").decode(encoding)
    sys.stderr.write(text)


_DEPTH = 4
"""Levels of nested lists/dicts a printed cell shows before ``...``."""
_ITEMS = 20
"""Items of a list/dict a printed cell shows before ``...``."""
_BIG_INT_BITS = 14_000
"""Ints longer than this print as their size: Python refuses str() past 4,300 digits."""


def _text(value: Any, depth: int = 0) -> str:
    """A bounded, never-recursing-deeply text of a cell value."""
    if isinstance(value, dict):
        if depth >= _DEPTH:
            return "{...}"
        items = [f"{_text(k, _DEPTH)}: {_text(v, depth + 1)}" for k, v in _head(value.items())]
        more = ", ..." if len(value) > _ITEMS else ""
        return "{" + ", ".join(items) + more + "}"
    if isinstance(value, (list, tuple, set, frozenset)):
        open_, close = ("(", ")") if isinstance(value, tuple) else ("[", "]")
        if depth >= _DEPTH:
            return f"{open_}...{close}"
        items = [_text(v, depth + 1) for v in _head(value)]
        more = ", ..." if len(value) > _ITEMS else ""
        return open_ + ", ".join(items) + more + close
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > _BIG_INT_BITS:
            return f"<int of {value.bit_length()} bits>"
        return str(value)
    if isinstance(value, str):
        text = value if depth == 0 else repr(value)
    else:
        text = str(value) if depth == 0 else repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _head(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if len(out) == _ITEMS:
            break
        out.append(item)
    return out


def _cell(value: Any) -> Any:
    """Containers, bytes and huge ints as bounded text; other values left to pandas."""
    if isinstance(value, (dict, list, tuple, set, frozenset, bytes)) or (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value.bit_length() > _BIG_INT_BITS
    ):
        return _text(value)
    return value


def _jsonable(value: Any, depth: int = 0) -> Any:
    """A value ``json`` writes as it is: containers kept (to a depth), the rest plain."""
    import datetime
    import math

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 63 else _text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        if depth >= 32:
            return _text(value)
        return {_text(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        if depth >= 32:
            return _text(value)
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if _missing(value):
        return None
    if hasattr(value, "item") and not isinstance(value, bytes):  # numpy scalars
        try:
            return _jsonable(value.item(), depth)
        except (TypeError, ValueError):
            pass
    return _text(value)


def _missing(value: Any) -> bool:
    import pandas

    try:
        return bool(pandas.isna(value))
    except (TypeError, ValueError):
        return False


def _write(text: str) -> None:
    """Write to stdout; characters it cannot encode (odd file names) become escapes."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    sys.stdout.write(text.encode(encoding, "backslashreplace").decode(encoding))


def _emit(frame: pandas.DataFrame, fmt: str) -> None:
    import json

    import pandas

    if fmt == "json":
        names = [str(c) for c in frame.columns]
        for values in frame.itertuples(index=False, name=None):
            row = dict(zip(names, (_jsonable(v) for v in values)))
            _write(json.dumps(row, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return
    frame = frame.copy()
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = frame[name].map(_cell)
    if fmt == "csv":
        _write(frame.to_csv(index=False))
    else:
        width = shutil.get_terminal_size((200, 24)).columns
        with pandas.option_context("display.width", width, "display.max_colwidth", 60):
            _write(frame.to_string(index=False) + "\n")
    sys.stdout.flush()


def _report(args: argparse.Namespace) -> int:
    from .report import load_report, query

    frame = load_report(
        args.path,
        full=args.full,
        safe=not args.strict,
        storage_options=_options(args),
        attempts=args.attempts,
        cache=not args.no_cache,
    )
    if args.query:
        try:
            frame = query(frame, args.query)
        except Exception as exc:  # pandas raises many kinds for a bad expression
            raise _Exit(USAGE, f"bad --query {args.query!r}: {type(exc).__name__}: {exc}") from exc
    if args.columns:
        names = [c for arg in args.columns for c in arg.split(",") if c]
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise _Exit(
                USAGE,
                f"no column {', '.join(map(repr, missing))}; "
                f"columns: {', '.join(map(str, frame.columns))}",
            )
        frame = frame[names]
    if frame.empty:
        where = "matching the query " if args.query else ""
        _say(f"no trials {where}at {args.path}")
        return EMPTY
    _emit(frame, args.format)
    return OK


def _trial(args: argparse.Namespace) -> Any:
    from .reading import read_trial, resolve_trial_path

    options = _options(args)
    folder = resolve_trial_path(args.trial, root=args.root, storage_options=options)
    trial = read_trial(folder, options)
    if trial is None:
        raise FileNotFoundError(f"no trial at {redact(folder)!r}: it has no {YAML_NAME}")
    return trial


def _show(args: argparse.Namespace) -> int:
    from .capture import read_logs, read_output

    trial = _trial(args)
    if args.output or args.logs:
        try:
            if args.output:
                text = read_output(trial)
                if not text:
                    raise _Exit(EMPTY, f"trial {trial.tid!r} has no captured output")
                _write(text if text.endswith("\n") else text + "\n")
            else:
                logs = read_logs(trial)
                if logs is None or len(logs) == 0:
                    raise _Exit(EMPTY, f"trial {trial.tid!r} has no captured logs")
                _emit(logs, "table")
        except NotImplementedError as exc:
            raise _Exit(EMPTY, f"captured output cannot be read by this version: {exc}") from None
        return OK
    raw = trial._read_own(YAML_NAME) or b""
    state = trial.state
    if state != trial.recorded_state:
        beat = trial.heartbeat
        since = f"last heartbeat {beat:%Y-%m-%d %H:%M:%S%z}" if beat else "it never beat"
        _write(f"# state now: {state} ({since})\n")
    annotations = trial.annotations  # a bad sidecar is warned about on stderr
    if annotations.tags:
        _write(f"# tags: {', '.join(annotations.tags)}\n")
    for n, line in enumerate(annotations.note.splitlines()):
        _write(f"# {'note: ' if n == 0 else '      '}{line}\n")
    _write(raw.decode("utf-8", errors="replace"))
    sys.stdout.flush()
    return OK


def _tag(args: argparse.Namespace) -> int:
    from .annotations import annotate, split_tags

    try:
        add = [t for text in args.tags for t in split_tags(text)]
        remove = [t for text in args.remove for t in split_tags(text)]
    except ValueError as exc:
        raise _Exit(USAGE, str(exc)) from None
    if not add and not remove and args.note is None:
        raise _Exit(USAGE, "nothing to do: give tags to add, --remove TAG or --note TEXT")
    trial = _trial(args)
    try:
        done = annotate(trial, tags=add, note=args.note, remove_tags=remove)
    except ValueError as exc:
        raise _Exit(USAGE, str(exc)) from None
    _write(f"{trial.tid}\ntags: {', '.join(done.tags) or '-'}\nnote: {done.note or '-'}\n")
    sys.stdout.flush()
    return OK


def _metrics(args: argparse.Namespace) -> int:
    from .metrics import load_metrics

    trial = _trial(args)
    frame = load_metrics(trial)
    if frame.empty:
        _say(f"trial {trial.tid!r} has no metrics")
        return EMPTY
    _emit(frame, args.format)
    return OK


if __name__ == "__main__":
    sys.exit(main())
