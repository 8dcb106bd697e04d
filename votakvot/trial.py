"""A recorded trial, read back from its folder."""

from __future__ import annotations

import posixpath
from typing import IO, TYPE_CHECKING, Any

from . import _yaml
from ._storage import get_filesystem
from .exceptions import TrialFailedError, TrialLoadError

if TYPE_CHECKING:
    import pandas

__all__ = ["AttrDict", "Trial", "read_trial"]

from ._layout import YAML_NAME


class AttrDict(dict):
    """A dict whose keys are attributes too, all the way down (``t.meta.git.commit``)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(
                f"no field {name!r} here; fields: {', '.join(map(str, self)) or 'none'}"
            ) from None
        return AttrDict(value) if isinstance(value, dict) else value

    def __getitem__(self, key: Any) -> Any:
        value = dict.__getitem__(self, key)
        return (
            AttrDict(value)
            if isinstance(value, dict) and not isinstance(value, AttrDict)
            else value
        )


class Trial:
    """One trial: its parsed ``votakvot.yaml`` (``data``) and the folder it lives in.

    Args:
        path: the trial folder, a local path or an fsspec URL.
        data: the parsed ``votakvot.yaml``.
    """

    def __init__(self, path: str, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    def __repr__(self) -> str:
        return f"<Trial {self.tid!r} {self.state}>"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "data":
            raise AttributeError(name)
        try:
            value = self.data[name]
        except KeyError:
            raise AttributeError(f"trial {self.data.get('tid')!r} has no field {name!r}") from None
        return AttrDict(value) if isinstance(value, dict) else value

    @property
    def tid(self) -> str:
        return str(self.data.get("tid", ""))

    @property
    def id(self) -> str:
        return str(self.data.get("id", ""))

    @property
    def state(self) -> str:
        return str(self.data.get("state", "unknown"))

    @property
    def params(self) -> AttrDict:
        return AttrDict(self.data.get("params") or {})

    @property
    def info(self) -> AttrDict:
        return AttrDict(self.data.get("info") or {})

    @property
    def meta(self) -> AttrDict:
        return AttrDict(self.data.get("meta") or {})

    @property
    def result(self) -> Any:
        """The recorded result; raises :class:`TrialFailedError` if the call raised."""
        if "error" in self.data and self.state != "done":
            error = self.data.get("error") or {}
            raise TrialFailedError(
                self.tid,
                str(error.get("type", "Error")),
                str(error.get("message", "")),
                str(self.data.get("traceback", "")),
            )
        value = self.data.get("result")
        return AttrDict(value) if isinstance(value, dict) else value

    def _fs(self) -> tuple[Any, str]:
        return get_filesystem(self.path)

    @property
    def attached(self) -> list[str]:
        """Names of files attached to the trial (votakvot's own files left out)."""
        from ._layout import is_own_file

        fs, root = self._fs()
        names = []
        for path in fs.find(root):
            rel = posixpath.relpath(path, root)
            if not is_own_file(rel):
                names.append(rel)
        return sorted(names)

    def attach(self, name: str, mode: str = "rb") -> IO[Any]:
        """Open an attached file for reading."""
        from ._tracking import _safe_relative

        fs, root = self._fs()
        return fs.open(posixpath.join(root, _safe_relative(name)), mode)

    @property
    def output(self) -> str:
        """What the call printed (``output.log``), as far as it was captured."""
        from .capture import read_output

        return read_output(self)

    @property
    def logs(self) -> pandas.DataFrame:
        """The logging records the call emitted (``log.jsonl``), one row each."""
        from .capture import read_logs

        return read_logs(self)

    def load_metrics(self) -> pandas.DataFrame:
        from .metrics import load_metrics

        return load_metrics(self)


def read_trial(path: str) -> Trial | None:
    """Read the trial in folder ``path``; ``None`` if there is no ``votakvot.yaml``.

    Raises:
        TrialLoadError: the file is there but cannot be read safely.
    """
    fs, root = get_filesystem(path)
    file = posixpath.join(root, YAML_NAME)
    try:
        raw = fs.cat_file(file)
    except FileNotFoundError:
        return None
    try:
        data = _yaml.load(raw)
    except TrialLoadError as exc:
        raise TrialLoadError(file, exc.reason) from None
    except Exception as exc:
        raise TrialLoadError(file, f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise TrialLoadError(file, f"expected a mapping, found {type(data).__name__}")
    return Trial(path, data)
