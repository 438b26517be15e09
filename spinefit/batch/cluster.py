"""Run many independent tasks on dask.distributed, one PyTensor compile dir per worker.

Every worker process claims a compile dir of its own when it starts
(:mod:`spinefit.batch.compile_dirs`, through the worker plugin), so workers never compile
into a shared cache and each keeps what it compiled for later tasks and later runs.

Tasks are module-level functions called with keyword arguments. A task that raises does
not stop the others: its outcome carries a one-line message instead of a value.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from spinefit.errors import ConfigError, SpinefitError
from spinefit.progress import progress_bar

IN_PROCESS = "inprocess"
"""``scheduler`` value that runs the tasks one after another in this process (tests)."""

CONNECT_TIMEOUT = "10s"
"""How long to try reaching a scheduler given by address."""


@dataclass(frozen=True)
class TaskOutcome:
    """What became of one task.

    Parameters
    ----------
    key : str
        The task's key, as given.
    ok : bool
        True when the task returned.
    value : Any
        Its return value (None when it failed).
    error : str or None
        One-line message when it failed: the error's own message for spinefit errors,
        prefixed by the exception type otherwise.
    seconds : float
        Wall time of the task in its worker.
    """

    key: str
    ok: bool
    value: Any = None
    error: str | None = None
    seconds: float = 0.0


def run_task(func: Callable[..., Any], key: str, kwargs: dict[str, Any]) -> TaskOutcome:
    """Call ``func(**kwargs)`` and return its outcome; never raises."""
    start = time.perf_counter()
    try:
        value = func(**kwargs)
    except SpinefitError as err:
        return TaskOutcome(key, False, error=str(err), seconds=time.perf_counter() - start)
    except Exception as err:  # one dataset's bug must not stop the others
        message = f"{type(err).__name__}: {err}".splitlines()[0]
        return TaskOutcome(key, False, error=message, seconds=time.perf_counter() - start)
    return TaskOutcome(key, True, value=value, seconds=time.perf_counter() - start)


def default_workers() -> int:
    """Return the number of local workers: one per core."""
    return max(1, os.cpu_count() or 1)


def run_tasks(
    func: Callable[..., Any],
    items: Sequence[tuple[str, dict[str, Any]]],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    description: str = "working",
) -> Iterator[TaskOutcome]:
    """Run ``func(**kwargs)`` for every ``(key, kwargs)`` of `items`, yielding outcomes.

    Parameters
    ----------
    func : callable
        A module-level (picklable) function.
    items : sequence of (str, dict)
        Task keys (unique) and keyword arguments.
    scheduler : str, optional
        None starts a ``LocalCluster`` of `workers` single-threaded worker processes;
        ``"tcp://host:port"`` uses a running dask scheduler (workers on any number of
        nodes); ``"inprocess"`` runs the tasks here, one after another.
    workers : int, optional
        Local worker processes (default one per core); not allowed with a scheduler
        address.
    progress : bool
        Show a progress bar on stderr.
    description : str
        Label of the progress bar.

    Yields
    ------
    TaskOutcome
        In completion order.

    Raises
    ------
    ConfigError
        For duplicate keys, ``workers < 1``, ``workers`` with a scheduler address, or a
        scheduler that cannot be reached.
    """
    keys = [key for key, _ in items]
    if len(set(keys)) != len(keys):
        raise ConfigError("task keys must be unique")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if workers is not None and scheduler not in (None, IN_PROCESS):
        raise ConfigError("--workers starts a local cluster; it cannot be used with --scheduler")
    with progress_bar(progress, len(items), description, counts=True) as advance:
        if scheduler == IN_PROCESS:
            for key, kwargs in items:
                outcome = run_task(func, key, kwargs)
                advance()
                yield outcome
            return
        yield from _run_on_dask(func, items, scheduler, workers, advance)


def _run_on_dask(func, items, scheduler, workers, advance) -> Iterator[TaskOutcome]:
    import logging

    from distributed import Client, LocalCluster, as_completed

    from spinefit.batch.worker_plugin import IsolatedCompileDir

    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers or default_workers(),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    else:
        cluster = None
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as err:
            raise ConfigError(f"cannot reach the dask scheduler at {scheduler}: {err}") from None
    try:
        client.register_plugin(IsolatedCompileDir())
        run_id = uuid.uuid4().hex[:8]
        futures = {
            client.submit(
                run_task, func, key, kwargs, key=f"spinefit-{key}-{run_id}", pure=False
            ): key
            for key, kwargs in items
        }
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except Exception as err:  # the worker died (memory, signal): record, go on
                outcome = TaskOutcome(futures[future], False, error=f"worker lost: {err}")
            advance()
            yield outcome
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
