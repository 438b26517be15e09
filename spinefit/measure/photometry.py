r"""Spine photometry in one stack: integrated intensity, shaft peak, their noise (numpy only).

For a spine centred at :math:`c` the *aperture* :math:`A` is a cylinder of radius
``radius_xy`` pixels and half-height ``half_depth_z`` planes around :math:`c`; the
*background shell* :math:`B` is the ring ``shell_inner``–``shell_outer`` × ``radius_xy``
over the same planes. With :math:`\hat b` the mean of the shell after clipping bright
voxels (neighbouring spines, the shaft) and :math:`s_b^2` its variance,

.. math::

    S = \sum_{v\in A} (I_v - \hat b), \qquad
    \operatorname{Var} S = g\,\max(S, 0) + n_A s_b^2 + n_A^2 s_b^2 / n_B,

where :math:`g` is the detector gain (ADU per photon): shot noise of the spine's own
photons, plus the background (shot and read) noise in the aperture and in the estimate
:math:`\hat b`. The first term is absent when there is no spine, so the *detection*
signal-to-noise ratio is :math:`S / \sqrt{n_A s_b^2 + n_A^2 s_b^2/n_B}`.

The background under the aperture is not flat: tails of neighbouring heads, the shaft's
flank and other dendrites reach into the shell, and the shell mean then misses the level
under the aperture by more than voxel noise. In crowded synthetic scenes (80 spines on 4
dendrites, 256 × 256 pixels) that error was ~4× the voxel-noise SE of :math:`\hat b`,
mostly constant per spine, and made the standardised volume errors' SD 1.15–1.38 while
the noise part alone was calibrated (SD 1.01 for the difference of two noise draws of one
scene). So the error of :math:`\hat b` is also estimated from its spatial spread: the
shell is cut into :data:`BACKGROUND_SECTORS` angular sectors and the excess of the
variance of their means over voxel noise, :math:`n_A^2 \max(0, \mathrm{Var}(\bar b_k)/K
- s_b^2/n_B)`, is added to :math:`\operatorname{Var} S` (``structure_var``). Detection
keeps the voxel-noise SNR above, so presence decisions do not depend on it.

The shaft peak at a shaft point is the largest value, within ``peak_search`` voxels, of
the stack smoothed by a small Gaussian (``peak_smoothing``), minus :math:`\hat b`. Smoothing
keeps the maximum from picking up noise; it lowers every peak by the same factor, which
cancels in relative volumes. Volume = :math:`S / \bar P`, with :math:`\bar P` the mean peak
of the spine's nearest shaft points (Holtmaat et al. 2005, Neuron 45:279; Matsuzaki et al.
2004, Nature 429:761: the ratio is proportional to volume for heads smaller than the PSF).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinefit.errors import ConfigError
from spinefit.measure.defaults import DEFAULT_HALF_DEPTH_Z, DEFAULT_RADIUS_XY

BACKGROUND_SECTORS = 8
"""Angular sectors of the background shell whose means estimate the spatial error of b̂."""
MIN_SECTOR_VOXELS = 5
"""A sector with fewer kept shell voxels is left out of that estimate (3 sectors at least)."""

__all__ = ["Aperture", "SpinePhotometry", "shaft_peak", "spine_photometry"]


@dataclass(frozen=True)
class Aperture:
    """Where a spine's light and its background are summed, in pixels and planes.

    Parameters
    ----------
    radius_xy : float
        Aperture radius (pixels): about 3 lateral PSF standard deviations plus the head
        radius.
    half_depth_z : float
        Aperture half-height (planes): about 2.5 axial PSF standard deviations.
    shell_inner, shell_outer : float
        Background ring, as multiples of `radius_xy`.
    peak_smoothing : tuple of float
        Gaussian smoothing (planes, pixels, pixels) before the shaft maximum is taken.
    peak_search : tuple of int
        Half-size (planes, pixels, pixels) of the box searched for the shaft maximum
        around a shaft point.
    clip_sigma : float
        Shell voxels more than this many standard deviations above the shell mean are
        left out of the background (from the median and MAD, then twice from the
        mean and SD of what is kept).
    shaft_clearance : float
        Voxels closer than this (pixels) to the shaft axis (the line through the spine's
        two nearest shaft points) are left out of both aperture and shell: the blurred
        shaft's smooth flank would otherwise be counted as spine or as background.
    """

    radius_xy: float = DEFAULT_RADIUS_XY
    half_depth_z: float = DEFAULT_HALF_DEPTH_Z
    shell_inner: float = 1.5
    shell_outer: float = 2.5
    peak_smoothing: tuple[float, float, float] = (0.5, 1.0, 1.0)
    peak_search: tuple[int, int, int] = (1, 3, 3)
    clip_sigma: float = 5.0
    shaft_clearance: float = 6.0

    def __post_init__(self) -> None:
        if not (self.radius_xy > 0 and self.half_depth_z >= 0):
            raise ConfigError(
                f"the aperture needs a positive radius (got {self.radius_xy} px) and a "
                f"half-depth >= 0 (got {self.half_depth_z} planes)"
            )
        if not 1 <= self.shell_inner < self.shell_outer:
            raise ConfigError("the background shell needs 1 <= shell_inner < shell_outer")


@dataclass(frozen=True)
class SpinePhotometry:
    r"""The photometry of one spine in one session.

    Attributes
    ----------
    integral : float
        Background-subtracted integrated intensity :math:`S` (ADU).
    integral_var : float
        Its variance, with the spine's shot noise and ``structure_var`` (ADU²).
    null_var : float
        Its variance from voxel noise if there were no spine (ADU²); sets the SNR.
    structure_var : float
        The part of ``integral_var`` from the background's spatial structure (ADU²; see
        the module notes); it does not average out over repeated frames.
    background : float
        Background per voxel :math:`\hat b` (ADU).
    background_var : float
        Variance of one background voxel :math:`s_b^2` (ADU²).
    inside_fraction : float
        Fraction of the aperture inside the stack (1 unless near a border).
    """

    integral: float
    integral_var: float
    null_var: float
    structure_var: float
    background: float
    background_var: float
    inside_fraction: float

    @property
    def snr(self) -> float:
        r"""Detection signal-to-noise ratio :math:`S / \sqrt{\mathrm{Var}_0 S}`."""
        return self.integral / np.sqrt(self.null_var) if self.null_var > 0 else np.nan


def _box(
    shape: tuple[int, ...], centre: NDArray[np.float64], half: NDArray[np.float64]
) -> tuple[tuple[slice, ...], NDArray[np.float64]]:
    """Return the slices of the box ``centre ± half`` clipped to ``shape``, and its origin."""
    low = np.floor(centre - half).astype(int)
    high = np.ceil(centre + half).astype(int) + 1
    low_clipped = np.maximum(low, 0)
    high_clipped = np.minimum(high, shape)
    slices = tuple(slice(lo, hi) for lo, hi in zip(low_clipped, high_clipped, strict=True))
    return slices, low_clipped.astype(float)


def _aperture_voxels(aperture: Aperture) -> int:
    """Return the number of aperture voxels around a voxel-centred spine, for reference."""
    r, h = aperture.radius_xy, aperture.half_depth_z
    zz, yy, xx = np.mgrid[-int(h) : int(h) + 1, -int(r) : int(r) + 1, -int(r) : int(r) + 1]
    return int(np.count_nonzero((np.abs(zz) <= h) & (yy**2 + xx**2 <= r**2)))


def spine_photometry(
    stack: NDArray,
    centre: NDArray[np.float64],
    aperture: Aperture,
    gain: float,
    shaft_axis: NDArray[np.float64] | None = None,
    neighbours: NDArray[np.float64] | None = None,
) -> SpinePhotometry | None:
    """Measure one spine: background-subtracted integral and its variance.

    Parameters
    ----------
    stack : numpy.ndarray
        One session (plane, row, column); a memory map is read only around `centre`.
    centre : numpy.ndarray
        Spine centre in this session (plane, row, column).
    aperture : Aperture
        Aperture and background shell.
    gain : float
        ADU per detected photon (shot-noise term).
    shaft_axis : numpy.ndarray, optional
        Two points (2, 3) on the shaft axis in this session; voxels within
        ``aperture.shaft_clearance`` pixels of the line through them (laterally) are
        left out.
    neighbours : numpy.ndarray, optional
        Centres (m, 3) of the other spines in this session. Aperture voxels laterally
        closer to a neighbour than to `centre` go to the neighbour, and shell voxels
        within ``radius_xy`` of a neighbour are left out of the background.

    Returns
    -------
    SpinePhotometry or None
        None when the centre lies outside the stack or the shell has fewer than 10
        voxels.
    """
    shape = stack.shape
    if np.any(centre < -0.5) or np.any(centre > np.asarray(shape) - 0.5):
        return None
    outer = aperture.shell_outer * aperture.radius_xy
    half = np.array([np.floor(aperture.half_depth_z) + 1, outer, outer])
    slices, origin = _box(shape, centre, half)
    patch = np.asarray(stack[slices], dtype=np.float64)
    zz, yy, xx = np.meshgrid(
        *[origin[a] + np.arange(patch.shape[a]) - centre[a] for a in range(3)],
        indexing="ij",
        sparse=True,
    )
    lateral2 = yy**2 + xx**2
    # Whole planes round(z) ± half-depth: the sum over planes of the axial profile then
    # hardly depends on where the head sits between planes (a |z| cut would drop a plane).
    nearest_plane = np.rint(centre[0]) - centre[0]
    in_depth = np.abs(zz - nearest_plane) <= np.floor(aperture.half_depth_z) + 1e-9
    if shaft_axis is not None:
        in_depth = in_depth & ~_near_axis(yy, xx, centre, shaft_axis, aperture.shaft_clearance)
    mine = np.ones(np.broadcast_shapes(yy.shape, xx.shape), dtype=bool)
    clear = mine.copy()
    if neighbours is not None:
        reach = (aperture.shell_outer + 1) * aperture.radius_xy
        for other in neighbours:
            dy, dx = other[1] - centre[1], other[2] - centre[2]
            if dy * dy + dx * dx > reach**2:
                continue
            to_other = (yy - dy) ** 2 + (xx - dx) ** 2
            mine &= to_other > yy**2 + xx**2
            clear &= to_other > aperture.radius_xy**2
    inside = in_depth & mine & (lateral2 <= aperture.radius_xy**2)
    shell = (
        in_depth
        & clear
        & (lateral2 > (aperture.shell_inner * aperture.radius_xy) ** 2)
        & (lateral2 <= outer**2)
    )
    ring = patch[shell]
    if ring.size < 10 or not inside.any():
        return None
    # Leave out neighbouring spines and shaft crossing the ring: clip from a robust
    # centre and spread (median, MAD), which a bright intruder does not inflate.
    centre_value = float(np.median(ring))
    spread = 1.4826 * float(np.median(np.abs(ring - centre_value)))
    if spread <= 0:  # few photons: the MAD of integer counts can be 0
        spread = float(ring.std(ddof=1))
    keep = ring <= centre_value + aperture.clip_sigma * spread
    for _ in range(2):
        kept = ring[keep]
        keep = ring <= kept.mean() + aperture.clip_sigma * kept.std(ddof=1)
    background = float(ring[keep].mean())
    background_var = float(ring[keep].var(ddof=1))
    n_aperture = int(np.count_nonzero(inside))
    n_background = int(np.count_nonzero(keep))
    integral = float(np.sum(patch[inside]) - n_aperture * background)
    null_var = n_aperture * background_var * (1 + n_aperture / n_background)
    dy = np.broadcast_to(yy, shell.shape)[shell][keep]
    dx = np.broadcast_to(xx, shell.shape)[shell][keep]
    structure_var = n_aperture**2 * _level_excess_var(
        ring[keep], dy, dx, background_var / n_background
    )
    return SpinePhotometry(
        integral=integral,
        integral_var=null_var + structure_var + gain * max(integral, 0.0),
        null_var=null_var,
        structure_var=structure_var,
        background=background,
        background_var=background_var,
        inside_fraction=min(1.0, n_aperture / _aperture_voxels(aperture)),
    )


def _level_excess_var(values: NDArray, dy: NDArray, dx: NDArray, noise_var: float) -> float:
    """Return the variance of the background level beyond voxel noise (ADU² per voxel).

    From the means of :data:`BACKGROUND_SECTORS` angular sectors of the kept shell voxels
    (offsets ``dy``, ``dx`` from the centre): Var(sector means) / K minus ``noise_var``,
    the voxel-noise variance of the shell mean; 0 when fewer than 3 sectors are usable.
    """
    sector = np.floor((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * BACKGROUND_SECTORS)
    sector = sector.astype(int) % BACKGROUND_SECTORS
    counts = np.bincount(sector, minlength=BACKGROUND_SECTORS)
    sums = np.bincount(sector, weights=values, minlength=BACKGROUND_SECTORS)
    usable = counts >= MIN_SECTOR_VOXELS
    if usable.sum() < 3:
        return 0.0
    means = sums[usable] / counts[usable]
    return max(0.0, float(means.var(ddof=1)) / means.size - noise_var)


def _near_axis(
    yy: NDArray, xx: NDArray, centre: NDArray, axis: NDArray, clearance: float
) -> NDArray[np.bool_]:
    """Return where a voxel (offsets from ``centre``) lies within ``clearance`` of the axis."""
    start = axis[0, 1:] - centre[1:]
    direction = axis[1, 1:] - axis[0, 1:]
    length = np.hypot(*direction)
    if length < 1e-6:  # one point: a disc around it
        return (yy - start[0]) ** 2 + (xx - start[1]) ** 2 < clearance**2
    normal = np.array([-direction[1], direction[0]]) / length
    return np.abs((yy - start[0]) * normal[0] + (xx - start[1]) * normal[1]) < clearance


def shaft_peak(
    stack: NDArray, point: NDArray[np.float64], aperture: Aperture, background: float
) -> tuple[float, float] | None:
    r"""Return the smoothed shaft maximum near ``point`` (ADU, background not subtracted).

    The maximum is interpolated between voxels (Gaussian through the largest sample and
    its neighbours along each axis).

    Parameters
    ----------
    stack : numpy.ndarray
        One session (plane, row, column).
    point : numpy.ndarray
        Shaft point in this session (plane, row, column).
    aperture : Aperture
        Gives the smoothing and the search box.
    background : float
        Rough background level (ADU), used only to interpolate the peak between voxels.

    Returns
    -------
    (peak, noise_factor) or None
        ``noise_factor`` is :math:`\sum_k w_k^2` of the smoothing kernel: the peak's
        variance is that times the voxel variance. None if the point is outside the stack.
    """
    shape = np.asarray(stack.shape)
    if np.any(point < -0.5) or np.any(point > shape - 0.5):
        return None
    sigma = np.asarray(aperture.peak_smoothing, dtype=float)
    search = np.asarray(aperture.peak_search, dtype=float)
    reach = np.ceil(3 * sigma)
    slices, origin = _box(tuple(shape), point, search + reach)
    patch = np.asarray(stack[slices], dtype=np.float64)
    smooth = ndimage.gaussian_filter(patch, sigma=sigma, mode="nearest", truncate=3.0)
    centre = np.rint(point - origin).astype(int)
    low = np.maximum(centre - search.astype(int), 0)
    high = np.minimum(centre + search.astype(int) + 1, patch.shape)
    window = smooth[tuple(slice(lo, hi) for lo, hi in zip(low, high, strict=True))]
    if window.size == 0:
        return None
    best = np.array(np.unravel_index(np.argmax(window), window.shape)) + low
    peak = float(smooth[tuple(best)])
    # The axial profile is sampled at about one plane per PSF sigma, so the largest
    # sample is up to ~15% below the true peak when the axis lies between planes; a
    # Gaussian (log-parabola) through the maximum and its neighbours recovers it.
    for axis in range(3):
        if 0 < best[axis] < smooth.shape[axis] - 1:
            index = list(best)
            values = []
            for offset in (-1, 0, 1):
                index[axis] = best[axis] + offset
                values.append(float(smooth[tuple(index)]) - background)
            peak = background + (peak - background) * _log_parabola_gain(*values)
    noise_factor = 1.0
    for s in sigma:
        taps = np.arange(-int(np.ceil(3 * s)), int(np.ceil(3 * s)) + 1)
        kernel = np.exp(-0.5 * (taps / s) ** 2)
        kernel /= kernel.sum()
        noise_factor *= float(np.sum(kernel**2))
    return peak, noise_factor


def _log_parabola_gain(left: float, middle: float, right: float) -> float:
    """Return peak/middle of a Gaussian through three equally spaced positive samples."""
    if min(left, middle, right) <= 0 or middle < max(left, right):
        return 1.0
    a, b, c = np.log(left), np.log(middle), np.log(right)
    curvature = a - 2 * b + c
    if curvature >= 0:
        return 1.0
    offset = 0.5 * (a - c) / curvature
    return float(np.exp(-0.25 * (a - c) * offset))
