from __future__ import annotations

import numpy as np
import pytest

from geosleuth.fusion.combine import Term, floored, fuse, log_normalise


def test_floored_hand_computed():
    out = floored(np.array([0.0, np.log(0.5), -np.inf]), 0.1)
    assert np.exp(out) == pytest.approx([1.0, 0.9 * 0.5 + 0.1, 0.1])
    # Only the shape of the likelihood matters, not its scale.
    assert floored(np.log([4.0, 2.0, 1e-300]), 0.1) == pytest.approx(floored(np.array([0.0, np.log(0.5), -np.inf]), 0.1))


def test_single_cue_posterior_and_bits():
    prior = np.log([0.5, 0.5])
    f = fuse(prior, {"a": Term(np.log([1.0, 0.25]), weight=1.0, floor=1e-12)})
    assert f.posterior == pytest.approx([0.8, 0.2])
    kl = 0.8 * np.log2(0.8 / 0.5) + 0.2 * np.log2(0.2 / 0.5)
    assert f.contributions["a"].bits == pytest.approx(kl, abs=1e-9)
    assert f.contributions["a"].posterior_without == pytest.approx([0.5, 0.5])
    assert f.contributions["a"].favoured_cell == 0


def test_weight_tempers_the_likelihood():
    f = fuse(np.log([0.5, 0.5]), {"a": Term(np.log([1.0, 0.25]), weight=2.0, floor=1e-12)})
    assert f.posterior == pytest.approx([16 / 17, 1 / 17])
    f0 = fuse(np.log([0.3, 0.7]), {"a": Term(np.log([1.0, 0.25]), weight=0.0)})
    assert f0.posterior == pytest.approx([0.3, 0.7])
    assert f0.contributions["a"].bits == pytest.approx(0.0)


def test_floor_bounds_how_far_one_cue_can_push():
    prior = np.log([0.5, 0.5])
    f = fuse(prior, {"ocr": Term(np.array([0.0, -np.inf]), floor=0.01)})
    assert f.posterior == pytest.approx([1 / 1.01, 0.01 / 1.01])
    assert np.all(np.isfinite(f.log_posterior))


def test_two_cues_combine_and_leave_one_out():
    prior = np.log([0.25, 0.25, 0.5])
    a = Term(np.log([1.0, 0.5, 0.1]), floor=1e-12)
    b = Term(np.log([0.2, 1.0, 0.1]), floor=1e-12)
    f = fuse(prior, {"a": a, "b": b})
    raw = np.array([0.25 * 1.0 * 0.2, 0.25 * 0.5 * 1.0, 0.5 * 0.1 * 0.1])
    assert f.posterior == pytest.approx(raw / raw.sum())
    without_a = np.array([0.25 * 0.2, 0.25 * 1.0, 0.5 * 0.1])
    assert f.contributions["a"].posterior_without == pytest.approx(without_a / without_a.sum())
    assert f.contributions["b"].favoured_cell == 1
    assert f.contributions["a"].favoured_cell == 0


def test_no_cue_returns_the_prior():
    prior = log_normalise(np.log([1.0, 2.0, 7.0]))
    f = fuse(prior, {})
    assert f.posterior == pytest.approx([0.1, 0.2, 0.7]) and f.contributions == {}


def test_a_cue_that_names_a_country_says_which_country_within_a_cell(grid):
    """Gyumri's cell holds 6 % Armenian photos and 76 % Georgian ones: Armenian text there is
    evidence for Armenia within the cell, not only for the cell."""
    cell = grid.lookup([40.79], [43.85])[0]
    rows = np.flatnonzero(grid.share_cell == cell)
    am, ge = (grid.countries.index(c) for c in ("AM", "GE"))
    assert grid.cell_country[cell] == "GE"
    pairs = np.log(np.where(grid.share_country == am, 1.0, 0.01))  # L(c, k): 100 times more likely in AM
    ll, within = grid.marginalise(pairs)
    s = grid.share_weight[rows].astype(np.float64)
    l_rows = np.exp(pairs[rows])
    assert ll[cell] == pytest.approx(np.log(np.sum(s * l_rows)))
    assert grid.shares(within)[rows] == pytest.approx(s * l_rows / np.sum(s * l_rows))
    at_cell = np.zeros(len(grid))
    at_cell[cell] = 1.0
    assert grid.country_probabilities(at_cell)[ge] > 0.7
    assert grid.country_probabilities(at_cell, within)[am] == pytest.approx(0.061 / (0.061 + 0.01 * 0.939), abs=1e-3)
    assert grid.country_of(cell, within) == "AM"

    prior = grid.log_prior()
    f = fuse(prior, {"text": Term(ll, floor=1e-6, country_given_cell=within),
                     "visual": Term(np.zeros(len(grid)), floor=1e-3)})
    assert f.country_given_cell == pytest.approx(within)
    assert f.contributions["text"].country_given_cell_without == pytest.approx(np.zeros(len(within)))
    muted = fuse(prior, {"text": Term(ll, weight=0.0, country_given_cell=within)})  # a cue at weight 0 moves nothing
    assert grid.country_probabilities(at_cell, muted.country_given_cell) == pytest.approx(
        grid.country_probabilities(at_cell))
