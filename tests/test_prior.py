"""The prior: the photo density, flattened and mixed with where people live and with land."""

from __future__ import annotations

import numpy as np
import pytest

from geosleuth import Geolocator
from geosleuth.errors import ConfigError
from geosleuth.fusion.prior import land_share, log_prior, people


def test_the_plain_prior_is_the_photo_density(grid):
    density = grid.log_prior()
    assert np.allclose(log_prior(grid), density - np.logaddexp.reduce(density))


def test_the_maps_are_shares_of_the_world(grid):
    for share in (people(grid), land_share(grid)):
        assert share.shape == (len(grid),) and np.all(share >= 0) and np.isclose(share.sum(), 1.0)
    lagos, sahara, pacific = grid.lookup([6.45, 23.0, -30.0], [3.39, 10.0, -140.0])
    assert people(grid)[lagos] > 10 * people(grid)[sahara]  # where people live, not where land is
    per_km2 = land_share(grid) / grid.area_km2
    assert per_km2[sahara] > 20 * per_km2[pacific]  # a few islands in an ocean's cell


@pytest.mark.parametrize("shape", [dict(exponent=0.5), dict(population=0.3), dict(land=0.2),
                                   dict(exponent=0.7, population=0.2, land=0.1)])
def test_a_mixed_prior_is_flatter_and_still_a_distribution(grid, shape):
    p, plain = np.exp(log_prior(grid, **shape)), np.exp(log_prior(grid))
    entropy = [-(q * np.log(q / grid.area_km2)).sum() for q in (p, plain)]  # spread over the Earth's surface
    assert np.isclose(p.sum(), 1.0) and entropy[0] > entropy[1]
    sparse = grid.counts == 0  # cells without gallery photos gain mass
    assert p[sparse].sum() > plain[sparse].sum()


def test_bad_shapes_are_refused(grid):
    with pytest.raises(ValueError, match="population"):
        log_prior(grid, population=0.7, land=0.5)
    with pytest.raises(ConfigError, match="prior.population"):
        Geolocator.from_config("prior-only", sets=["prior.population=0.9"])


def test_the_configured_prior_is_what_the_pipeline_uses(grid):
    geo = Geolocator.from_config("prior-only", sets=["prior.population=0.2", "prior.exponent=0.8"])
    assert np.allclose(geo.log_prior(), log_prior(geo.grid, 1.0, 0.8, 0.2, geo.config["prior"]["land"]))
