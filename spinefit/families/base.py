r"""The SDE-family contract: drift, variance, priors, units and LaTeX of one family.

Every drift–diffusion model writes its SDE :math:`dw = \mu(w)\,dt + \sigma(w)\,dB` through an
:class:`SDEFamily`. A family works in units of the median observed size :math:`s`
(:math:`x = w/s`), so that every model is equivariant under a change of volume units:
:math:`\mu_s(x) = \mu(s x)/s` and :math:`\sigma^2_s(x) = \sigma^2(s x)/s^2`.

All families share the Kesten core :math:`a, b, c, d` (drift :math:`a + b w`, variance
:math:`c + d w^2` for the linear family), so animal offsets and condition contrasts apply
to the same four parameters in every family; a family adds its own parameters
(:attr:`SDEFamily.extra_parameters`) and says how they enter :math:`\mu` and
:math:`\sigma^2`.

A family's functions use arithmetic operators and the array namespace ``xp`` only (numpy
by default, or :func:`spinefit.models.killed_grid.pytensor_namespace`), so one definition
serves the PyMC graph, numpy checks and xarray posterior curves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import xarray as xr

from spinefit import dims


@dataclass(frozen=True)
class FamilyParameter:
    """One parameter of an SDE family.

    Attributes
    ----------
    name : str
        Posterior variable (in volume units).
    volume_power : int
        The value in volume units is the value in size units times :math:`s^{k}`.
    per_day : bool
        Whether the units carry 1/day.
    latex : str
        Symbol for the report.
    vector_dim : str, optional
        Dim of a vector parameter (e.g. spline coefficients).
    """

    name: str
    volume_power: int
    per_day: bool
    latex: str
    vector_dim: str | None = None

    def units(self, volume_units: str) -> str:
        """Return the units string, e.g. ``"um3^2/day"`` (``"1"`` if dimensionless)."""
        volume = {0: "", 1: volume_units, 2: f"{volume_units}²"}[self.volume_power]
        if self.per_day:
            return f"{volume}/day" if volume else "1/day"
        return volume or "1"


CORE_PARAMETERS = (
    FamilyParameter("a", 1, True, "a"),
    FamilyParameter("b", 0, True, "b"),
    FamilyParameter("c", 2, True, "c"),
    FamilyParameter("d", 0, True, "d"),
)
"""The Kesten core every family shares (animal offsets act on a, b and log d)."""


@dataclass(frozen=True)
class PriorScales:
    r"""Data summaries that set the priors (all in size units, so unit-free).

    Attributes
    ----------
    size : float
        s, the median observed size (volume units): the one scale that is not unit-free,
        kept to store parameters in volume units.
    interval : float
        T, the median interval between sessions (days).
    rate_var : float
        v, the variance of :math:`\Delta x/\sqrt{\Delta t}` over observed transitions.
    log_low, log_high : float
        Log of the smallest and largest observed size over s.
    """

    size: float
    interval: float
    rate_var: float
    log_low: float = -1.0
    log_high: float = 1.0

    @classmethod
    def from_transitions(cls, scale: float, x0, x1, dt, interval=None) -> PriorScales:
        """Return the scales of transitions given in size units (x = w/s).

        ``interval`` overrides the median of ``dt`` (e.g. the median over all sessions).
        """
        x0, x1, dt = (np.asarray(v, dtype=float) for v in (x0, x1, dt))
        sizes = np.concatenate([x0, x1])
        return cls(
            size=float(scale),
            interval=float(np.median(dt) if interval is None else interval),
            rate_var=float(np.var((x1 - x0) / np.sqrt(dt))) or 1.0,
            log_low=float(np.log(sizes.min())),
            log_high=float(np.log(sizes.max())),
        )


@dataclass
class SDEFamily:
    """Base class of SDE families; subclasses override the class attributes and functions.

    Parameters
    ----------
    settings : dict
        Family options and data-dependent settings (e.g. spline knots), JSON-serialisable;
        saved in the model config so that a result rebuilds the same family.
    """

    name: ClassVar[str] = ""
    equation: ClassVar[str] = ""
    """LaTeX of the SDE (single population)."""
    prior_text: ClassVar[str] = ""
    """The family's own priors, in words (the Kesten core's are the model's)."""
    extra_parameters: ClassVar[tuple[FamilyParameter, ...]] = ()
    default_settings: ClassVar[dict[str, Any]] = {}
    exact_linear_moments: ClassVar[bool] = False
    """True if the transition moments are the linear family's exact ones."""

    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.settings = dict(self.default_settings) | dict(self.settings)

    # -- specification -------------------------------------------------------------------
    @property
    def parameters(self) -> tuple[FamilyParameter, ...]:
        """All parameters: the Kesten core, then the family's own."""
        return CORE_PARAMETERS + self.extra_parameters

    @property
    def parameter_names(self) -> list[str]:
        """Posterior names of all parameters."""
        return [p.name for p in self.parameters]

    def validate(self) -> None:
        """Raise ConfigError if a setting is out of range (default: nothing to check)."""

    def configure(self, scales: PriorScales) -> SDEFamily:
        """Return the family with data-dependent settings filled in (default: unchanged)."""
        return self

    def extra_priors(self, scales: PriorScales, dim: str | None = None) -> dict[str, Any]:
        """Create the family's own PyMC variables (in size units) inside a model context.

        ``dim`` is None for one population, or the model dim (e.g. ``condition``) along
        which every parameter gets its own value.
        """
        return {}

    def extra_coords(self) -> dict[str, list]:
        """Coords of the family's vector parameters."""
        return {}

    # -- functions in size units ---------------------------------------------------------
    def drift(self, x, p: dict[str, Any], xp=np):
        r""":math:`\mu_s(x)`, with size-unit parameters ``p``."""
        raise NotImplementedError

    def variance(self, x, p: dict[str, Any], xp=np):
        r""":math:`\sigma^2_s(x)`, with size-unit parameters ``p``."""
        raise NotImplementedError

    def to_size_units(self, params: dict[str, Any], scale: float) -> dict[str, Any]:
        """Return parameters in size units from parameters in volume units."""
        out = dict(params)
        for p in self.parameters:
            if p.name in out and p.volume_power:
                out[p.name] = out[p.name] / scale**p.volume_power
        return out

    def functions(self, params: dict[str, Any], scale: float, xp=np):
        r"""Return :math:`\mu_s(x)` and :math:`\sigma^2_s(x)` from volume-unit parameters.

        Parameters
        ----------
        params : dict
            Parameter values in volume units (numbers, arrays or PyTensor variables; a
            vector parameter's last axis is its own dim).
        scale : float
            s, the size unit.
        xp : namespace
            Array namespace of the values.

        Returns
        -------
        drift, variance : callable
        """
        return self.size_functions(self.to_size_units(params, scale), xp)

    def size_functions(self, params: dict[str, Any], xp=np):
        r"""Return :math:`\mu_s(x)` and :math:`\sigma^2_s(x)` bound to size-unit parameters.

        Parameters
        ----------
        params : dict
            One population's parameters in units of s (numbers or PyTensor variables).
        xp : namespace
            Array namespace of the values.

        Returns
        -------
        drift, variance : callable
            ``x -> drift(x, params, xp)`` and ``x -> variance(x, params, xp)``.
        """
        return (lambda x: self.drift(x, params, xp)), (lambda x: self.variance(x, params, xp))

    # -- posterior curves ----------------------------------------------------------------
    def curves(self, posterior: xr.Dataset, grid: np.ndarray, scale: float) -> dict:
        """Return μ(w) and σ²(w) in volume units for every posterior draw on ``grid``.

        Returns
        -------
        dict
            ``{"drift", "variance"}`` DataArrays with the posterior's dims plus ``w``.
        """
        w = xr.DataArray(grid, dims=dims.SIZE_GRID, coords={dims.SIZE_GRID: grid})
        p_size = self.to_size_units({p.name: posterior[p.name] for p in self.parameters}, scale)
        for p in self.parameters:
            if p.vector_dim is not None:
                # The family functions take a vector parameter's entries by position.
                value = p_size[p.name]
                n = value.sizes[p.vector_dim]
                p_size[p.name] = [value.isel({p.vector_dim: k}) for k in range(n)]
        x = w / scale
        return {
            "drift": scale * self.drift(x, p_size, np),
            "variance": scale**2 * self.variance(x, p_size, np),
        }

    def units(self, volume_units: str) -> dict[str, str]:
        """Return ``{parameter: units}``."""
        return {p.name: p.units(volume_units) for p in self.parameters}


def entry(value, k: int):
    """Return entry ``k`` of a vector parameter (array, tensor or split xarray list)."""
    if isinstance(value, list):
        return value[k]
    return value[..., k]


def core_priors(scales: PriorScales, dim: str | None = None) -> dict[str, Any]:
    """Create the Kesten core of one population inside a PyMC model (size-unit values).

    a and c are sampled in size units (``a_scaled``, ``c_scaled``) so that the posterior
    geometry, and hence every draw, is the same whatever the volume units; ``a`` and ``c``
    in volume units are deterministic.

    Parameters
    ----------
    scales : PriorScales
        Prior scales of the data.
    dim : str, optional
        Model dim of independent populations (e.g. ``treatment``): one value of each
        parameter per label, with the same priors.

    Returns
    -------
    dict
        ``{"a", "b", "c", "d"}`` in size units.
    """
    import pymc as pm

    t, v, scale = scales.interval, scales.rate_var, scales.size
    a_scaled = pm.Normal("a_scaled", 0.0, 2.0 / t, dims=dim)
    b = pm.Normal("b", 0.0, 2.0 / t, dims=dim)
    c_scaled = pm.HalfNormal("c_scaled", 2.0 * v, dims=dim)
    d = pm.HalfNormal("d", 2.0 * v, dims=dim)
    pm.Deterministic("a", a_scaled * scale, dims=dim)
    pm.Deterministic("c", c_scaled * scale**2, dims=dim)
    return {"a": a_scaled, "b": b, "c": c_scaled, "d": d}


def condition_prior_table(scales: PriorScales) -> dict[str, tuple[float, float]]:
    """Return (mean, sd) of the normal priors of a, b, log c, log d per condition (size units)."""
    t, v = scales.interval, scales.rate_var
    return {
        "a": (0.0, 2.0 / t),
        "b": (0.0, 2.0 / t),
        "log_c": (float(np.log(v)), 2.0),
        "log_d": (float(np.log(v)), 2.0),
    }


CORE_PRIOR_TEXT = (
    "s = median observed size, T = median interval, v = variance of Δ(w/s)/√Δt. "
    "a ~ Normal(0, 2s/T); b ~ Normal(0, 2/T); c ~ HalfNormal(2v·s²); d ~ HalfNormal(2v)"
)
"""The Kesten core's priors of one population, in words."""
