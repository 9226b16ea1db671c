"""The project's data files (grid, visual heads, galleries): a compressed .npz of arrays plus a
JSON `meta` entry whose "format" names the file kind and version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from geosleuth.errors import GeosleuthError


def write_artifact(path: str | Path, fmt: str, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:  # np.savez would append .npz to other suffixes
        np.savez_compressed(fh, meta=np.array(json.dumps({**meta, "format": fmt}, sort_keys=True)), **arrays)


def read_artifact(path: str | Path, fmt: str, what: str, error: type[GeosleuthError] = GeosleuthError
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta, arrays) of a file of kind `fmt`; `error` with a clear message when it is missing,
    unreadable or of another kind."""
    return _read(path, fmt, what, error, arrays=True)


def read_meta(path: str | Path, fmt: str, what: str, error: type[GeosleuthError] = GeosleuthError) -> dict[str, Any]:
    """The `meta` of a file of kind `fmt`, its arrays left unread (as `read_artifact` checks it)."""
    return _read(path, fmt, what, error, arrays=False)[0]


def _read(path: str | Path, fmt: str, what: str, error: type[GeosleuthError], arrays: bool
          ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            data = {k: z[k] for k in z.files if k != "meta"} if arrays else {}
    except (OSError, ValueError, KeyError, AttributeError) as exc:  # AttributeError: not an .npz at all
        reason = "not an .npz file" if "pickle" in str(exc) else str(exc)  # np.load's guess at other files
        raise error(f"cannot read {what} {path}: {reason}") from exc
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise error(f"{path} is not a {what} ({fmt}) file (format {found!r})")
    return meta, data
