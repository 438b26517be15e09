"""Exceptions raised by spinefit, each mapped to a command-line exit code.

The CLI prints ``str(error)`` on one line and exits with ``error.exit_code``; it never
shows a traceback for these.
"""

from __future__ import annotations


class SpinefitError(Exception):
    """Base class for every error spinefit reports to the user."""

    exit_code = 2


class DataError(SpinefitError):
    """An input table or matrix is malformed (exit code 2).

    Parameters
    ----------
    message : str
        What is wrong, in one sentence.
    source : str, optional
        The file the problem is in.
    row : int, optional
        1-based data row (header excluded) where the problem is.
    column : str, optional
        The column where the problem is.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.source = source
        self.row = row
        self.column = column
        where = []
        if source is not None:
            where.append(str(source))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ConfigError(SpinefitError):
    """Options given to a command or model do not fit together (exit code 2)."""


class ResultError(SpinefitError):
    """A results file is missing, unreadable or not a spinefit result (exit code 2)."""


class NotFittedError(SpinefitError):
    """A model was asked for results before it was fitted (exit code 2)."""


class ConvergenceError(SpinefitError):
    """The sampler did not converge and ``--strict`` was given (exit code 3)."""

    exit_code = 3
