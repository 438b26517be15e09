"""spinefit: Bayesian analysis of intrinsic and extrinsic dendritic-spine dynamics."""

from spinefit._version import __version__

__all__ = ["__version__"]
