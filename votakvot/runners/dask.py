"""``runner="dask"``: trials run on the workers of a Dask distributed cluster.

Each task carries the client's ``votakvot.init`` settings; a worker applies them
once and writes its trials straight to the root, which must therefore be reachable
from every worker under the same name: an object store URL (``s3://bucket/runs``)
or a folder mounted at the same path everywhere. Functions travel by cloudpickle,
so lambdas and functions of ``__main__`` work; functions of other modules are sent
by reference and that module must be importable on the workers.
"""

from __future__ import annotations

import concurrent.futures
import functools
import pickle
import uuid
from typing import Any

from .._config import Config
from ..exceptions import MissingDependencyError
from ._base import Runner, check_options
from ._call import Call, WorkerSettings, execute_with, worker_settings
from .process import check_shareable_root

__all__ = ["DaskRunner"]


class DaskRunner(Runner):
    """Submits each call as one Dask task (never deduplicated, even with equal params).

    Args:
        config: the settings trials are recorded with.
        address: the scheduler, e.g. ``"tcp://10.0.0.5:8786"``.
        client: an existing ``distributed.Client`` to use instead (not closed by votakvot).
        workers: worker processes of the local cluster started when neither
            ``address`` nor ``client`` is given.
        threads_per_worker: threads of each local worker (default 1).
    """

    name = "dask"

    def __init__(
        self,
        config: Config,
        *,
        address: str | None = None,
        client: Any = None,
        workers: int | None = None,
        threads_per_worker: int = 1,
        **options: Any,
    ) -> None:
        check_options(self.name, options, ("address", "client", "workers", "threads_per_worker"))
        super().__init__(config)
        check_shareable_root(self.name, config)
        try:
            import distributed
        except ImportError as exc:
            raise MissingDependencyError(
                f"runner 'dask' needs the distributed package: pip install distributed ({exc})"
            ) from exc
        self.cluster = None
        self.own_client = client is None
        if client is not None:
            self.client = client
        elif address is not None:
            self.client = distributed.Client(address)
        else:
            self.cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                dashboard_address=None,
            )
            self.client = distributed.Client(self.cluster)
        self.settings = WorkerSettings(worker_settings(config))  # printed without passwords
        self.token = uuid.uuid4().hex

    def submit(self, call: Call) -> concurrent.futures.Future[Any]:
        name = getattr(call.fn, "__name__", "call")
        try:
            task = self.client.submit(
                execute_with,
                self.token,
                self.settings,
                call,
                pure=False,
                key=f"votakvot-{name}-{uuid.uuid4().hex}",
            )
        except Exception as exc:
            cause = _innermost(exc)
            if "serialize" not in str(exc) and not isinstance(
                cause, (TypeError, pickle.PicklingError)
            ):
                raise
            raise TypeError(
                f"{call.fn!r} or its params cannot be sent to the Dask workers: "
                f"{type(cause).__name__}: {cause}. Everything a call uses must be picklable "
                "by cloudpickle: no locks, open files or connections among its params, "
                "globals or closure variables"
            ) from exc
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        # The Dask future must stay referenced until done, or Dask forgets the task.
        future._votakvot_task = task  # type: ignore[attr-defined]
        task.add_done_callback(functools.partial(_settle, future))
        return future

    def close(self, wait: bool = True) -> None:
        if self.own_client:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _innermost(exc: BaseException) -> BaseException:
    seen = {id(exc)}
    while True:
        nxt = exc.__cause__ or exc.__context__
        if nxt is None or id(nxt) in seen:
            return exc
        seen.add(id(nxt))
        exc = nxt


def _settle(future: concurrent.futures.Future[Any], task: Any) -> None:
    """Copy a finished Dask task's outcome into the future the user holds."""
    try:
        if task.status == "cancelled":
            future.set_exception(
                concurrent.futures.CancelledError(f"Dask cancelled the task {task.key}")
            )
        else:
            future.set_result(task.result())  # re-raises the trial's exception
    except BaseException as exc:
        if not future.done():
            future.set_exception(exc)
    finally:
        future._votakvot_task = None  # type: ignore[attr-defined]
