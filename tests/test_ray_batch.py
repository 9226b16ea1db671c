"""The Ray Data adapter in local mode (skipped where ray is not installed)."""

from __future__ import annotations

import json
import shutil

import pytest

import geosleuth

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

pytestmark = pytest.mark.slow  # a local Ray cluster starts


@pytest.fixture(scope="module")
def local_ray():
    """A local cluster started as a geosleuth user's would be: its token and settings kept under
    geosleuth's cache folder."""
    from geosleuth.libraries import contain, keep_ray_token

    contain()
    keep_ray_token()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
             configure_logging=False)
    yield
    ray.shutdown()


def test_locate_dataset_matches_locate_many(local_ray, tmp_path):
    from geosleuth import Geolocator
    from geosleuth.app.ray_batch import locate_dataset

    good = tmp_path / "a.jpg"
    shutil.copy(geosleuth.example_image(), good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    paths = [str(good), str(bad), str(tmp_path / "missing.jpg")]
    rows = {r["path"]: r for r in locate_dataset(paths, config="prior-only", hints=["country=FR"],
                                                 batch_size=2).take_all()}
    assert set(rows) == set(paths)
    assert not rows[str(bad)]["ok"] and "not a recognised image" in rows[str(bad)]["error"]
    assert not rows[str(tmp_path / "missing.jpg")]["ok"]
    row = rows[str(good)]
    expected = Geolocator.from_config("prior-only").locate(str(good), hints=[geosleuth.Hint.parse("country=FR")])
    assert row["ok"] and row["country"] == "FR" and row["lat"] == pytest.approx(expected.best.lat)
    assert row["confidence"] == expected.confidence.level and not rows[str(bad)]["confidence"]
    assert json.loads(row["prediction"])["cues"] == {"hint:country=FR": "ok"}


def test_bad_config_fails_on_the_driver():
    from geosleuth.app.ray_batch import locate_dataset
    from geosleuth.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown config key"):
        locate_dataset(["a.jpg"], config="prior-only", sets=["output.topk=3"])
