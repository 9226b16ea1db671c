"""A first run on a fresh machine (empty HOME, XDG folders and caches), and geosleuth installed
from its wheel: stdout carries only results, no library writes outside geosleuth's cache folder,
and no Python warning reaches stderr."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test runs geosleuth in new processes, on an empty cache

REPO = Path(__file__).resolve().parents[1]
WARNING = re.compile(r"\b\w*Warning\b|Traceback")


def fresh_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a new user: nothing in HOME, the XDG folders inside it, and geosleuth's
    cache folder a new one beside it (`GEOSLEUTH_CACHE_DIR`), so every first-run path runs."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XDG_", "GEOSLEUTH_", "YOLO_", "HF_", "MPLCONFIGDIR", "ORT_", "EASYOCR_", "RAY_"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local" / "share"), XDG_STATE_HOME=str(home / ".local" / "state"),
               GEOSLEUTH_CACHE_DIR=str(home.parent / "geosleuth-cache"), **extra)
    return env


def written_into(home: Path) -> list[str]:
    """Files and folders made in `home`: none may be."""
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


def geosleuth(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "geosleuth.app.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def plate_photo(tmp_path_factory) -> tuple[str, list[str]]:
    """A car photo with a readable plate and the settings that read it: text, and detection with
    the shared YOLO weights where they are; else the bundled example with detection on (which
    still imports Ultralytics)."""
    shared = Path(os.environ.get("GEOSLEUTH_SHARED", REPO.parent / "shared"))
    weights = shared / "weights" / "yolov8n_int8.tflite"
    photos = sorted((shared / "data" / "plates" / "images").glob("br_*.jpg"))
    sets = ["--set", "cues.detect.enabled=true"]
    if weights.is_file():
        assert photos, f"no br_*.jpg beside {weights}"
        return str(photos[0]), sets + ["--set", f"detector.weights={weights}"]
    from geosleuth import example_image

    return example_image(), sets


def test_stdout_carries_only_results_and_nothing_is_written_into_home(tmp_path, plate_photo):
    """The first run of a pipeline that parses geosleuth's JSON must not meet a library's banner."""
    pytest.importorskip("ultralytics")
    photo, sets = plate_photo
    home = tmp_path / "home"
    env = fresh_env(home)
    first = geosleuth("locate", photo, *sets, "--json", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["answer"]["lat"] is not None
    second = geosleuth("locate", photo, *sets, "--geojson", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["type"] == "FeatureCollection"
    assert not WARNING.search(first.stderr + second.stderr), first.stderr + second.stderr
    assert written_into(home) == []
    assert (Path(env["GEOSLEUTH_CACHE_DIR"]) / "libraries" / "ultralytics").is_dir()  # where its settings went


def test_a_library_print_goes_to_stderr_and_results_to_stdout(tmp_path):
    """Python prints, C's printf and raw writes to file descriptor 1 made while a command runs."""
    script = ("import ctypes, os, sys\n"
              "from geosleuth.app.cli import results_only_on_stdout\n"
              "with results_only_on_stdout() as out:\n"
              "    print('python noise')\n"
              "    ctypes.CDLL(None).printf(b'c noise\\n')\n"
              "    os.write(1, b'raw noise\\n')\n"
              "    print('the result', file=out)\n"
              "print('after')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "the result\nafter\n"
    assert all(noise in done.stderr for noise in ("python noise", "c noise", "raw noise"))


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """geosleuth built as a wheel from a copy of this tree and installed on its own into a folder
    (its dependencies are this environment's)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info",
                                                                 "__pycache__", ".pytest_cache", "runs"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), str(source)],
                   check=True, capture_output=True, timeout=600)
    wheel = next((root / "dist").glob("geosleuth-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--target", str(root / "site"), str(wheel)], check=True,
                   capture_output=True, timeout=600)
    return root / "site"


def test_the_wheel_carries_what_locate_cues_and_the_report_need(tmp_path, installed_wheel):
    home = tmp_path / "home"
    env = fresh_env(home, PYTHONPATH=str(installed_wheel))
    where = subprocess.run([sys.executable, "-c", "import geosleuth.fusion.grid as g; print(g.__file__)"], env=env,
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(installed_wheel), where.stdout + where.stderr
    report = tmp_path / "report.html"
    located = geosleuth("locate", "--json", "--report", str(report), env=env, cwd=tmp_path)
    assert located.returncode == 0, located.stderr
    prediction = json.loads(located.stdout)
    assert prediction["image"] == "example_street.jpg" and prediction["schema"].startswith("geosleuth.prediction/")
    assert "<svg" in report.read_text(encoding="utf-8")
    cues = geosleuth("cues", env=env, cwd=tmp_path)
    assert cues.returncode == 0 and re.search(r"^exif\s+available\s+on", cues.stdout, re.M), cues.stdout
    for config in ("prior-only", "geoclip", "clip-zero-shot"):
        shown = geosleuth("config", "show", "--config", config, env=env, cwd=tmp_path)
        assert shown.returncode == 0 and "cues:" in shown.stdout, shown.stderr
    assert not WARNING.search(located.stderr + cues.stderr), located.stderr + cues.stderr
    assert written_into(home) == []


def test_by_default_the_cache_is_the_python_environments_and_home_stays_untouched(tmp_path):
    """With no cache folder named, the gazetteer index, the grid's tables and the libraries' state
    go to var/cache/geosleuth in the environment geosleuth runs in (here a stand-in prefix), and
    nothing at all is written into a fresh HOME, whatever XDG_CACHE_HOME says."""
    home, prefix = tmp_path / "home", tmp_path / "env"
    env = fresh_env(home)
    env.pop("GEOSLEUTH_CACHE_DIR")
    run = (f"import sys; sys.prefix = {str(prefix)!r}\n"
           "from geosleuth.app.cli import main\n"
           "sys.exit(main(['locate', '--json']))\n")
    done = subprocess.run([sys.executable, "-c", run], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["answer"]["lat"] is not None
    assert written_into(home) == []
    cache = prefix / "var" / "cache" / "geosleuth"
    assert any(p.name.startswith("gazetteer-") for p in cache.iterdir())


def test_a_read_only_environment_caches_in_a_private_temporary_folder(tmp_path, monkeypatch):
    """Where the Python environment cannot be written, the cache goes to a folder of this user's
    own in the temporary directory, never into HOME, whatever XDG_CACHE_HOME says."""
    import tempfile

    from geosleuth.cache import cache_dir

    home, prefix, temporary = tmp_path / "home", tmp_path / "env", tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.delenv("GEOSLEUTH_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setattr(sys, "prefix", str(prefix))
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    access = os.access  # the environment, read-only (root may write anywhere, so say so here)
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) in (tmp_path, prefix) else
                        access(p, mode, **kw))
    folder = cache_dir()
    assert folder.parent == temporary and folder.name.startswith("geosleuth-cache-")
    assert folder.is_dir() and folder.stat().st_mode & 0o777 == 0o700 and not home.exists()
    assert cache_dir() == folder  # the same folder every time


def test_a_named_cache_folder_comes_before_the_environments(tmp_path, monkeypatch):
    from geosleuth.cache import cache_dir

    monkeypatch.delenv("GEOSLEUTH_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env" / "var" / "cache" / "geosleuth"
    monkeypatch.setenv("GEOSLEUTH_CACHE_DIR", str(tmp_path / "named"))
    assert cache_dir() == tmp_path / "named"
