"""Recorded experts: another tool's answers per photo (GeoSpy, Picarta, a GeoCLIP run made
elsewhere, a colleague's guesses), replayed as a cue keyed by the photo's file name.

A recorded answer is a CSV with a header: IMG_ID,LAT,LON and optionally PLACE, CONFIDENCE (0-1),
EVIDENCE_COUNT (an integer) and SUCCESS (false: the tool gave no answer for that photo).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from geosleuth.cues.base import Evidence
from geosleuth.cues.clues.expert import ExpertAnswer, ExpertCandidate, ExpertCue, ExpertSettings
from geosleuth.errors import ConfigError
from geosleuth.geo import valid_point

if TYPE_CHECKING:
    from geosleuth.photo import Photo

COLUMNS = ("IMG_ID", "LAT", "LON")
FALSE = {"false", "0", "no", "n", "f"}


def read_recorded(path: str | Path) -> dict[str, ExpertAnswer]:
    """Each photo's recorded answer, by file name. A malformed file is a ConfigError naming the
    line; rows whose SUCCESS is false are photos the tool gave no answer for."""
    path = Path(path).expanduser()
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            if not set(COLUMNS) <= set(header):
                raise ConfigError(f"{path}, line 1: expected the columns {','.join(COLUMNS)} (optional PLACE, "
                                  f"CONFIDENCE, EVIDENCE_COUNT, SUCCESS), got {','.join(header) or 'nothing'}")
            answers: dict[str, ExpertAnswer] = {}
            for row in reader:
                line = reader.line_num
                if (row.get("SUCCESS") or "").strip().lower() in FALSE:
                    continue
                answers[Path(row["IMG_ID"] or "").name] = ExpertAnswer((_candidate(row, path, line),))
    except OSError as exc:
        raise ConfigError(f"cannot read recorded expert {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: not a UTF-8 CSV file ({exc})") from None
    return answers


def _candidate(row: Mapping[str, str | None], path: Path, line: int) -> ExpertCandidate:
    try:
        if not (row.get("IMG_ID") or "").strip():
            raise ValueError("IMG_ID is empty")
        lat, lon = float(row["LAT"] or ""), float(row["LON"] or "")
        if not valid_point(lat, lon):
            raise ValueError(f"coordinates out of range: {lat}, {lon}")
        confidence = float(row["CONFIDENCE"]) if (row.get("CONFIDENCE") or "").strip() else None
        if confidence is not None and not 0 <= confidence <= 1:
            raise ValueError(f"CONFIDENCE must be in [0, 1], got {confidence}")
        count = int(row["EVIDENCE_COUNT"]) if (row.get("EVIDENCE_COUNT") or "").strip() else None
        if count is not None and count < 0:
            raise ValueError(f"EVIDENCE_COUNT must be >= 0, got {count}")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}, line {line}: {exc}") from None
    return ExpertCandidate(lat, lon, (row.get("PLACE") or "").strip(), confidence=confidence, evidence_count=count)


class RecordedExpert(ExpertCue):
    """One recorded expert. Its name is "expert:<file stem>"; its error shares, weight and floor come
    from its settings (`geosleuth calibrate --expert`), else from the uncalibrated defaults."""

    def __init__(self, path: str | Path, settings: ExpertSettings | None = None) -> None:
        super().__init__(settings or ExpertSettings())
        self.path = Path(path).expanduser()
        self.name = f"expert:{self.path.stem}"
        self.who = self.path.name
        self.answers = read_recorded(self.path)

    def available(self) -> tuple[bool, str]:
        how = self.settings.fitted or "uncalibrated: fit it with `geosleuth calibrate --expert`"
        return True, f"{len(self.answers)} recorded answers in {self.path.name} ({how})"

    def answer(self, image_id: str) -> ExpertAnswer | None:
        return self.answers.get(Path(image_id).name)

    def consult(self, photo: "Photo") -> tuple[ExpertAnswer | None, tuple[Evidence, ...], str]:
        return self.answer(photo.id), (), f"no recorded answer for {photo.id} in {self.path.name}"


def recorded_experts(entries: list) -> list[RecordedExpert]:
    """The config's `experts`: each a CSV path, or {file: CSV, settings: YAML}."""
    experts = []
    for entry in entries:
        if isinstance(entry, str):
            entry = {"file": entry}
        if not isinstance(entry, Mapping) or not isinstance(entry.get("file"), str) \
                or not set(entry) <= {"file", "settings"}:
            raise ConfigError(f"experts: each entry is a CSV path or {{file: CSV, settings: YAML}}, got {entry!r}")
        settings = ExpertSettings.load(entry["settings"]) if entry.get("settings") else None
        experts.append(RecordedExpert(entry["file"], settings))
    names = [e.name for e in experts]
    if len(set(names)) < len(names):
        raise ConfigError(f"experts: two files share a name ({', '.join(sorted(names))}); rename one")
    return experts
