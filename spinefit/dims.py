"""The one vocabulary of dimension, coordinate and unit names used across spinefit.

Every Dataset and DataTree that spinefit produces uses these names, so that readers,
models, simulators and reports agree without translation tables.
"""

from __future__ import annotations

# Dimensions of ingested data.
SPINE = "spine"
"""One imaged spine (or synapse punctum) in a time series."""
SESSION = "session"
"""One imaging session of a time series."""
SYNAPSE = "synapse"
"""One synapse of a snapshot (ssEM) table."""
CONNECTION = "connection"
"""One presynaptic/postsynaptic cell pair."""
TRANSITION = "transition"
"""One pair of consecutive sessions in which a spine is present in both."""
CONDITION = "condition"
"""An experimental condition or genotype."""
ANIMAL = "animal"
"""One animal (the unit of replication)."""
DENDRITE = "dendrite"
"""One dendritic segment."""
COMPONENT = "component"
"""A mixture component (small / large)."""
PRE_CELL = "pre_cell"
"""One presynaptic cell (baseline effects of the variance split)."""
POST_CELL = "post_cell"
"""One postsynaptic cell (baseline effects of the variance split)."""
INTERVAL = "interval"
"""One interval between consecutive sessions (turnover counts, per-interval shifts)."""
VARIANCE_COMPONENT = "variance_component"
"""One named share of a total variance (variance split)."""
CONDITION_PARAM = "condition_param"
"""A parameter with condition offsets (a, b, log c, log d)."""
ANIMAL_PARAM = "animal_param"
"""A parameter with animal offsets (a, b, log d)."""
SIZE_GRID = "w"
"""Grid of sizes on which curves such as drift and diffusion are evaluated."""

# Sampling dimensions, as ArviZ names them.
CHAIN = "chain"
DRAW = "draw"
SAMPLE_DIMS = (CHAIN, DRAW)

# Coordinates of time-series data.
TIME_DAYS = "time_days"
SPINE_ID = "spine_id"
DENDRITE_ID = "dendrite_id"
ANIMAL_ID = "animal_id"
CONDITION_LABEL = "condition"
TREATMENT = "treatment"
IMAGED = "imaged"
"""Bool coord (spine, session): True where the spine's file imaged that session.

A spine is NaN at a session its file did not image (e.g. after combining files imaged on
different days); this coord tells "not imaged" apart from "absent", and transition counts
skip the sessions it marks False. Absent means every spine was imaged at every session.
"""

# Data variables.
VOLUME = "volume"
VOLUME_SE = "volume_se"
"""Optional per-observation standard error of the volume (same units), e.g. from
``spinefit measure``; used by ``-o measurement_error=column``."""
VOLUME_SE_SESSION = "volume_se_session"
"""Optional part of ``volume_se`` that is independent between sessions (``spinefit measure``
leaves out the per-spine bias of the background's structure); preferred by
``-o measurement_error=column`` when present."""
STANDARD_ERRORS = (VOLUME_SE, VOLUME_SE_SESSION)
"""The standard-error columns a time series may carry."""

# Units.
DAY = "day"
PER_DAY = "1/day"
DEFAULT_VOLUME_UNITS = "a.u."
LOG10 = "log10"

# Dataset attribute keys shared by every reader.
ATTR_SOURCE = "source"
ATTR_CONTENT_HASH = "content_hash"
ATTR_VERSION = "spinefit_version"
ATTR_INGESTION_REPORT = "ingestion_report"
ATTR_DATA_KIND = "data_kind"
KIND_TIME_SERIES = "time_series"
KIND_SNAPSHOT = "snapshot"
ATTR_SUPPORT_LOW = "support_low"
"""Posterior-variable attribute: the lower end of the parameter's support (e.g. 0 for a
scale). A 94% HDI whose posterior does not fall off towards it is closed at it
(:mod:`spinefit.stats`)."""
ATTR_SUPPORT_HIGH = "support_high"
"""Posterior-variable attribute: the upper end of the parameter's support (e.g. 1 for a
fraction)."""
ATTR_DETECTION_LIMIT = "detection_limit"
"""Time-series attribute (and optional long-table column, one value per file): the volume
below which a living spine is not detected (same units as ``volume``), e.g. the volume at
``spinefit measure``'s presence cut. A latent-process fit uses it by default
(``-o detection_limit=auto``)."""


def unit_dim(data) -> str:
    """Return the dim of a Dataset's units of observation: ``synapse`` or ``spine``.

    Conditions are split, and per-unit labels read, along this dim.
    """
    return SYNAPSE if SYNAPSE in data.dims else SPINE
