"""Regions of practical equivalence (ROPE), one per quantity.

A single half-width cannot fit quantities in different units (a in size/day, c in
size²/day, rates, curves), so a ROPE is given per quantity (``--rope d=0.005``, in that
quantity's own units, applied to the difference) or as a ratio for every positive quantity
(``--rope-ratio 1.1``: |log(condition/reference)| < log 1.1).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from spinefit.errors import ConfigError


@dataclass(frozen=True)
class Rope:
    """ROPEs of a comparison.

    Attributes
    ----------
    absolute : dict
        Half-width of the ROPE of the difference, per quantity name, in its own units.
    ratio : float or None
        R > 1: the ROPE |log ratio| < log R of every positive quantity without an
        absolute ROPE.
    """

    absolute: Mapping[str, float] = field(default_factory=dict)
    ratio: float | None = None

    def for_quantity(self, name: str, positive: bool) -> dict[str, Any] | None:
        """Return the ROPE that applies to ``name`` (``kind``, ``value``), or None."""
        if name in self.absolute:
            return {"kind": "difference", "value": float(self.absolute[name])}
        if self.ratio is not None and positive:
            return {"kind": "ratio", "value": float(self.ratio)}
        return None

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready description."""
        return {"absolute": dict(self.absolute), "ratio": self.ratio}


def rope_text(applied: Mapping[str, Any] | None) -> str:
    """Return the ROPE that applied to a contrast row in words (``"none"`` without one).

    ``applied`` is :meth:`Rope.for_quantity`'s result: ``|difference| < 0.005`` or
    ``|log ratio| < log 1.1``.
    """
    if not applied:
        return "none"
    if applied["kind"] == "ratio":
        return f"|log ratio| < log {applied['value']:g}"
    return f"|difference| < {applied['value']:g}"


def parse_rope(items: Iterable[str] = (), ratio: float | None = None) -> Rope:
    """Return a :class:`Rope` from ``NAME=VALUE`` strings and a ratio.

    Parameters
    ----------
    items : iterable of str
        ``NAME=VALUE`` with VALUE > 0 in the quantity's units (e.g. ``d=0.005``).
    ratio : float, optional
        Relative ROPE R > 1 for positive quantities.

    Raises
    ------
    ConfigError
        On a bare number, a missing name, a repeated name or a non-positive value.
    """
    absolute: dict[str, float] = {}
    for item in items:
        name, sep, text = str(item).partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(
                f"--rope takes NAME=VALUE, one per quantity in its own units (e.g. "
                f"--rope d=0.005), or use --rope-ratio R; got '{item}'"
            )
        if name in absolute:
            raise ConfigError(f"--rope gives '{name}' twice")
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"--rope {name}= needs a number, got '{text}'") from None
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"--rope {name}= must be a positive number, got {text}")
        absolute[name] = value
    if ratio is not None and not (math.isfinite(ratio) and ratio > 1):
        raise ConfigError(f"--rope-ratio must be a number above 1 (e.g. 1.1), got {ratio}")
    return Rope(absolute, ratio)


def as_rope(rope: Rope | Mapping[str, float] | None) -> Rope:
    """Return ``rope`` as a :class:`Rope` (a mapping is per-quantity half-widths).

    Raises
    ------
    ConfigError
        If ``rope`` is a bare number: one half-width cannot suit quantities in different
        units.
    """
    if rope is None:
        return Rope()
    if isinstance(rope, Rope):
        return rope
    if isinstance(rope, Mapping):
        return parse_rope([f"{k}={v}" for k, v in rope.items()])
    raise ConfigError(
        "a single ROPE for every quantity mixes units; give one per quantity "
        "(e.g. {'d': 0.005}) or a ratio ROPE"
    )
