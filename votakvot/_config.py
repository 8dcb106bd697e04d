"""Process-wide settings made by :func:`votakvot.init`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

from ._storage import Storage, open_storage

__all__ = ["Config", "get_config", "set_config"]

Capture = Literal["all", "logging", "none"]


@dataclasses.dataclass
class Config:
    """What ``init`` set; every tracked call reads the current one when it starts."""

    path: str = "."
    """Root under which trial folders are made: a local path or an fsspec URL."""
    meta_providers: dict[str, Callable[[], Any]] | None = None
    """Providers for ``meta``; ``None`` means ``votakvot.meta.providers`` as it is then."""
    strict: bool = False
    """Raise storage errors into user code instead of logging them."""
    flush_interval: float = 1.0
    """Seconds between background flushes of metrics (and of changed ``info``)."""
    heartbeat_interval: float = 5.0
    """Seconds between heartbeats of a running trial."""
    capture: Capture = "all"
    """What output of a tracked call is kept with its trial."""
    capture_limit: int | None = 10 * 1024 * 1024
    """Bytes of captured output kept per trial and file."""
    runner: str = "inplace"
    """How ``submit``/``map`` run trials: ``inplace``, ``process`` or ``dask``."""
    runner_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Extra options of the runner (``address``, ``workers``, ...)."""
    _storage: Storage | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = open_storage(self.path)
        return self._storage


_config = Config()


def get_config() -> Config:
    return _config


def set_config(config: Config) -> None:
    global _config
    _config = config
