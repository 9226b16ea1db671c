from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import geosleuth

REPO = Path(__file__).resolve().parents[1]


def test_public_api_resolves():
    for name in geosleuth.__all__:
        assert getattr(geosleuth, name) is not None, name
    assert issubclass(geosleuth.ImageError, ValueError) and issubclass(geosleuth.ConfigError, ValueError)
    assert issubclass(geosleuth.MissingDependencyError, ImportError)
    assert issubclass(geosleuth.UsageError, TypeError)
    assert issubclass(geosleuth.WeightsNotFoundError, FileNotFoundError)


def test_public_api_is_fixed():
    """Adding or removing a public name is a decision: change this list with it."""
    import geosleuth.cues
    import geosleuth.gazetteer

    assert geosleuth.__all__ == [
        "AlbumResult", "Answer", "BatchItem", "Candidate", "CellGrid", "Confidence", "ConfigError", "Cue",
        "CueOutput", "CueReport", "Evidence", "GeoPoint", "Geolocator", "GeosleuthError", "Hint", "ImageError",
        "MissingDependencyError", "Photo", "Prediction", "Region", "UsageError", "WeightsNotFoundError",
        "create_cue", "example_image", "list_cues", "load_config", "locate", "locate_album", "register_cue",
        "__version__"]
    assert geosleuth.cues.__all__ == ["BaseCue", "Cue", "CueOutput", "Evidence", "GeoPoint", "create_cue",
                                      "list_cues", "register_cue"]
    assert geosleuth.gazetteer.__all__ == ["Place", "country_name", "reverse_lookup"]
    assert sorted(dir(geosleuth)) == sorted(geosleuth.__all__)


def test_import_is_light_and_namespaced(tmp_path):
    code = ("import sys, geosleuth; heavy = [m for m in ('PIL', 'torch', 'yaml', 'reverse_geocoder', 's2sphere') "
            "if m in sys.modules]; print(heavy)\n"
            "import importlib.util as u; print([n for n in ('cues', 'fusion', 'gazetteer', 'configs') if u.find_spec(n)])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "[]"]


def test_no_bare_imports_of_the_subpackages():
    pattern = re.compile(r"^\s*(from|import)\s+(cues|fusion|gazetteer|configs)\b", re.M)
    offenders = [str(p.relative_to(REPO)) for folder in ("geosleuth", "cues", "fusion", "gazetteer", "tests",
                                                         "benchmarks")
                 for p in (REPO / folder).rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_shipped_data_is_packaged():
    from importlib import resources

    assert (resources.files("geosleuth.fusion") / "data" / "grid_v1.npz").is_file()
    assert (resources.files("geosleuth.configs") / "default.yaml").is_file()
    assert (resources.files("geosleuth") / "py.typed").is_file()
    assert Path(geosleuth.example_image()).is_file()
