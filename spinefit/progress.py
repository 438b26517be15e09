"""A rich progress bar on stderr for long loops, or nothing (``measure``, ``batch``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(
    enabled: bool, total: int, description: str, *, transient: bool = False, counts: bool = False
) -> Iterator[Callable[[], None]]:
    """Yield a function that advances a progress bar by one step.

    Parameters
    ----------
    enabled : bool
        False yields a function that does nothing.
    total : int
        Number of steps.
    description : str
        Label of the bar.
    transient : bool
        Remove the bar when done.
    counts : bool
        Show "done/total" and the elapsed time instead of rich's percentage and time left.
    """
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    columns = (
        (
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        if counts
        else Progress.get_default_columns()
    )
    with Progress(*columns, console=Console(stderr=True), transient=transient) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)
