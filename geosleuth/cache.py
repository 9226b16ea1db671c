"""Caches: the on-disk cache folder, and models loaded once per process.

>>> shared("answer", lambda: 42), shared("answer", lambda: 0)
(42, 42)
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Hashable, TypeVar

T = TypeVar("T")

_MODELS: dict[Hashable, Any] = {}
_LOCK = threading.Lock()
_OWN_FOLDERS: dict[Path, Path] = {}  # a temporary cache name taken by someone else -> this process's own


def cache_dir() -> Path:
    """Where derived data (gazetteer index, map outlines) and the libraries' own state are kept:
    `GEOSLEUTH_CACHE_DIR`; else var/cache/geosleuth in the Python environment geosleuth runs in
    (its virtual environment: removed with it); else, where that environment is read-only, a
    folder of this user's own in the system's temporary directory. Nothing is written into the
    user's home unless they name it."""
    if os.environ.get("GEOSLEUTH_CACHE_DIR"):
        return Path(os.environ["GEOSLEUTH_CACHE_DIR"])
    local = Path(sys.prefix) / "var" / "cache" / "geosleuth"
    if _writable(local):
        return local
    return _private_temporary()


def _private_temporary() -> Path:
    """geosleuth-cache-<user> in the temporary directory, made readable by this user alone; a new
    folder of its own when that name is taken by someone else or is a link."""
    import tempfile

    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    folder = Path(tempfile.gettempdir()) / f"geosleuth-cache-{user}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        if not folder.is_symlink() and (not hasattr(os, "getuid") or folder.stat().st_uid == os.getuid()):
            return folder
    except OSError:
        pass
    with _LOCK:
        if folder not in _OWN_FOLDERS:
            _OWN_FOLDERS[folder] = Path(tempfile.mkdtemp(prefix="geosleuth-cache-"))
        return _OWN_FOLDERS[folder]


def _writable(folder: Path) -> bool:
    """Whether `folder` can be written, or made in its nearest existing parent."""
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return os.access(folder, os.W_OK)


def cached_arrays(name: str, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Arrays derived from installed data: read from `name` (.npz) in the cache folder, else built
    and written there whole (a damaged file is built again; a read-only cache, next time)."""
    import numpy as np

    path = cache_dir() / name
    try:
        with np.load(path, allow_pickle=False) as stored:
            return dict(stored)
    except (OSError, ValueError, KeyError):
        pass
    arrays = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
    except OSError:
        pass
    return arrays


def shared(key: Hashable, build: Callable[[], T]) -> T:
    """The value built for `key`, built once per process (thread-safe): a model that several
    pipelines or cues use loads once."""
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = build()
        return _MODELS[key]
