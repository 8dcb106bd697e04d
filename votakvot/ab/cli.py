"""``votakvot-ab``: the command line.

Kept free of heavy imports at module level: with ``--gevent`` the standard
library must be patched before anything (the user's module, numpy's users, the
trial writer's threads) is imported or started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

from .target import UsageError

__all__ = ["main"]

PROG = "votakvot-ab"

DESCRIPTION = """\
Call a Python callable many times, concurrently, and measure it - like ab, hey or
oha, but for a Python function or class instead of an HTTP URL. Every run is
stored as a votakvot trial (params, summary, per-second metrics, latency histogram)
that votakvot.load_report() and votakvot-tui read back.

CALLABLE is module.attr (the module is looked up in the current directory first,
then on sys.path) or path/to/file.py:attr. A function is called with the KEY=VALUE
arguments on every call. A class is built once per worker with them, its instance
is called, and its close() (or __close__()) is called at the end. VALUEs are
Python literals when they parse as one (10, 1.5, None, 'x', [1, 2]), else strings.
"""

EPILOG = """\
examples:
  votakvot-ab -n 1000 -c 10 my_module.get_example
      1000 calls over 10 threads
  votakvot-ab --gevent -n500 -c100 my_module.get_example
      500 calls over 100 greenlets (sockets patched by gevent)
  votakvot-ab -g -n500 -c100 my_module.HttpGet url=http://example.com
      one HttpGet(url=...) per greenlet, each instance called in turn
  votakvot-ab -d 30 -q 200 -c 50 my_module.get_example
      open model: 200 calls/s for 30 s whether or not earlier calls returned
  votakvot-ab -d 10 --processes 2 -c 4 ./cpu.py:work size=1000
      CPU-bound work spread over 2 processes of 2 threads each
  votakvot-ab -n 10000 -w 1s --json my_module.f > summary.json
      1 s of warmup calls first, then the summary as JSON
  votakvot-ab compare ab/my_module.f/24-05-01/10:00:00/UUID-A ./results/UUID-B \\
      --fail-if p99:+5% --fail-if rate:-10%
      compare two runs; exit 1 if p99 grew >5% or calls/s fell >10%

-N (e.g. -100) is short for -c N, like head -5.
Ctrl-C (or SIGTERM, SIGHUP) stops early: the results so far are printed and the
trial is marked interrupted; a second one quits at once. Calls still running a
second after a stop or the end of -d are not waited for (counted as unfinished).
Exit status: 0 done, 1 failed (--strict, --max-errors, a worker that could not
start), 2 usage error, 130 interrupted by Ctrl-C (143 SIGTERM, 129 SIGHUP).
Files written in the trial folder: see docs/ab.md.
"""


class _Parser(argparse.ArgumentParser):
    """Errors as one line on stderr and exit status 2, never a usage dump."""

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (see {self.prog} --help)")


def fail(message: str) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _positive_float(text: str) -> float:
    return _seconds(text, what="a number of seconds")


def _seconds(text: str, what: str = "seconds") -> float:
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*(ms|s|m|h)?\s*", text, re.I)
    if not m:
        raise argparse.ArgumentTypeError(f"expected {what} like 10, 2.5s, 1m (got {text!r})")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2) and m.group(2).lower()]
    return float(m.group(1)) * scale


def _warmup(text: str) -> tuple[int, float]:
    """``100`` -> 100 calls; ``2s``/``0.5s``/``1m`` -> seconds."""
    if re.fullmatch(r"\s*\d+\s*", text):
        return int(text), 0.0
    try:
        return 0, _seconds(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a number of calls (100) or seconds (2s) (got {text!r})"
        ) from None


def _int(text: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number (got {text!r})") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number (got {text!r})") from None


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        usage=f"{PROG} [options] CALLABLE [KEY=VALUE ...]\n       {PROG} compare A B [options]",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    amount = p.add_mutually_exclusive_group()
    amount.add_argument(
        "-n", "--number", type=_int, metavar="N", help="number of calls to measure (default: 1)"
    )
    amount.add_argument(
        "-d",
        "--duration",
        type=_positive_float,
        metavar="SECONDS",
        help="measure for this long instead (10, 2.5s, 1m)",
    )
    p.add_argument(
        "-c",
        "--concurrency",
        type=_int,
        default=1,
        metavar="C",
        help="concurrent workers (default: 1)",
    )
    p.add_argument(
        "-g",
        "--gevent",
        action="store_true",
        help="workers are greenlets; the standard library is monkey-patched "
        "before CALLABLE's module is imported, so requests etc. cooperate",
    )
    p.add_argument(
        "--processes",
        type=_int,
        default=1,
        metavar="P",
        help="spread the workers over P processes (CPU-bound callables)",
    )
    p.add_argument(
        "-w",
        "--warmup",
        type=_warmup,
        default=(0, 0.0),
        metavar="N|Ts",
        help="calls (100) or seconds (2s) made first and not counted",
    )
    p.add_argument(
        "-q",
        "--rate",
        type=_float,
        metavar="R",
        help="open model: start R calls per second in total, on schedule whether "
        "or not earlier calls returned; latency is reported from the "
        "scheduled start (free of coordinated omission) and from the actual "
        "start, and late/dropped starts are counted",
    )
    p.add_argument(
        "-s", "--strict", action="store_true", help="stop at the first error and show it"
    )
    p.add_argument("--max-errors", type=_int, metavar="N", help="stop once N calls have failed")
    p.add_argument(
        "-p",
        "--path",
        default=".",
        metavar="PATH",
        help="results root, a folder or fsspec URL (default: .)",
    )
    p.add_argument(
        "-t", "--tid", metavar="TID", help="trial id (default: ab/CALLABLE/yy-mm-dd/HH:MM:SS/UUID)"
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--quiet", action="store_true", help="no progress line and no banner, only the results"
    )
    p.add_argument("callable", metavar="CALLABLE", help="module.attr or path/to/file.py:attr")
    p.add_argument(
        "arguments",
        metavar="KEY=VALUE",
        nargs="*",
        help="arguments of the callable (of the class's constructor)",
    )
    return p


def _expand_short_concurrency(argv: list[str]) -> list[str]:
    """``-100`` -> ``-c 100``, like ``head -5`` (unless it is the value of an option)."""
    out: list[str] = []
    for arg in argv:
        if re.fullmatch(r"-\d+", arg) and not (out and out[-1] in _VALUE_OPTIONS):
            out += ["-c", arg[1:]]
        else:
            out.append(arg)
    return out


_VALUE_OPTIONS = {
    "-n",
    "--number",
    "-d",
    "--duration",
    "-c",
    "--concurrency",
    "--processes",
    "-w",
    "--warmup",
    "-q",
    "--rate",
    "--max-errors",
    "-p",
    "--path",
    "-t",
    "--tid",
}


def main(argv: list[str] | None = None) -> int:
    """Run ``votakvot-ab`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "compare":
        from .compare import main as compare_main

        return compare_main(argv[1:])
    try:
        return _main(argv)
    except UsageError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: not an error of the run.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _main(argv: list[str]) -> int:
    args = make_parser().parse_intermixed_args(_expand_short_concurrency(argv))
    if args.gevent:
        from .gevent_support import patch

        patch()  # before anything below imports the user's module or starts a thread

    from .target import parse_kwargs, resolve

    kwargs = parse_kwargs(args.arguments)
    from .runner import Options, check

    warm_calls, warm_seconds = args.warmup
    opts = Options(
        spec=args.callable,
        kwargs=kwargs,
        number=None if args.duration is not None else (args.number or 1),
        duration=args.duration,
        concurrency=args.concurrency,
        gevent=args.gevent,
        processes=args.processes,
        warmup_calls=warm_calls,
        warmup_seconds=warm_seconds,
        rate=args.rate,
        strict=args.strict,
        max_errors=args.max_errors,
        path=args.path,
        tid=args.tid,
        json=args.json,
        quiet=args.quiet,
        progress=not args.quiet and not args.json and sys.stderr.isatty(),
    )
    if args.number is not None and args.number < 1:
        raise UsageError(f"-n/--number must be >= 1 (got {args.number})")
    check(opts)
    if opts.number is not None and opts.rate is None and opts.concurrency > opts.number:
        opts.concurrency = max(opts.number, opts.processes)  # idle workers measure nothing
    if opts.tid is not None:
        from .._layout import check_tid as _check_tid

        try:
            opts.tid = _check_tid(opts.tid)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    target = resolve(opts.spec)
    target.check_arguments(kwargs)
    try:
        from .._storage import open_storage

        open_storage(opts.path)
    except Exception as exc:
        raise UsageError(f"-p/--path {opts.path!r}: {exc}") from None

    engine = "greenlets" if opts.gevent else "threads"
    workers = f"{opts.concurrency} {engine[:-1] if opts.concurrency == 1 else engine}"
    if opts.processes > 1:
        workers += f" in {opts.processes} processes"
    if not opts.quiet and not opts.json:
        amount = f"{opts.number:,} calls" if opts.duration is None else f"{opts.duration:g} s"
        rate = f" at {opts.rate:g} calls/s" if opts.rate else ""
        print(
            f"{PROG}: {_call_text(opts.spec, kwargs)}, {amount}{rate}, {workers}",
            file=sys.stderr,
            flush=True,
        )

    from .runner import run

    if opts.json:
        with _stdout_to_stderr():  # what the callable prints must not spoil the JSON
            outcome = run(opts, target)
    else:
        outcome = run(opts, target)
    if opts.json:
        data: dict[str, Any] = {
            "tid": outcome.trial.tid,
            "trial": outcome.trial.url,
            "state": outcome.state,
            **outcome.summary,
        }
        print(json.dumps(data, indent=2, default=str))
    else:
        from .render import report

        print(report(outcome, workers=workers), flush=True)
    if outcome.state == "interrupted":
        return 128 + (outcome.signal or 2)  # 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP
    if outcome.state != "done":
        if outcome.first_error and not opts.json:
            print(
                f"{PROG}: stopped ({outcome.summary.get('stopped')}); first error:", file=sys.stderr
            )
            print(outcome.first_error.rstrip(), file=sys.stderr)
        return 1
    return 0


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send stdout to stderr, at the fd level too (child processes, C extensions)."""
    sys.stdout.flush()
    saved = None
    try:
        if sys.stdout.fileno() == 1:
            saved = os.dup(1)
            os.dup2(sys.stderr.fileno(), 1)
    except (AttributeError, OSError, ValueError):
        saved = None  # not a real file (captured by a test, say): sys.stdout is enough
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def _call_text(spec: str, kwargs: dict[str, Any]) -> str:
    return f"{spec}(" + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")"


if __name__ == "__main__":
    raise SystemExit(main())
