from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GEOSLEUTH_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared reference data beside the checkout; tests needing it skip when it is absent."""
    if not (SHARED / "data").is_dir():
        pytest.skip("../shared is not present")
    return SHARED


@pytest.fixture(scope="session")
def grid():
    from geosleuth.fusion.grid import CellGrid

    return CellGrid.default()


@pytest.fixture(scope="session")
def jpeg_bytes():
    """Factory: a plain JPEG of `size` as bytes."""
    from PIL import Image

    def make(size=(320, 240), color=(120, 160, 200), **save) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", size, color).save(buf, "JPEG", quality=90, **save)
        return buf.getvalue()

    return make
