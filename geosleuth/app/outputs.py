"""Where the CLI writes: each output is checked before any work (never an input, never a folder,
its folder writable), a report is written whole or not at all, and CSV rows are flushed as the
photos finish, so an interrupted batch keeps every finished photo."""

from __future__ import annotations

import csv
import os
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from geosleuth.errors import ConfigError, GeosleuthError
from geosleuth.photo import IMAGE_SUFFIXES

if TYPE_CHECKING:
    from geosleuth.results import Prediction

CSV_COLUMNS = ("IMG_ID", "LAT", "LON", "COUNTRY", "PROBABILITY", "CONFIDENCE")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula


def check_output(path: str | Path, inputs: Iterable[str | Path] = (), what: str = "output") -> Path:
    """`path` if geosleuth may write there, else a `ConfigError` saying why (before any work):
    not an input photo nor any existing image, not a folder, in a folder that exists and is writable."""
    out = Path(path).expanduser()
    try:
        if out.is_dir():
            raise ConfigError(f"{what} {out} is a folder; give a file name")
        if not out.parent.is_dir():
            raise ConfigError(f"{what} {out}: the folder {out.parent} does not exist")
        if out.exists():
            mine = out.stat()
            for src in inputs:
                theirs = Path(src).stat() if Path(src).exists() else None
                if theirs is not None and (theirs.st_dev, theirs.st_ino) == (mine.st_dev, mine.st_ino):
                    raise ConfigError(f"{what} {out} is one of the input photos; refusing to overwrite it")
            if out.suffix.lower() in IMAGE_SUFFIXES:
                raise ConfigError(f"{what} {out} is an existing image file; refusing to overwrite it")
            if not os.access(out, os.W_OK):
                raise ConfigError(f"{what} {out} is not writable")
        elif not os.access(out.parent, os.W_OK):
            raise ConfigError(f"{what} {out}: the folder {out.parent} is not writable")
    except OSError as exc:  # a name too long, a loop of links...
        raise ConfigError(f"{what} {out}: {exc.strerror or exc}") from None
    return out


def write_whole(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file beside it: the old file stays until the new
    one is complete."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".geosleuth-", suffix=".partial")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        with suppress(OSError):
            os.unlink(tmp)
        raise GeosleuthError(f"cannot write {path}: {exc.strerror or exc}") from None


def spreadsheet_safe(text: str) -> str:
    """A text cell a spreadsheet shows as text: one that starts like a formula gets a leading '."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@contextmanager
def csv_rows(path: str | Path | None) -> Iterator[Callable[[str, "Prediction | None"], None] | None]:
    """`write(image_id, prediction)` for one `CSV_COLUMNS` row per image into `path` (which the CLI
    has checked with `check_output`), the header written and flushed at once (a full disk shows
    before any work), each row flushed as it comes (blank fields for a failed image: prediction
    None); None when no CSV was asked for."""
    if not path:
        yield None
        return
    try:
        fh = open(path, "w", newline="", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    writer = csv.writer(fh)
    written = [0]  # image rows

    def emit(row: list[str]) -> None:
        try:
            writer.writerow(row)
            fh.flush()
        except OSError as exc:
            kept = f"; it holds the rows of the first {written[0]} images" if written[0] else ""
            raise GeosleuthError(f"cannot write {path}: {exc.strerror or exc}{kept}") from None

    def write(image_id: str, prediction: "Prediction | None") -> None:
        b = prediction.best if prediction is not None else None
        emit([spreadsheet_safe(image_id)] + (["", "", "", "", ""] if b is None else [
            f"{b.lat:.6f}", f"{b.lon:.6f}", b.country, f"{b.probability:.6f}", prediction.confidence.level]))
        written[0] += 1

    try:
        emit(list(CSV_COLUMNS))
        yield write
    finally:
        with suppress(OSError):  # what could not be written was reported by emit
            fh.close()
