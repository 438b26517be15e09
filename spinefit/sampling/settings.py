"""How to run MCMC: the settings every fit passes to the sampler explicitly."""

from __future__ import annotations

from dataclasses import dataclass

from spinefit.errors import ConfigError

ADAPTATIONS = ("auto", "low_rank", "diag")
"""nutpie's mass-matrix adaptations that spinefit offers (:attr:`SamplerSettings.adaptation`)."""
DEFAULT_ADAPTATION = "diag"
"""What ``"auto"`` means when no model chooses: the default of
:attr:`spinefit.models.base.SpineModel.preferred_adaptation`, and what settings that reach
the sampler without a model's choice use."""


@dataclass(frozen=True)
class SamplerSettings:
    """How to run MCMC. Every field is passed to ``pm.sample`` explicitly.

    Parameters
    ----------
    draws, tune, chains : int
        Posterior draws per chain, tuning steps per chain, number of chains.
    random_seed : int
        Seed for the sampler and any stochastic post-processing.
    sampler : {"nutpie", "pymc"}
        NUTS implementation. Passed explicitly because having nutpie installed changes
        ``pm.sample``'s default.
    target_accept : float
        Target acceptance rate of NUTS.
    adaptation : {"auto", "low_rank", "diag"}
        nutpie's mass-matrix adaptation. ``"low_rank"`` adds a low-rank correction to the
        diagonal, learnt from the draws and gradients of the warm-up, so that correlated
        parameters take fewer leapfrog steps (moments likelihood on a 12 000-site panel:
        3.4 steps per draw against 8.8 with ``"diag"``). ``"auto"`` is the model's choice
        (:attr:`spinefit.models.base.SpineModel.preferred_adaptation`; ``"diag"`` where
        nothing chose). PyMC's sampler always adapts a diagonal one and ignores this.
    progressbar : bool
        Show sampling progress.
    robust_starts : bool
        Start the chains near the best of a few short optimisations of the posterior,
        jittered by its curvature, instead of PyMC's support point ± 1 (see
        :mod:`spinefit.sampling.starts`).
    max_restarts : int
        Times a chain stuck in a low-density mode is re-run near the other chains.
    retry_target_accept : float
        When the draws have divergent transitions, sample once more, started near the
        posterior, with this target acceptance (smaller steps), and keep the run with fewer
        divergences. 0, or a value not above ``target_accept``, turns it off.
    ess_target : int
        Extend sampling in rounds until every posterior quantity has bulk ESS ≥ this and
        R-hat ≤ 1.01, up to :data:`spinefit.sampling.CAP_FACTOR` × ``draws`` per chain;
        0 turns it off. The warm-up adaptation is kept with nutpie; PyMC's sampler
        re-samples with more draws and the same tune.

    Notes
    -----
    With ``robust_starts=False``, ``max_restarts=0``, ``ess_target=0`` and
    ``retry_target_accept=0`` a fit is one
    plain ``pm.sample`` call, as before these options existed (the benchmark's baseline).
    """

    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    random_seed: int = 0
    sampler: str = "nutpie"
    target_accept: float = 0.9
    adaptation: str = "auto"
    progressbar: bool = True
    robust_starts: bool = True
    max_restarts: int = 2
    ess_target: int = 400
    retry_target_accept: float = 0.98

    def __post_init__(self) -> None:
        if self.draws < 1 or self.tune < 0 or self.chains < 1:
            raise ConfigError("draws and chains must be >= 1 and tune >= 0")
        if self.sampler not in ("nutpie", "pymc"):
            raise ConfigError(f"unknown sampler '{self.sampler}'; use 'nutpie' or 'pymc'")
        if self.adaptation not in ADAPTATIONS:
            raise ConfigError(
                f"unknown adaptation '{self.adaptation}'; use one of {', '.join(ADAPTATIONS)}"
            )
        if self.max_restarts < 0 or self.ess_target < 0:
            raise ConfigError("ess_target (--ess-target) and max_restarts must be >= 0")
        if not 0 < self.target_accept < 1 or not 0 <= self.retry_target_accept < 1:
            raise ConfigError("target_accept must be in (0, 1) and retry_target_accept in [0, 1)")

    @property
    def nutpie_adaptation(self) -> str:
        """Return the adaptation passed to nutpie (``"auto"`` left unresolved is diag)."""
        return DEFAULT_ADAPTATION if self.adaptation == "auto" else self.adaptation

    @property
    def plain(self) -> bool:
        """True when no robustness option is on: one plain ``pm.sample`` call."""
        return not (
            self.robust_starts or self.max_restarts or self.ess_target or self.retries_divergences
        )

    @property
    def retries_divergences(self) -> bool:
        """True when divergent draws are re-sampled at ``retry_target_accept``."""
        return self.retry_target_accept > self.target_accept
