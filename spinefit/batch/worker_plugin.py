"""The dask worker plugin that isolates each worker's compile dir (imports distributed)."""

from __future__ import annotations

from typing import Any

from distributed import WorkerPlugin

from spinefit.batch.compile_dirs import isolate_process


class IsolatedCompileDir(WorkerPlugin):
    """Run :func:`~spinefit.batch.compile_dirs.isolate_process` when a worker starts."""

    name = "spinefit-compile-dir"

    def setup(self, worker: Any) -> None:
        """Claim the worker's compile dir (called by dask in the worker process)."""
        isolate_process(str(worker.name))
