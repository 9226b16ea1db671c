"""The files a command line names: folders searched for images, each file with an ID unique in
the batch, and what was skipped, with why."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from geosleuth.photo import IMAGE_SUFFIXES


@dataclass(frozen=True)
class Inputs:
    """The files a command line names: each with an ID unique in the batch (its path relative to
    the folder it was found in, or its name), and what was skipped, with why."""

    files: list[str]
    ids: list[str]
    skipped: list[tuple[str, str]]


def expand_inputs(paths: Iterable[str | Path]) -> Inputs:
    """Files to locate from paths and folders (searched recursively for image suffixes; links to
    folders are not followed). Every entry of a folder that is not located is in `skipped`."""
    files: list[str] = []
    ids: list[str] = []
    skipped: list[tuple[str, str]] = []
    for p in map(Path, paths):
        try:
            is_folder = p.is_dir()
        except OSError:  # a name too long: reported by locate
            is_folder = False
        if not is_folder:
            files.append(str(p))  # missing or odd files are reported by locate, not dropped here
            ids.append(p.name)
            continue
        for folder, dirs, names in os.walk(p):
            linked = [d for d in dirs if Path(folder, d).is_symlink()]
            hidden = [d for d in dirs if d.startswith(".") and d not in linked]
            skipped += [(str(Path(folder, d)), "hidden folder") for d in sorted(hidden)]
            dirs[:] = sorted(d for d in dirs if d not in linked and d not in hidden)
            for name in sorted(names + linked):
                f = Path(folder, name)
                why = _not_located(f, f.relative_to(p))
                if why:
                    skipped.append((str(f), why))
                else:
                    files.append(str(f))
                    ids.append(f.relative_to(p).as_posix())
    if len(set(ids)) < len(ids):  # the same name given twice: the paths tell them apart
        ids = files[:]
    return Inputs(files, ids, skipped)


def _not_located(f: Path, relative: Path) -> str:
    """Why a file found in a folder is not located ('' when it is)."""
    if any(part.startswith(".") for part in relative.parts):
        return "hidden file"
    if f.is_symlink() and not f.exists():
        return "broken or looping link"
    if f.is_symlink() and f.is_dir():
        return "link to a folder (not followed)"
    if not f.is_file():
        return "not a regular file"
    if f.suffix.lower() not in IMAGE_SUFFIXES:
        return "not an image file name"
    return ""
