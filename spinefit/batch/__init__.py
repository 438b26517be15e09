"""Many fits at once on dask.distributed: ``spinefit batch`` (see :mod:`spinefit.batch.run`)."""
