"""The result format's names: groups, provenance keys and attrs, and the format version.

A result is a netCDF :class:`xarray.DataTree`. Every module that writes or reads one takes
the names from here, so the format has one home.
"""

from __future__ import annotations

FORMAT_VERSION = 2
"""Version of the result layout written by this spinefit.

1: results written before the version was recorded (no :data:`FORMAT_ATTR`); they load
unchanged. 2: adds the ``ppc`` group written by ``spinefit check``.
"""
FORMAT_ATTR = "spinefit_format"
"""Root attr holding :data:`FORMAT_VERSION`."""

# Groups.
POSTERIOR_GROUP = "posterior"
SAMPLE_STATS_GROUP = "sample_stats"
LOG_LIKELIHOOD_GROUP = "log_likelihood"
DATA_GROUP = "data"
"""The ingested Dataset, so a result can be re-analysed without its input."""
PPC_GROUP = "ppc"
"""The posterior predictive check, written by ``spinefit check``."""
CONDITION_GROUP = "condition_fits"
"""One full result per condition (``condition_fits/condition_0``) of a by-condition fit."""

# Root (provenance) attrs.
MODEL_ATTR = "spinefit_model"
CONFIG_ATTR = "spinefit_config"
VERSION_ATTR = "spinefit_version"
SAMPLER_ATTR = "sampler_settings"
SEED_ATTR = "random_seed"
INPUT_HASH_ATTR = "input_hash"
INPUT_SOURCE_ATTR = "input_source"
COMMAND_ATTR = "command_line"
CREATED_ATTR = "created"
PYTHON_ATTR = "python_version"
PROVENANCE_KEYS = (
    MODEL_ATTR,
    CONFIG_ATTR,
    VERSION_ATTR,
    SAMPLER_ATTR,
    SEED_ATTR,
    INPUT_HASH_ATTR,
    INPUT_SOURCE_ATTR,
    COMMAND_ATTR,
    CREATED_ATTR,
    PYTHON_ATTR,
    FORMAT_ATTR,
)
"""Root attrs every result carries: enough to re-read and reproduce it."""
RESULT_PATH_ATTR = "result_path"
"""Set on load (never saved): the file a result was read from."""

# Posterior attrs of condition fits.
LOO_ATTR = "loo"
"""JSON LOO record of by-condition vs pooled (see :func:`spinefit.results.loo_record`)."""
CONTRAST_VARS_ATTR = "contrast_vars"
"""JSON list: the variables to contrast; without it, every variable."""
PRIMARY_ATTR = "primary_contrasts"
"""JSON list: the primary quantities; without it, every contrasted scalar."""
REFERENCE_ATTR = "reference_condition"
"""The reference condition chosen at fit time."""
LABEL_ATTR = "condition_label"
"""Root attr of each result under :data:`CONDITION_GROUP`: its condition label."""
