r"""Synthetic two-photon image stacks of spiny dendrites, with known truth.

Each session is one 3-D stack, axes ``(plane, row, column)`` = ``(z, y, x)``. The scene:

* **Dendrites**: tubes of radius ``shaft_radius_um`` crossing the field at 10–35° to the
  ``x`` axis (alternating sign), with a slow lateral wobble and a slight tilt in ``z``. A
  voxel wholly inside the dye-filled neuron collects ``brightness`` photons (before
  blurring).
* **Spine heads**: balls of known volume beside the shaft (centre ``neck_um`` ± 20% from
  the shaft surface, alternating sides, a small ``z`` offset; at least 12 pixels from
  other heads and other dendrites). Necks are not drawn. A head of
  volume :math:`V` collects :math:`\text{brightness}\cdot V / v_\text{voxel}` photons.
* **Optics**: a 3-D Gaussian point-spread function with standard deviations
  ``psf_sigma_xy`` (pixels) laterally and ``psf_sigma_z`` (planes) axially. The shaft is
  drawn exactly (its elliptical cross-section in voxel units, convolved with the PSF
  numerically on a fine grid); a head is drawn as a Gaussian whose variance per axis is
  the PSF variance plus :math:`r^2/5` (the variance of a uniform ball of radius
  :math:`r`), which keeps its integral exact.
* **Detection**: the expected photon count per voxel is ``background`` plus the blurred
  scene; counts are Poisson, multiplied by ``gain`` (ADU per photon), plus Gaussian read
  noise (``read_noise`` ADU) and an ``offset`` (ADU), rounded and stored as ``uint16``.
* **Motion**: session ``k`` sees every point ``p`` of session 0 at
  ``p + shift[k] + warp_k(p)``: a rigid shift (planes, pixels, pixels; session 0 has
  none) plus a smooth lateral warp of at most ``warp_px`` pixels.
* **Dynamics**: head volumes follow a drift–diffusion run with turnover
  (:func:`spinefit.simulate.synthetic.simulate_time_series`, sizes ``w`` in a.u.); a head
  of size ``w`` has volume ``w * volume_um3_per_unit`` µm³, and a spine below the
  run's detection threshold is eliminated and drawn as nothing. Each spine (row of the
  run, one contiguous run of sessions) gets its own site on a dendrite, so spines appear
  and disappear.

Everything is numpy/scipy; :func:`write_stacks` stores a scene as TIFF files with the
``sessions.csv`` and ``rois.csv`` that ``spinefit measure`` reads, plus ``truth.json``.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.interpolate import RegularGridInterpolator
from scipy.spatial import cKDTree

from spinefit._version import __version__
from spinefit.errors import ConfigError
from spinefit.simulate.synthetic import simulate_time_series

__all__ = [
    "DEFAULT_STACK_TIMES_DAYS",
    "SyntheticStacks",
    "expected_ratio_per_um3",
    "render_stacks",
    "write_stacks",
]

DEFAULT_STACK_TIMES_DAYS: tuple[float, ...] = (0, 2, 4, 7, 10)
"""Imaging schedule of the synthetic stacks (days)."""

CROWDED_SCENE: dict[str, Any] = {
    "shape": (16, 256, 256),
    "n_spines": 80,
    "n_dendrites": 4,
    "times_days": (0, 2, 4, 7, 10, 14),
    "brightness": 200,
}
"""A crowded scene (80 spines on 4 crossing dendrites, 6 sessions): keyword arguments of
:func:`render_stacks` for the end-to-end benchmark and the measurement-error tests."""

_PROFILE_STEP_UM = 0.01
"""Grid step of the numerically blurred shaft cross-section (µm)."""


@dataclass
class SyntheticStacks:
    """A rendered scene: one stack per session, the ROIs and the truth.

    Attributes
    ----------
    stacks : list of numpy.ndarray
        One ``uint16`` array per session, shape ``(planes, rows, columns)``, or
        ``(frames, planes, rows, columns)`` with repeated frames.
    times_days : numpy.ndarray
        Session times (days).
    rois : list of dict
        ``roi_id``, ``kind`` (``spine``/``shaft``), ``x``, ``y``, ``z`` in pixels and planes
        of session 0, as ``spinefit measure`` reads them.
    spine_ids : list of str
        The spine ROIs, in the order of the rows of `volume_um3`.
    volume_um3 : numpy.ndarray
        True head volume (µm³) per spine and session; NaN where the spine is absent.
    shifts : numpy.ndarray
        Rigid displacement of each session relative to session 0, shape ``(n_sessions,
        3)`` in (planes, pixels, pixels) order ``(z, y, x)``.
    centres : numpy.ndarray
        True head centre of each spine in every session, shape ``(n_spines, n_sessions,
        3)``, (z, y, x) in planes and pixels (including shift and warp).
    truth : dict
        JSON-serialisable: every rendering parameter, the drift–diffusion truth and the
        expected measured ratio per µm³ (see :func:`expected_ratio_per_um3`).
    """

    stacks: list[NDArray[np.uint16]]
    times_days: NDArray[np.float64]
    rois: list[dict[str, Any]]
    spine_ids: list[str]
    volume_um3: NDArray[np.float64]
    shifts: NDArray[np.float64]
    centres: NDArray[np.float64]
    truth: dict[str, Any] = field(default_factory=dict)


def render_stacks(
    shape: Sequence[int] = (12, 64, 64),
    *,
    n_spines: int = 8,
    n_dendrites: int = 2,
    times_days: Sequence[float] = DEFAULT_STACK_TIMES_DAYS,
    dynamics: dict[str, float] | None = None,
    voxel_size_um: Sequence[float] = (1.0, 0.15, 0.15),
    psf_sigma_xy: float = 1.2,
    psf_sigma_z: float = 0.8,
    shaft_radius_um: float = 0.45,
    neck_um: float = 1.4,
    volume_um3_per_unit: float = 0.1,
    brightness: float = 60.0,
    background: float = 3.0,
    gain: float = 1.0,
    read_noise: float = 1.0,
    offset: float = 100.0,
    max_shift: Sequence[float] = (1.0, 4.0, 4.0),
    warp_px: float = 0.3,
    frames: int = 1,
    random_seed: int = 0,
) -> SyntheticStacks:
    """Render synthetic two-photon stacks of spiny dendrites with known volumes and shifts.

    Parameters
    ----------
    shape : sequence of int
        ``(planes, rows, columns)`` of every stack.
    n_spines : int
        Number of spine sites simulated by the drift–diffusion run; its rows (spines) are
        spread over the dendrites, at most ``n_spines`` of them.
    n_dendrites : int
        Number of dendrites, running along ``x`` at evenly spaced rows.
    times_days : sequence of float
        Session times (days).
    dynamics : dict, optional
        Drift–diffusion parameters overriding
        :data:`spinefit.simulate.synthetic.DEFAULT_TRUTH`.
    voxel_size_um : sequence of float
        Voxel size (z, y, x) in µm.
    psf_sigma_xy, psf_sigma_z : float
        PSF standard deviations, in pixels (lateral) and planes (axial).
    shaft_radius_um : float
        Radius of the dendritic shaft (µm).
    neck_um : float
        Distance from the shaft surface to the head centre (µm), ±20% jitter.
    volume_um3_per_unit : float
        Head volume (µm³) of a spine of size 1 in the drift–diffusion run.
    brightness : float
        Expected photons collected from one voxel fully inside the dye-filled neuron
        (before blurring).
    background : float
        Expected background photons per voxel.
    gain : float
        ADU per detected photon.
    read_noise : float
        Standard deviation of the Gaussian read noise (ADU).
    offset : float
        Detector offset (ADU).
    max_shift : sequence of float
        Largest rigid shift per axis (planes, pixels, pixels); shifts are uniform in
        ``[-max_shift, max_shift]``.
    warp_px : float
        Amplitude of the smooth lateral warp (pixels).
    frames : int
        Repeated frames per session, each with its own shot and read noise (same scene);
        with more than one, a session's stack is ``(frames, planes, rows, columns)``.
    random_seed : int
        Seed of the geometry, shifts, dynamics and noise.

    Returns
    -------
    SyntheticStacks
        The stacks, ROIs and truth.

    Raises
    ------
    ConfigError
        If the stack is too small for the requested dendrites or a parameter is out of
        range.
    """
    shape = tuple(int(n) for n in shape)
    voxel = np.asarray(voxel_size_um, dtype=float)
    if len(shape) != 3 or min(shape) < 4:
        raise ConfigError(f"shape must be (planes, rows, columns), each >= 4; got {shape}")
    if voxel.shape != (3,) or np.any(voxel <= 0):
        raise ConfigError(f"voxel_size_um must be 3 positive numbers, got {voxel_size_um}")
    if min(psf_sigma_xy, psf_sigma_z, shaft_radius_um, brightness, gain) <= 0:
        raise ConfigError("PSF widths, shaft radius, brightness and gain must be positive")
    if min(background, read_noise, warp_px, neck_um) < 0:
        raise ConfigError("background, read_noise, warp_px and neck_um must be >= 0")
    if frames < 1:
        raise ConfigError(f"frames must be >= 1, got {frames}")
    rng = np.random.default_rng(random_seed)
    times = np.asarray(times_days, dtype=float)
    n_sessions = times.size

    dataset, dynamics_truth = simulate_time_series(
        dynamics, n_spines=n_spines, times_days=times, random_seed=random_seed
    )
    sizes = dataset["volume"].to_numpy()[:n_spines]
    spine_ids = [str(s) for s in dataset["spine"].to_numpy()[:n_spines]]
    volume_um3 = sizes * volume_um3_per_unit

    paths = _dendrite_paths(shape, n_dendrites, rng)
    sites, shaft_points = _place_spines(
        paths, len(spine_ids), shape, voxel, shaft_radius_um, neck_um, rng
    )
    if len(sites) < len(spine_ids):  # the dendrites had room for fewer spines
        spine_ids = spine_ids[: len(sites)]
        volume_um3 = volume_um3[: len(sites)]
    shifts = np.zeros((n_sessions, 3))
    shifts[1:] = rng.uniform(-1, 1, size=(n_sessions - 1, 3)) * np.asarray(max_shift, float)
    warps = [_warp_parameters(shape, warp_px if k else 0.0, rng) for k in range(n_sessions)]

    profile = _shaft_profile(voxel, psf_sigma_xy, psf_sigma_z, shaft_radius_um, brightness)
    voxel_volume = float(np.prod(voxel))
    stacks, centres = [], np.empty((len(spine_ids), n_sessions, 3))
    for k in range(n_sessions):
        expected = np.full(shape, float(background))
        for path in paths:
            _add_shaft(
                expected,
                _moved(path, shifts[k], warps[k]),
                profile,
                voxel,
                shaft_radius_um,
                psf_sigma_xy,
                psf_sigma_z,
            )
        centres[:, k] = _moved(sites, shifts[k], warps[k])
        for i in np.flatnonzero(np.isfinite(volume_um3[:, k])):
            _add_head(
                expected,
                centres[i, k],
                volume_um3[i, k],
                voxel,
                psf_sigma_xy,
                psf_sigma_z,
                brightness * volume_um3[i, k] / voxel_volume,
            )
        frame_stacks = []
        for f in range(frames):
            # Frame 0 keeps the seed of single-frame scenes, so they render as before.
            noise_rng = np.random.default_rng([random_seed, k] if f == 0 else [random_seed, k, f])
            counts = noise_rng.poisson(expected).astype(np.float64)
            adu = gain * counts + offset + read_noise * noise_rng.standard_normal(shape)
            frame_stacks.append(np.clip(np.rint(adu), 0, np.iinfo(np.uint16).max).astype(np.uint16))
        stacks.append(frame_stacks[0] if frames == 1 else np.stack(frame_stacks))

    rois = [
        {
            "roi_id": spine_ids[i],
            "kind": "spine",
            "x": sites[i, 2],
            "y": sites[i, 1],
            "z": sites[i, 0],
        }
        for i in range(len(spine_ids))
    ]
    rois += [
        {"roi_id": f"shaft{j:03d}", "kind": "shaft", "x": p[2], "y": p[1], "z": p[0]}
        for j, p in enumerate(shaft_points)
    ]
    truth = {
        "shape": list(shape),
        "voxel_size_um": voxel.tolist(),
        "psf_sigma_xy_px": psf_sigma_xy,
        "psf_sigma_z_planes": psf_sigma_z,
        "shaft_radius_um": shaft_radius_um,
        "neck_um": neck_um,
        "volume_um3_per_unit": volume_um3_per_unit,
        "brightness_photons_per_voxel": brightness,
        "background_photons_per_voxel": background,
        "gain_adu_per_photon": gain,
        "read_noise_adu": read_noise,
        "offset_adu": offset,
        "max_shift": [float(s) for s in max_shift],
        "warp_px": warp_px,
        "random_seed": random_seed,
        "times_days": times.tolist(),
        "shifts_zyx": shifts.tolist(),
        "dynamics": dynamics_truth,
        "shaft_peak_photons": float(profile(np.zeros((1, 2)))[0]),
    }
    return SyntheticStacks(
        stacks=stacks,
        times_days=times,
        rois=rois,
        spine_ids=spine_ids,
        volume_um3=volume_um3,
        shifts=shifts,
        centres=centres,
        truth=truth,
    )


def expected_ratio_per_um3(scene: SyntheticStacks) -> float:
    r"""Return the ideal measured volume (integral / shaft peak, in voxels) per µm³.

    A head of volume :math:`V` gives an integral of :math:`b V / v` photons and the shaft
    peak is ``truth["shaft_peak_photons"]``, so an aperture that collects every photon
    measures :math:`V \cdot b / (v \cdot \text{peak})`.
    """
    truth = scene.truth
    voxel_volume = float(np.prod(truth["voxel_size_um"]))
    return truth["brightness_photons_per_voxel"] / (voxel_volume * truth["shaft_peak_photons"])


def write_stacks(scene: SyntheticStacks, folder: str | Path) -> dict[str, Path]:
    """Write a scene as ``session_XX.tif`` files with ``sessions.csv``, ``rois.csv``, truth.

    Parameters
    ----------
    scene : SyntheticStacks
        From :func:`render_stacks`.
    folder : str or Path
        Created if missing.

    Returns
    -------
    dict
        Paths of ``sessions`` (CSV), ``rois`` (CSV), ``truth`` (JSON) and the folder.
    """
    import tifffile

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for k, stack in enumerate(scene.stacks):
        name = f"session_{k:02d}.tif"
        if stack.ndim == 4:  # repeated frames: an ImageJ hyperstack (frames, planes, y, x)
            tifffile.imwrite(folder / name, stack, imagej=True, metadata={"axes": "TZYX"})
        else:
            tifffile.imwrite(folder / name, stack, photometric="minisblack")
        names.append(name)
    sessions = folder / "sessions.csv"
    with sessions.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "time_days"])
        writer.writerows([[n, f"{t:g}"] for n, t in zip(names, scene.times_days, strict=True)])
    rois = folder / "rois.csv"
    with rois.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["roi_id", "kind", "x", "y", "z"])
        writer.writeheader()
        for roi in scene.rois:
            writer.writerow(
                {k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in roi.items()}
            )
    truth = folder / "truth.json"
    record = dict(scene.truth)
    record["spinefit_version"] = __version__
    record["spine_ids"] = scene.spine_ids
    record["volume_um3"] = [
        [None if math.isnan(v) else v for v in row] for row in scene.volume_um3.tolist()
    ]
    record["expected_ratio_per_um3"] = expected_ratio_per_um3(scene)
    truth.write_text(json.dumps(record, indent=1) + "\n")
    return {"folder": folder, "sessions": sessions, "rois": rois, "truth": truth}


# --------------------------------------------------------------------------- geometry


def _dendrite_paths(
    shape: tuple[int, int, int], n_dendrites: int, rng: np.random.Generator
) -> list[NDArray[np.float64]]:
    """Return each dendrite's axis as dense (z, y, x) points (0.25 px apart) in session 0.

    Dendrites cross the field at alternating angles of 10–35° to the ``x`` axis, so the
    scene has structure in every lateral direction (parallel dendrites would leave the
    shift along them fixed by the spines alone).
    """
    nz, ny, nx = shape
    if n_dendrites < 1 or ny / n_dendrites < 24:
        raise ConfigError(f"{n_dendrites} dendrites need at least {24 * n_dendrites} rows")
    half_length = 0.5 * np.hypot(nx, ny) + 8.0
    t = np.arange(-half_length, half_length, 0.25)
    paths = []
    for j in range(n_dendrites):
        angle = (-1) ** j * np.deg2rad(rng.uniform(10, 35))
        along = np.array([np.sin(angle), np.cos(angle)])  # (y, x)
        across = np.array([along[1], -along[0]])
        centre = np.array([(j + 0.5) * ny / n_dendrites, nx / 2 + rng.uniform(-0.1, 0.1) * nx])
        amplitude = rng.uniform(0.5, 1.5) * min(4.0, ny / n_dendrites / 8)
        wobble = amplitude * np.sin(2 * np.pi * t / max(nx, 64) + rng.uniform(0, 2 * np.pi))
        lateral = centre + t[:, None] * along + wobble[:, None] * across
        z = (nz - 1) / 2 + rng.uniform(-0.15, 0.15) * nz * t / half_length
        keep = (
            (lateral[:, 0] > -8)
            & (lateral[:, 0] < ny + 8)
            & (lateral[:, 1] > -8)
            & (lateral[:, 1] < nx + 8)
        )
        paths.append(np.column_stack([z, lateral])[keep])
    return paths


def _place_spines(
    paths: list[NDArray[np.float64]],
    n: int,
    shape: tuple[int, int, int],
    voxel: NDArray[np.float64],
    shaft_radius_um: float,
    neck_um: float,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return head centres (n, 3) beside the dendrites and shaft ROI points (m, 3).

    Heads and shaft points keep ``margin`` pixels from the borders and from every other
    dendrite, so no measurement mixes two dendrites.
    """
    margin = 8.0
    clearance = 12.0
    upper = np.asarray(shape[1:], dtype=float) - 1 - margin
    trees = [cKDTree(p[:, 1:]) for p in paths]

    def usable(point: NDArray[np.float64], own: int) -> bool:
        if np.any(point[1:] < margin) or np.any(point[1:] > upper):
            return False
        return all(t.query(point[1:])[0] > clearance for k, t in enumerate(trees) if k != own)

    per_path = np.bincount(np.arange(n) % len(paths), minlength=len(paths))
    sites, shaft_points = [], []
    for j, (path, count) in enumerate(zip(paths, per_path, strict=True)):
        inside = np.flatnonzero([usable(p, j) for p in path])
        if inside.size == 0:
            continue
        candidates = []
        for i in range(inside[0], inside[-1] + 1, 16):  # every 4 px along the axis
            point, normal = _point_and_normal(path, i)
            side = 1.0 if len(candidates) % 2 == 0 else -1.0
            distance_px = (shaft_radius_um + neck_um * rng.uniform(0.8, 1.2)) / voxel[1]
            dz = rng.uniform(-0.3, 0.3) / voxel[0]
            head = point + side * distance_px * normal + np.array([dz, 0.0, 0.0])
            if usable(head, j):
                candidates.append(head)
        if count:
            # Evenly spaced picks first, then any remaining candidate, keeping every
            # head (of any dendrite) at least `clearance` pixels from the others.
            step = max(1, len(candidates) // count)
            order = list(range(0, len(candidates), step))
            order += [i for i in range(len(candidates)) if i % step]
            placed = 0
            for i in order:
                if placed == count:
                    break
                if all(np.hypot(*(candidates[i][1:] - o[1:])) >= clearance for o in sites):
                    sites.append(candidates[i])
                    placed += 1
        # Shaft ROIs every ~8 pixels along the axis, as a user would click them.
        shaft_points += [
            path[i].copy() for i in range(inside[0], inside[-1] + 1, 32) if usable(path[i], j)
        ]
    return np.asarray(sites, dtype=float).reshape(-1, 3), np.asarray(shaft_points)


def _point_and_normal(
    path: NDArray[np.float64], i: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the axis point ``i`` and the in-plane unit normal there."""
    i = int(np.clip(i, 1, len(path) - 2))
    tangent = path[i + 1] - path[i - 1]
    normal = np.array([0.0, tangent[2], -tangent[1]])
    return path[i].copy(), normal / np.linalg.norm(normal)


def _warp_parameters(
    shape: tuple[int, int, int], amplitude: float, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Return (amplitude, wave vector y, wave vector x, phase) for each lateral axis."""
    wavelength = max(shape[1], shape[2])
    params = np.zeros((2, 4))
    for axis in range(2):
        angle = rng.uniform(0, 2 * np.pi)
        params[axis] = [
            amplitude * rng.uniform(0.5, 1.0),
            2 * np.pi * np.sin(angle) / wavelength,
            2 * np.pi * np.cos(angle) / wavelength,
            rng.uniform(0, 2 * np.pi),
        ]
    return params


def _moved(
    points: NDArray[np.float64], shift: NDArray[np.float64], warp: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Map session-0 points (z, y, x) to a session: rigid shift plus smooth lateral warp."""
    moved = points + shift
    for axis in range(2):
        amplitude, ky, kx, phase = warp[axis]
        moved[:, 1 + axis] += amplitude * np.sin(ky * points[:, 1] + kx * points[:, 2] + phase)
    return moved


# --------------------------------------------------------------------------- rendering


def _shaft_profile(
    voxel: NDArray[np.float64],
    psf_sigma_xy: float,
    psf_sigma_z: float,
    radius_um: float,
    brightness: float,
) -> RegularGridInterpolator:
    """Return the blurred shaft cross-section: photons at (lateral, axial) offset in µm."""
    sigma_lateral_um = psf_sigma_xy * voxel[1]
    sigma_axial_um = psf_sigma_z * voxel[0]
    half_lateral = radius_um + 6 * sigma_lateral_um
    half_axial = radius_um + 6 * sigma_axial_um
    lateral = np.arange(-half_lateral, half_lateral + 1e-9, _PROFILE_STEP_UM)
    axial = np.arange(-half_axial, half_axial + 1e-9, _PROFILE_STEP_UM)
    grid_l, grid_a = np.meshgrid(lateral, axial, indexing="ij")
    disc = (grid_l**2 + grid_a**2 <= radius_um**2).astype(float) * brightness
    blurred = ndimage.gaussian_filter(
        disc,
        sigma=(sigma_lateral_um / _PROFILE_STEP_UM, sigma_axial_um / _PROFILE_STEP_UM),
        mode="constant",
    )
    return RegularGridInterpolator((lateral, axial), blurred, bounds_error=False, fill_value=0.0)


def _add_shaft(
    expected: NDArray[np.float64],
    axis_points: NDArray[np.float64],
    profile: RegularGridInterpolator,
    voxel: NDArray[np.float64],
    radius_um: float,
    psf_sigma_xy: float,
    psf_sigma_z: float,
) -> None:
    """Add one blurred tube, whose axis runs through ``axis_points`` (z, y, x), in place."""
    nz, ny, nx = expected.shape
    reach_px = (radius_um / voxel[1]) + 6 * psf_sigma_xy
    yy, xx = np.mgrid[0:ny, 0:nx]
    pixels = np.column_stack([yy.ravel(), xx.ravel()]).astype(float)
    tree = cKDTree(axis_points[:, 1:])
    distance, nearest = tree.query(pixels, distance_upper_bound=reach_px + 1)
    near = np.isfinite(distance)
    if not near.any():
        return
    lateral_um = distance[near] * voxel[1]
    axis_z = axis_points[nearest[near], 0]
    planes = np.arange(nz, dtype=float)
    axial_um = (planes[:, None] - axis_z[None, :]) * voxel[0]
    query = np.column_stack([np.broadcast_to(lateral_um, axial_um.shape).ravel(), axial_um.ravel()])
    values = profile(query).reshape(nz, -1)
    flat = expected.reshape(nz, -1)
    flat[:, np.flatnonzero(near)] += values


def _add_head(
    expected: NDArray[np.float64],
    centre: NDArray[np.float64],
    volume_um3: float,
    voxel: NDArray[np.float64],
    psf_sigma_xy: float,
    psf_sigma_z: float,
    photons: float,
) -> None:
    """Add a blurred ball of ``volume_um3`` holding ``photons`` at ``centre``, in place."""
    radius_um = (3 * volume_um3 / (4 * np.pi)) ** (1 / 3)
    sigma = np.sqrt(
        np.array([psf_sigma_z, psf_sigma_xy, psf_sigma_xy]) ** 2 + (radius_um / voxel) ** 2 / 5
    )
    low = np.maximum(np.floor(centre - 5 * sigma).astype(int), 0)
    high = np.minimum(np.ceil(centre + 5 * sigma).astype(int) + 1, expected.shape)
    if np.any(high <= low):
        return
    axes = [
        np.exp(-0.5 * ((np.arange(lo, hi) - c) / s) ** 2) / (math.sqrt(2 * math.pi) * s)
        for lo, hi, c, s in zip(low, high, centre, sigma, strict=True)
    ]
    blob = axes[0][:, None, None] * axes[1][None, :, None] * axes[2][None, None, :]
    expected[low[0] : high[0], low[1] : high[1], low[2] : high[2]] += photons * blob
