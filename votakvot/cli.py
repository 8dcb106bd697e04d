"""The ``votakvot`` command: reports, single trials and metrics from the shell.

Exit codes, for scripts:

* ``0``: done;
* ``1``: ``report`` found no trials (or the query matched none), ``show --output``/``--logs``
  found nothing captured;
* ``2``: the command line is wrong (unknown option or column, bad query);
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

if TYPE_CHECKING:
    import pandas

__all__ = ["main"]

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
        "--strict", action="store_true", help="fail on an unreadable trial instead of skipping it"
    )

    show = commands.add_parser(
        "show",
        help="print one trial's votakvot.yaml",
        description="Print the record of one trial, given its folder, URL or tid.",
    )
    show.add_argument("trial", metavar="TID_OR_PATH")
    _add_root(show)
    what = show.add_mutually_exclusive_group()
    what.add_argument("--output", action="store_true", help="print what the call printed")
    what.add_argument("--logs", action="store_true", help="print the logging records it emitted")

    metrics = commands.add_parser(
        "metrics",
        help="print one trial's metrics",
        description="Print every metric row of one trial, given its folder, URL or tid.",
    )
    metrics.add_argument("trial", metavar="TID_OR_PATH")
    _add_root(metrics)
    _add_format(metrics)
    return parser


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        "-f",
        choices=("table", "csv", "json"),
        default="table",
        help="output format (default: table)",
    )


def _add_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        default=".",
        metavar="PATH",
        help="where a tid is looked up (default: the current folder)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if args.command == "report":
                code = _report(args)
            elif args.command == "show":
                code = _show(args)
            else:
                code = _metrics(args)
        except _Exit as exc:
            print(f"votakvot: {exc.message}", file=sys.stderr)
            code = exc.code
        except (TrialLoadError, MissingDependencyError, FileNotFoundError) as exc:
            print(f"votakvot: {exc}", file=sys.stderr)
            code = UNREADABLE
        except BrokenPipeError:
            code = OK  # `votakvot report | head`: the reader had enough
        finally:
            for warning in caught:
                print(f"votakvot: warning: {warning.message}", file=sys.stderr)
    return code


def _emit(frame: pandas.DataFrame, fmt: str) -> None:
    import pandas

    if fmt == "csv":
        sys.stdout.write(frame.to_csv(index=False))
    elif fmt == "json":
        sys.stdout.write(frame.to_json(orient="records", date_format="iso", lines=True))
    else:
        width = shutil.get_terminal_size((200, 24)).columns
        with pandas.option_context("display.width", width, "display.max_colwidth", 60):
            sys.stdout.write(frame.to_string(index=False) + "\n")
    sys.stdout.flush()


def _report(args: argparse.Namespace) -> int:
    from .report import load_report, query

    frame = load_report(args.path, full=args.full, safe=not args.strict)
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
        print(f"votakvot: no trials {where}at {args.path}", file=sys.stderr)
        return EMPTY
    _emit(frame, args.format)
    return OK


def _trial(args: argparse.Namespace) -> Any:
    from .metrics import resolve_trial_path
    from .trial import read_trial

    folder = resolve_trial_path(args.trial, root=args.root)
    trial = read_trial(folder)
    if trial is None:
        raise FileNotFoundError(f"no trial at {folder!r}: it has no votakvot.yaml")
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
                sys.stdout.write(text if text.endswith("\n") else text + "\n")
            else:
                logs = read_logs(trial)
                if logs is None or len(logs) == 0:
                    raise _Exit(EMPTY, f"trial {trial.tid!r} has no captured logs")
                _emit(logs, "table")
        except NotImplementedError as exc:
            raise _Exit(EMPTY, f"captured output cannot be read by this version: {exc}") from None
        return OK
    raw = trial._read_own("votakvot.yaml") or b""
    state = trial.state
    if state != trial.recorded_state:
        beat = trial.heartbeat
        since = f"last heartbeat {beat:%Y-%m-%d %H:%M:%S%z}" if beat else "it never beat"
        sys.stdout.write(f"# state now: {state} ({since})\n")
    sys.stdout.write(raw.decode("utf-8", errors="replace"))
    sys.stdout.flush()
    return OK


def _metrics(args: argparse.Namespace) -> int:
    from .metrics import load_metrics

    trial = _trial(args)
    frame = load_metrics(trial)
    if frame.empty:
        print(f"votakvot: trial {trial.tid!r} has no metrics", file=sys.stderr)
        return EMPTY
    _emit(frame, args.format)
    return OK


if __name__ == "__main__":
    sys.exit(main())
