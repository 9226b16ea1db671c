"""Bayesian fusion: a tempered product of experts over cells, and what each expert contributed.

    log p(c | all) = log prior(c) + sum_k w_k * log[(1 - eps_k) * L_k(c) / max L_k + eps_k] + const

Each cue's likelihood is scaled to peak at 1 and mixed with a uniform floor eps_k, so a cue can
make a cell at most 1/eps_k times less likely: one wrong OCR read cannot zero out the truth.
A cue that names countries also says which country *within* a cell it favours (a border cell
holds photos of two countries); those log-likelihoods add up, tempered by the same weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

LN2 = np.log(2.0)


def log_normalise(log_p: np.ndarray) -> np.ndarray:
    """Log-probabilities that sum to one along the last axis (logsumexp)."""
    m = np.max(log_p, axis=-1, keepdims=True)
    return log_p - (m + np.log(np.sum(np.exp(log_p - m), axis=-1, keepdims=True)))


def floored(log_likelihood: np.ndarray, floor: float) -> np.ndarray:
    """log[(1 - floor) * L / max L + floor] along the last axis: peak 0, never below log(floor)."""
    x = log_likelihood - np.max(log_likelihood, axis=-1, keepdims=True)
    return np.logaddexp(np.log1p(-floor) + x, np.log(floor))


@dataclass(frozen=True)
class Term:
    """One cue's input to fusion."""

    log_likelihood: np.ndarray
    weight: float = 1.0
    floor: float = 1e-3
    country_given_cell: np.ndarray | None = None  # per pair of the grid's share table (`CellGrid.marginalise`)

    def effective(self) -> np.ndarray:
        """The tempered, floored log-likelihood this term adds to the log posterior."""
        return self.weight * floored(np.asarray(self.log_likelihood, dtype=np.float64), self.floor)


@dataclass(frozen=True)
class Contribution:
    """What one cue did to the posterior."""

    bits: float  # KL(posterior with the cue || posterior without it), in bits
    favoured_cell: int  # most probable cell under the prior and this cue alone
    posterior_without: np.ndarray  # the posterior had this cue been left out
    country_given_cell_without: np.ndarray | None = None


@dataclass(frozen=True)
class Fusion:
    log_posterior: np.ndarray
    contributions: dict[str, Contribution]
    effective: dict[str, np.ndarray]  # what each cue added to the log posterior
    country_given_cell: np.ndarray | None = None  # what the cues said of the country within cells

    @property
    def posterior(self) -> np.ndarray:
        return np.exp(self.log_posterior)


def fuse(log_prior: np.ndarray, terms: Mapping[str, Term]) -> Fusion:
    """Combine a log prior with cue terms; report each cue's leave-one-out contribution."""
    effective = {name: term.effective() for name, term in terms.items()}
    total = np.asarray(log_prior, dtype=np.float64) + sum(effective.values(), np.zeros_like(log_prior))
    log_post = log_normalise(total)
    post = np.exp(log_post)
    within = {name: term.weight * term.country_given_cell for name, term in terms.items()
              if term.country_given_cell is not None}
    all_within = sum(within.values()) if within else None
    contributions = {}
    for name, eff in effective.items():
        log_without = log_normalise(total - eff)
        bits = float(np.sum(post * (log_post - log_without)) / LN2)
        contributions[name] = Contribution(
            bits=max(bits, 0.0), favoured_cell=int(np.argmax(log_prior + eff)), posterior_without=np.exp(log_without),
            country_given_cell_without=all_within - within[name] if name in within else all_within)
    return Fusion(log_post, contributions, effective, all_within)
