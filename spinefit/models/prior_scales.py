"""The ``prior_scales`` option: priors set from given data summaries instead of the data's own.

Several models centre or scale priors on the data they are fitted to (the mixture and the
variance split on the mean and SD of the log sizes, the latent drift–diffusion model on the
median size, the interval, the size-change variance and two size centres). With
``-o prior_scales='{...}'`` a fit takes those summaries from the option, so that several
data sets share one prior, and simulation-based calibration fits with exactly the prior its
truth was drawn from (``spinefit.calibration.simulators``).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from spinefit.errors import ConfigError

UNSET = (None, "none", "data")
"""Values of ``prior_scales`` meaning "from the data" (the default)."""


def check_prior_scales(
    value: Any, keys: tuple[str, ...], signed: tuple[str, ...] = ()
) -> dict[str, float] | None:
    """Validate a ``prior_scales`` option (None, a dict or its JSON text); return floats.

    Parameters
    ----------
    value : None, dict or str
        The option as given.
    keys : tuple of str
        The summaries the model's priors take from the data.
    signed : tuple of str
        Keys that may be any finite number (e.g. a mean log size); the others must be
        positive.

    Returns
    -------
    dict or None
        ``{key: float}``, or None to take them from the data.

    Raises
    ------
    ConfigError
        If it is not a mapping of exactly ``keys`` to finite numbers, positive unless
        ``signed``.
    """
    if isinstance(value, str) and value in UNSET or value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = None
    if not isinstance(value, dict) or set(value) != set(keys):
        raise ConfigError("prior_scales takes a JSON object with the keys " + ", ".join(keys))
    out = {}
    for key in keys:
        try:
            number = float(value[key])
        except (TypeError, ValueError):
            number = float("nan")
        if not np.isfinite(number) or (key not in signed and number <= 0):
            kind = "a number" if key in signed else "a positive number"
            raise ConfigError(f"prior_scales {key} must be {kind}, got {value[key]!r}")
        out[key] = number
    return out


LOCATION_SCALE_KEYS = ("mean", "sd")
"""Keys of ``prior_scales`` for models standardised by the mean and SD of log sizes."""


def location_and_scale(values: np.ndarray, prior: dict[str, float] | None) -> tuple[float, float]:
    """Return the (mean, SD) that standardise a model's priors: the option's, or the data's.

    The data's SD is replaced by 1 when it is 0 (all values equal).
    """
    if prior:
        return prior["mean"], prior["sd"]
    return float(np.mean(values)), float(np.std(values)) or 1.0
