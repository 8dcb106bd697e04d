"""``sys.stdout``/``sys.stderr`` proxies that copy what a trial prints into its buffer.

A proxy is put in place of each stream by the first trial that captures output
(and again by a later one if something replaced it meanwhile: pytest's capture,
``contextlib.redirect_stdout``, a notebook). It forwards everything to the
stream it wraps; only ``write`` is its own.

``write`` is swapped rather than branched on: while no trial in the process
captures output (from about a second after the last one ended) it *is* the
wrapped stream's own (C) ``write``, so code outside trials pays nothing; while
some trial captures, it is a small closure that writes through and then appends
the text to the list held by the ``output`` context variable, when the calling
context has one. Only the proxy last put in place for a stream captures, so a
proxy that ends up wrapped by another one (a colour filter over ours, ours over
it again) never copies a line twice.
"""

from __future__ import annotations

import contextvars
import io
import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from ._sink import SPILL_PARTS, Parts, on_tick

__all__ = ["StreamProxy", "output", "start", "stop", "switch_off_if_idle"]

output: contextvars.ContextVar[Parts | None] = contextvars.ContextVar(
    "votakvot_output", default=None
)
"""The pending output of the innermost trial in this context that captures output."""

_NAMES = ("stdout", "stderr")


class StreamProxy:
    """Stands in for ``sys.stdout``/``sys.stderr``; everything but ``write`` is the stream's.

    Args:
        stream: the stream it writes through to.
    """

    write: Callable[[str], Any]

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.write = stream.write
        flush = getattr(stream, "flush", None)
        if flush is not None:
            self.flush = flush  # print(flush=True) calls it on every line

    def __getattr__(self, name: str) -> Any:
        # Only reached for what the proxy itself lacks: isatty, fileno, encoding, buffer, ...
        if name == "_stream":
            raise AttributeError(name)
        return getattr(self._stream, name)

    def __repr__(self) -> str:
        return f"<votakvot capture of {self._stream!r}>"

    def __enter__(self) -> StreamProxy:
        self._stream.__enter__()
        return self

    def __exit__(self, *exc: object) -> Any:
        return self._stream.__exit__(*exc)

    def writelines(self, lines: Iterable[str]) -> None:
        write = self.write
        for line in lines:
            write(line)

    def _capture(self, on: bool) -> None:
        self.write = self._capturing_write() if on else self._stream.write

    def _capturing_write(self) -> Callable[[str], Any]:
        cached: Callable[[str], Any] | None = self.__dict__.get("_write_and_copy")
        if cached is not None:
            return cached
        stream_write = self._stream.write
        get = output.get
        spill = SPILL_PARTS

        def write(text: str) -> Any:
            n = stream_write(text)  # first: a closed stream or a wrong type raises as before
            parts = get()
            if parts is not None:
                parts.append(text)
                if len(parts) > spill:
                    parts.spill()
            return n

        self._write_and_copy = write
        return write


io.TextIOBase.register(StreamProxy)  # isinstance checks keep passing

_lock = threading.Lock()
_capturing = 0
"""Trials in this process capturing output right now."""
_on = False
"""Whether the active proxies copy text (switched off a tick after the last trial ends)."""
_active: dict[str, StreamProxy] = {}


def _install() -> None:
    """Make the proxies the current ``sys.stdout``/``sys.stderr`` (the lock is held)."""
    for name in _NAMES:
        stream = getattr(sys, name, None)
        if stream is None:
            continue  # pythonw, or closed on purpose: nothing to wrap
        old = _active.get(name)
        if stream is old:
            continue
        proxy = stream if isinstance(stream, StreamProxy) else StreamProxy(stream)
        _active[name] = proxy
        if old is not None and old not in _active.values():  # sys.stderr = sys.stdout
            old._capture(False)
        proxy._capture(_on)
        if proxy is not stream:
            setattr(sys, name, proxy)


def start() -> None:
    """A trial that captures output starts: make sure the proxies are in place and on."""
    global _capturing, _on
    with _lock:
        _install()
        _capturing += 1
        if not _on:
            _on = True
            for proxy in _active.values():
                proxy._capture(True)


def stop() -> None:
    """A trial that captured output ended.

    The proxies stay on until the flusher's next tick (:func:`switch_off_if_idle`):
    switching on and off around every one of many short trials would cost more than
    the trials' prints.
    """
    global _capturing
    with _lock:
        _capturing = max(0, _capturing - 1)


def switch_off_if_idle() -> None:
    """Back to pass-through (the stream's own ``write``) once no trial captures."""
    global _on
    if _capturing or not _on:
        return
    with _lock:
        if _capturing == 0 and _on:
            _on = False
            for proxy in _active.values():
                proxy._capture(False)


on_tick.append(switch_off_if_idle)


def _after_fork_in_child() -> None:
    global _lock, _capturing, _on
    _lock = threading.Lock()
    _capturing = 0
    _on = False
    for proxy in _active.values():
        proxy._capture(False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
