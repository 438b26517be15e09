"""Synthetic stacks: shapes, determinism, truth, and the files ``measure`` reads."""

import json

import numpy as np
import pytest

from spinefit.errors import ConfigError
from spinefit.io.images import find_sessions, open_stack, read_rois
from spinefit.simulate.stacks import expected_ratio_per_um3, render_stacks, write_stacks

pytestmark = pytest.mark.fast

SMALL = (12, 64, 64)


@pytest.fixture(scope="module")
def scene():
    return render_stacks(SMALL, n_spines=8, times_days=(0, 3, 6), random_seed=5)


def test_shapes_and_truth(scene):
    assert len(scene.stacks) == 3
    assert all(s.shape == SMALL and s.dtype == np.uint16 for s in scene.stacks)
    n = len(scene.spine_ids)
    assert n >= 2
    assert scene.volume_um3.shape == (n, 3)
    assert scene.centres.shape == (n, 3, 3)
    np.testing.assert_array_equal(scene.shifts[0], 0)
    assert np.all(np.abs(scene.shifts) <= [1, 4, 4])
    # Absent spines are NaN, present ones at least the run's detection threshold.
    present = scene.volume_um3[np.isfinite(scene.volume_um3)]
    threshold = scene.truth["dynamics"]["threshold"] * scene.truth["volume_um3_per_unit"]
    assert np.all(present >= threshold)
    json.dumps(scene.truth)


def test_same_seed_same_stacks():
    a = render_stacks(SMALL, n_spines=6, times_days=(0, 2), random_seed=3)
    b = render_stacks(SMALL, n_spines=6, times_days=(0, 2), random_seed=3)
    c = render_stacks(SMALL, n_spines=6, times_days=(0, 2), random_seed=4)
    for x, y in zip(a.stacks, b.stacks, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.stacks[1], c.stacks[1])


def test_mean_intensity_matches_the_scene():
    """Background plus the photons of heads and shafts: the image mean agrees (noise only)."""
    scene = render_stacks(
        SMALL, n_spines=6, times_days=(0,), random_seed=2, read_noise=0.0, gain=2.0
    )
    truth = scene.truth
    excess = scene.stacks[0].astype(float) - truth["offset_adu"]
    mean_photons = excess.mean() / truth["gain_adu_per_photon"]
    assert mean_photons > truth["background_photons_per_voxel"]
    assert abs(np.median(excess) / 2.0 - truth["background_photons_per_voxel"]) <= 1.0


def test_bright_head_integral_is_its_photons():
    scene = render_stacks(
        SMALL, n_spines=6, times_days=(0,), random_seed=2, background=0.0, read_noise=0.0
    )
    truth = scene.truth
    voxel = np.prod(truth["voxel_size_um"])
    i = int(np.nanargmax(scene.volume_um3[:, 0]))
    photons = truth["brightness_photons_per_voxel"] * scene.volume_um3[i, 0] / voxel
    z, y, x = np.rint(scene.centres[i, 0]).astype(int)
    patch = scene.stacks[0][max(z - 3, 0) : z + 4, y - 4 : y + 5, x - 4 : x + 5]
    # Heads sit beside the shaft, so the patch holds some shaft light: only a lower bound
    # and a loose upper bound here; test_measure checks the integral properly.
    total = patch.astype(float).sum() - truth["offset_adu"] * patch.size
    assert 0.8 * photons < total < 1.6 * photons


def test_expected_ratio_uses_the_shaft_peak(scene):
    truth = scene.truth
    ratio = expected_ratio_per_um3(scene)
    voxel = np.prod(truth["voxel_size_um"])
    assert ratio == pytest.approx(
        truth["brightness_photons_per_voxel"] / voxel / truth["shaft_peak_photons"]
    )
    assert 0 < truth["shaft_peak_photons"] < truth["brightness_photons_per_voxel"]


def test_written_files_are_what_measure_reads(scene, tmp_path):
    paths = write_stacks(scene, tmp_path / "stacks")
    sessions = find_sessions([paths["folder"]])
    assert [s.time_days for s in sessions] == [0, 3, 6]
    stack = open_stack(sessions[1].path)
    np.testing.assert_array_equal(stack, scene.stacks[1])
    rois = read_rois(paths["rois"], SMALL)
    assert rois.spine_ids == scene.spine_ids
    np.testing.assert_allclose(rois.spine_zyx, scene.centres[:, 0], atol=1e-3)
    record = json.loads(paths["truth"].read_text())
    assert record["spine_ids"] == scene.spine_ids


def test_bad_parameters():
    with pytest.raises(ConfigError):
        render_stacks((12, 64), random_seed=0)
    with pytest.raises(ConfigError, match="dendrites need"):
        render_stacks(SMALL, n_dendrites=4, random_seed=0)
    with pytest.raises(ConfigError):
        render_stacks(SMALL, psf_sigma_xy=0, random_seed=0)
