"""The options of one ``votakvot-ab`` run, in one place.

:class:`Options` is filled by the command line (:func:`add_arguments` +
:meth:`Options.from_namespace`), run by :func:`votakvot.ab.runner.run`, built by
the dashboard's launch form and turned back into a command line by
:meth:`Options.to_argv`. The trial records :meth:`Options.params`, and
:meth:`Options.from_params` reads them back to run the same benchmark again.
Types, defaults, text formats and checks live here, so the command line and the
form cannot drift apart.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .target import UsageError, parse_kwargs

__all__ = [
    "OptionError",
    "Options",
    "TextError",
    "add_arguments",
    "argument_item",
    "expand_short_concurrency",
    "form_name",
    "format_number",
    "parse_int",
    "parse_number",
    "parse_seconds",
    "parse_warmup",
]

NAMES: dict[str, tuple[str, str]] = {
    "number": ("-n/--number", "calls (-n)"),
    "duration": ("-d/--duration", "duration (-d)"),
    "concurrency": ("-c/--concurrency", "concurrency (-c)"),
    "processes": ("--processes {value}", "processes ({value})"),
    "rate": ("-q/--rate", "rate (-q)"),
    "max_errors": ("--max-errors", "max errors"),
    "warmup": ("-w/--warmup", "warmup (-w)"),
}
"""How each checked field is named: on the command line, and in the dashboard's form."""


class TextError(ValueError):
    """Text that is not a value of its option; ``what`` says what was expected."""

    def __init__(self, what: str, text: str) -> None:
        super().__init__(f"expected {what} (got {text!r})")
        self.what = what
        self.text = text


class OptionError(UsageError):
    """Option values that cannot work; :meth:`named` words it for the dashboard's form."""

    def __init__(self, field: str, problem: str, value: Any) -> None:
        self.field = field
        self.problem = problem
        self.value = value
        super().__init__(self.named(form=False))

    def named(self, *, form: bool) -> str:
        """The message with the field named as the command line (or the form) names it."""
        name = NAMES[self.field][0].format(value=self.value)
        if form:
            name = form_name(self.field, self.value)
        return f"{name} {self.problem}"


def form_name(field: str, value: Any = None) -> str:
    """How the dashboard's form names ``field`` (``calls (-n)``), with ``value`` if it says it."""
    name = NAMES[field][1]
    return name.replace(" ({value})", "") if value is None else name.format(value=value)


# --- text -> values (the command line and the form read the same way) ------------------

_SECONDS = re.compile(r"\s*([+-]?[0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*(ms|s|m|h)?\s*", re.I)
_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_int(text: str) -> int:
    """``1000`` or ``1_000``."""
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise TextError("a whole number", text) from None


def parse_number(text: str) -> float:
    """Any float (``50``, ``2.5``)."""
    try:
        return float(text)
    except ValueError:
        raise TextError("a number", text) from None


def parse_seconds(text: str) -> float:
    """``10``, ``2.5s``, ``250ms``, ``1m``, ``1h``; the sign is kept for the checks to judge."""
    m = _SECONDS.fullmatch(text)
    if not m:
        raise TextError("seconds like 10, 2.5s or 1m", text)
    unit = m.group(2).lower() if m.group(2) else None
    return float(m.group(1)) * _SCALE[unit]


def parse_warmup(text: str) -> tuple[int, float]:
    """``100`` -> 100 calls; ``2s``/``0.5``/``1m`` -> seconds: ``(calls, seconds)``."""
    if re.fullmatch(r"\s*\d+\s*", text):
        return int(text), 0.0
    try:
        return 0, parse_seconds(text)
    except TextError:
        raise TextError("a number of calls (100) or seconds (2s)", text) from None


def format_number(value: float) -> str:
    """Shortest text that reads back as ``value`` (``50.0`` -> ``50``)."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def argument_item(key: str, value: Any) -> str:
    """``KEY=VALUE`` that :func:`~votakvot.ab.target.parse_kwargs` reads back as ``value``.

    A string stays plain unless it reads as a literal (``"3"`` is written ``'3'``);
    anything else is its ``repr`` (its ``str`` when that does not read back).
    """
    if isinstance(value, str):
        try:
            ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return f"{key}={value}"
        return f"{key}={value!r}"
    text = repr(value)
    try:
        if ast.literal_eval(text) == value:
            return f"{key}={text}"
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    return f"{key}={value}"


def _arg_type(parse: Any) -> Any:
    """An argparse ``type=`` that reports the parser's words."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except TextError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


# --- the options ---------------------------------------------------------------------


@dataclasses.dataclass
class Options:
    """Everything one run is told: what to call, how much, how, and where to record it."""

    spec: str
    """The callable: ``module.attr`` or ``path/to/file.py:attr``."""
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Its ``KEY=VALUE`` arguments (of the class's constructor)."""
    number: int | None = 1
    """``-n``: calls to measure, or ``None`` in duration mode."""
    duration: float | None = None
    """``-d``: seconds to measure, or ``None`` in number mode."""
    concurrency: int = 1
    """``-c``: concurrent workers (in total)."""
    gevent: bool = False
    """``--gevent``: workers are greenlets."""
    processes: int = 1
    """``--processes``: spread the workers over this many processes."""
    warmup_calls: int = 0
    """``-w N``: calls made first and not counted."""
    warmup_seconds: float = 0.0
    """``-w Ts``: seconds of calls made first and not counted."""
    rate: float | None = None
    """``-q``: calls per second in total (open model), or ``None`` (as fast as possible)."""
    strict: bool = False
    """``--strict``: stop at the first error."""
    max_errors: int | None = None
    """``--max-errors``: stop once this many calls failed."""
    path: str = "."
    """``-p``: the results root, a folder or fsspec URL."""
    tid: str | None = None
    """``-t``: the trial id (default ``ab/CALLABLE/yy-mm-dd/HH:MM:SS/UUID``)."""
    json: bool = False
    """``--json``: print the summary as JSON."""
    quiet: bool = False
    """``--quiet``: no progress line and no banner."""
    progress: bool = False
    """Show the live line (the CLI sets it when stderr is a terminal and not ``--quiet``)."""

    def validate(self) -> None:
        """Raise :class:`OptionError` for values that cannot work (alone or together)."""
        if self.number is not None and self.number < 1:
            raise OptionError("number", f"must be >= 1 (got {self.number})", self.number)
        if self.duration is not None and not self.duration > 0:
            raise OptionError(
                "duration", f"must be > 0 seconds (got {self.duration:g})", self.duration
            )
        if self.concurrency < 1:
            raise OptionError(
                "concurrency", f"must be >= 1 (got {self.concurrency})", self.concurrency
            )
        if self.processes < 1:
            raise OptionError("processes", f"must be >= 1 (got {self.processes})", self.processes)
        if self.processes > self.concurrency:
            raise OptionError(
                "processes",
                f"needs at least as many workers (got -c {self.concurrency}); "
                f"pass -c {self.processes} or more",
                self.processes,
            )
        if self.rate is not None and not self.rate > 0:
            problem = f"must be > 0 calls per second (got {self.rate:g})"
            raise OptionError("rate", problem, self.rate)
        if self.max_errors is not None and self.max_errors < 1:
            problem = f"must be >= 1 (got {self.max_errors})"
            raise OptionError("max_errors", problem, self.max_errors)
        if self.warmup_calls < 0 or self.warmup_seconds < 0:
            raise OptionError("warmup", "must be >= 0", self.warmup_calls or self.warmup_seconds)

    def params(self) -> dict[str, Any]:
        """What the trial records under ``params``."""
        return {
            "callable": self.spec,
            "args": dict(self.kwargs),
            "number": self.number,
            "duration": self.duration,
            "concurrency": self.concurrency,
            "engine": "gevent" if self.gevent else "threads",
            "processes": self.processes,
            "warmup_calls": self.warmup_calls,
            "warmup_seconds": self.warmup_seconds,
            "rate": self.rate,
            "strict": self.strict,
            "max_errors": self.max_errors,
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any], path: str = ".") -> Options:
        """The options of a recorded run (its trial's ``params``), to run it again."""
        args = params.get("args")
        duration = params.get("duration") or None
        return cls(
            spec=str(params.get("callable") or ""),
            kwargs=dict(args) if isinstance(args, Mapping) else {},
            number=None if duration else int(params.get("number") or 1),
            duration=float(duration) if duration else None,
            concurrency=int(params.get("concurrency") or 1),
            gevent=params.get("engine") == "gevent",
            processes=int(params.get("processes") or 1),
            warmup_calls=int(params.get("warmup_calls") or 0),
            warmup_seconds=float(params.get("warmup_seconds") or 0.0),
            rate=float(params["rate"]) if params.get("rate") else None,
            strict=bool(params.get("strict")),
            max_errors=params.get("max_errors") or None,
            path=path,
        )

    @classmethod
    def from_namespace(cls, args: argparse.Namespace, *, progress: bool = False) -> Options:
        """The options :func:`add_arguments`' parser read (``KEY=VALUE`` parsed here).

        Raises:
            UsageError: an argument is not ``KEY=VALUE``.
        """
        warm_calls, warm_seconds = args.warmup
        number = None if args.duration is not None else 1 if args.number is None else args.number
        return cls(
            spec=args.callable,
            kwargs=parse_kwargs(args.arguments),
            number=number,
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
            progress=progress and not args.quiet and not args.json,
        )

    def arguments(self) -> list[str]:
        """The ``KEY=VALUE`` items of :attr:`kwargs`, as the command line takes them."""
        return [argument_item(k, v) for k, v in self.kwargs.items()]

    def to_argv(self) -> list[str]:
        """The ``votakvot-ab`` arguments (without the program) that give these options back."""
        argv: list[str] = []
        if self.duration is not None:
            argv += ["-d", format_number(self.duration)]
        else:
            argv += ["-n", str(self.number)]
        argv += ["-c", str(self.concurrency)]
        if self.gevent:
            argv.append("--gevent")
        if self.processes > 1:
            argv += ["--processes", str(self.processes)]
        if self.rate is not None:
            argv += ["-q", format_number(self.rate)]
        if self.warmup_calls:
            argv += ["-w", str(self.warmup_calls)]
        elif self.warmup_seconds:
            argv += ["-w", format_number(self.warmup_seconds) + "s"]
        if self.strict:
            argv.append("--strict")
        if self.max_errors is not None:
            argv += ["--max-errors", str(self.max_errors)]
        argv += ["-p", self.path]
        if self.tid:
            argv += ["-t", self.tid]
        if self.json:
            argv.append("--json")
        if self.quiet:
            argv.append("--quiet")
        # "--" would end the options, but parse_intermixed_args then takes KEY=VALUE
        # items as they are; a callable never starts with "-", so none is needed.
        return [*argv, self.spec, *self.arguments()]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add every option of :class:`Options` to ``p`` (what ``votakvot-ab --help`` lists)."""
    amount = p.add_mutually_exclusive_group()
    amount.add_argument(
        "-n",
        "--number",
        type=_arg_type(parse_int),
        metavar="N",
        help="number of calls to measure (default: 1)",
    )
    amount.add_argument(
        "-d",
        "--duration",
        type=_arg_type(parse_seconds),
        metavar="SECONDS",
        help="measure for this long instead (10, 2.5s, 1m)",
    )
    count = _arg_type(parse_int)
    p.add_argument("-c", "--concurrency", type=count, default=1, metavar="C",
                   help="concurrent workers (default: 1)")  # fmt: skip
    p.add_argument(
        "-g",
        "--gevent",
        action="store_true",
        help="workers are greenlets; the standard library is monkey-patched "
        "before CALLABLE's module is imported, so requests etc. cooperate",
    )
    p.add_argument("--processes", type=count, default=1, metavar="P",
                   help="spread the workers over P processes (CPU-bound callables)")  # fmt: skip
    p.add_argument(
        "-w",
        "--warmup",
        type=_arg_type(parse_warmup),
        default=(0, 0.0),
        metavar="N|Ts",
        help="calls (100) or seconds (2s) made first and not counted",
    )
    p.add_argument(
        "-q",
        "--rate",
        type=_arg_type(parse_number),
        metavar="R",
        help="open model: start R calls per second in total, on schedule whether "
        "or not earlier calls returned; latency is reported from the "
        "scheduled start (free of coordinated omission) and from the actual "
        "start, and late/dropped starts are counted",
    )
    p.add_argument(
        "-s", "--strict", action="store_true", help="stop at the first error and show it"
    )
    p.add_argument(
        "--max-errors", type=_arg_type(parse_int), metavar="N", help="stop once N calls have failed"
    )
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


VALUE_OPTIONS = frozenset(
    {
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
)
"""The options that take a value (so ``-n -5`` is not ``-n -c 5``)."""


def expand_short_concurrency(argv: Sequence[str]) -> list[str]:
    """``-100`` -> ``-c 100``, like ``head -5`` (unless it is the value of an option)."""
    out: list[str] = []
    for arg in argv:
        if re.fullmatch(r"-\d+", arg) and not (out and out[-1] in VALUE_OPTIONS):
            out += ["-c", arg[1:]]
        else:
            out.append(arg)
    return out
