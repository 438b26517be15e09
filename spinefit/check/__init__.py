"""Posterior predictive checks of fitted results."""
