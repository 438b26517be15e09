"""The known biases the reports state, each measured on simulated data with known truth.

Plain strings only (no imports), so that every report, the QC page of ``measure`` too,
can say the same words. Each names its benchmark; ``ARCHITECTURE.md`` has the numbers in
full.
"""

from __future__ import annotations

__all__ = ["MEASURED_VOLUME_BIAS", "NOISE_TRADE_OFF", "SPLINE_FIXED_POINT_BIAS"]

SPLINE_FIXED_POINT_BIAS = (
    "Known bias of the spline family: on simulated bistable data (300 sites, killing at "
    "the detection threshold, births, 10% measurement noise; stable sizes 0.4 and 1.6, "
    "unstable 0.9) the fit found all three fixed points with the right stability, but "
    "pulled towards each other: 0.435 [0.400, 0.470], 0.836 [0.804, 0.870] and 1.548 "
    "[1.523, 1.572], so none of the 94% intervals held its true size (biases +9%, −7%, "
    "−3%), and the μ(w) band held the true drift at a third of the grid points. Read the "
    "locations as approximate; the number and type of fixed points were right. Fixing "
    "the measurement noise at its true value (-o measurement_cv=0.1) found the lower "
    "stable size, 0.427 [0.388, 0.465], but not the other two, 0.853 [0.820, 0.888] and "
    "1.536 [1.513, 1.561]: knowing τ does not remove this bias. One simulated data set, "
    "benchmarks/family_validation.py."
)
"""What a spline fit's report says about its fixed points (issue 13's validation)."""

NOISE_TRADE_OFF = (
    "Known bias: measurement noise and multiplicative diffusion trade off. In the coverage "
    "study (120 sites, 8 sessions over 3 weeks, 20 data sets per regime), with 20% noise τ "
    "came out 25% low and d 28% high on average, and their 94% intervals held the truth in "
    "only 15 and 16 of 20 data sets (b in 16); at 10% noise τ's interval reached 0 in 16 "
    "of 20 data sets (such data do not tell 10% noise from none) while d was unbiased; "
    "without noise d came out 12% low (its interval held the truth in 17 of 20 data sets). "
    "If τ is known from repeated imaging, fix it (-o measurement_cv=τ, or -o "
    "measurement_error=column)."
)
"""What the latent fit's report says about the τ–d trade-off (measured in issue 11's study)."""

MEASURED_VOLUME_BIAS = (
    "Known bias of volumes from spinefit measure: on synthetic two-photon stacks (8 "
    "crowded scenes, 80 spines × 6 sessions, shot and read noise, shifts and warps) "
    "measure misses the smallest spines (the volume at its presence cut is 2.2× the size "
    "at which the rendered spines were lost). measure writes that volume as the table's "
    "detection_limit column, and the latent fit uses it by default: an absent spine may "
    "then be alive and unseen. With it, θ came out at 0.89 ± 0.08 of the true loss "
    "threshold, c at 0.99 ± 0.05 of its truth (its 94% interval held the truth in 8 of 8 "
    "scenes, a and b in 7 of 8) and σ²(w) = c + d·w² at 1.00, 1.01 and 1.04 of the truth "
    "at w*/4, w*/2 and the stable fixed point w*. Without it (-o "
    "detection_limit=none, or a table without the column) every absence is read as a "
    "loss: θ came out at 1.32 ± 0.11, c at 0.88 ± 0.07 (8 of 8 held; 0.78 ± 0.06 with -o "
    "measurement_error=column) and σ²(w) at 0.90 and 0.94 at w*/4 and w*/2. "
    "benchmarks/stacks_end_to_end.py --decompose --detection."
)
"""What the fit report (data with ``volume_se``) and the QC page of ``measure`` say about c."""
