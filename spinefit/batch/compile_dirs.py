"""Compile dirs of worker processes: one per process, locked, kept between runs.

PyTensor's compile cache is not safe to share between processes that compile at the same
time, and compiling is the largest fixed cost of a small fit. So every worker process
gets a compile dir of its own under the user's cache dir: a worker compiles each model
structure once and later tasks (and later runs) reuse it. A lock file keeps two live
workers (of two batch runs on one machine, say) out of the same dir.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from spinefit.errors import ConfigError

COMPILE_ROOT_ENV = "SPINEFIT_COMPILE_ROOT"
"""Environment variable naming the folder of the workers' compile dirs."""

SINGLE_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def compile_root() -> Path:
    """Return the folder that holds one compile dir per worker."""
    if root := os.environ.get(COMPILE_ROOT_ENV):
        return Path(root)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "spinefit" / "compile"


def claim_compile_dir(name: str, root: Path | None = None) -> tuple[Path, Any]:
    """Lock and return a compile dir for the worker called `name`.

    The first free dir of ``worker-<name>``, ``worker-<name>-2``, … is taken; the lock is
    held as long as the returned file object stays open (the worker's life).

    Returns
    -------
    path : Path
        The compile dir.
    lock : file object
        Keep it open while the dir is in use.
    """
    import fcntl

    root = root or compile_root()
    stem = "worker-" + (re.sub(r"[^A-Za-z0-9_.-]", "_", str(name)) or "0")
    for attempt in range(1, 1000):
        path = root / (stem if attempt == 1 else f"{stem}-{attempt}")
        path.mkdir(parents=True, exist_ok=True)
        lock = open(path / ".spinefit.lock", "w")  # held open for the worker's life
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        return path, lock
    raise ConfigError(f"no free compile dir under {root}")


def isolate_process(name: str) -> Path:
    """Give this process its own PyTensor compile dir and single-threaded BLAS.

    Must run before PyTensor is imported in the process; if it already was, the
    compile dir cannot change and the process keeps the one it has.

    Returns
    -------
    Path
        The compile dir this process uses.
    """
    path, lock = claim_compile_dir(name)
    flags = [f for f in os.environ.get("PYTENSOR_FLAGS", "").split(",") if f]
    flags = [f for f in flags if not f.startswith(("compiledir=", "base_compiledir="))]
    os.environ["PYTENSOR_FLAGS"] = ",".join([*flags, f"compiledir={path}"])
    for variable in SINGLE_THREAD_ENV:
        os.environ[variable] = "1"
    _LOCKS.append(lock)
    if "pytensor" in sys.modules:
        import pytensor

        return Path(pytensor.config.compiledir)
    return path


_LOCKS: list[Any] = []
