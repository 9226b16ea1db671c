"""The `vlm` cue: a vision-language model's answer to "where was this photo taken?", fused as an
expert whose spreads, weight and floor are calibrated (`geosleuth calibrate`), never as a fact.

Off by default. The photo is sent only to the configured endpoint, which must be on this machine
unless `allow_remote` is set; the report says where it went. Any failure (server down, timeout,
HTTP error, a refusal, an answer without usable places) makes the cue abstain with one line.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from geosleuth.cues.base import BaseCue, CueOutput, Evidence
from geosleuth.cues.clues.expert import ExpertAnswer, ExpertSettings, agreement, answer_log_likelihood, expert_evidence
from geosleuth.cues.engines.vlm import VlmClient, VlmError, check_destination
from geosleuth.errors import ConfigError

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid
    from geosleuth.photo import Photo


class VlmCue(BaseCue):
    """Asks `model` at `base_url` (OpenAI-compatible) where the photo was taken."""

    name = "vlm"

    def __init__(self, *, base_url: str, model: str, api_key_env: str, allow_remote: bool, timeout_s: float,
                 max_side: int, in_flight: int, prompt: str | None, settings: str | None,
                 weight: float, floor: float) -> None:
        check_destination(base_url, allow_remote)
        self.settings = ExpertSettings.load(settings) if settings else ExpertSettings(weight=weight, floor=floor)
        super().__init__(weight=self.settings.weight, floor=self.settings.floor)
        text = ""
        if prompt:
            try:
                text = Path(prompt).expanduser().read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cues.vlm.prompt: cannot read {prompt}: {exc}") from None
        self.client = VlmClient(base_url, model, api_key_env, timeout_s, max_side, text)
        self.in_flight = in_flight

    def available(self) -> tuple[bool, str]:
        how = self.settings.fitted or "uncalibrated: fit it with `geosleuth calibrate`"
        return True, f"{self.client.model} at {self.client.base_url} ({how})"

    @property
    def batches(self) -> bool:
        return True  # several photos' requests in flight at once

    def prepare(self, photos: Sequence["Photo"]) -> None:
        with ThreadPoolExecutor(max_workers=max(1, min(self.in_flight, len(photos)))) as pool:
            list(pool.map(self._answer, photos))

    def _answer(self, photo: "Photo") -> ExpertAnswer | VlmError:
        def ask() -> ExpertAnswer | VlmError:
            try:
                return self.client.ask(photo.array())
            except VlmError as exc:
                return exc

        return photo.memo((self.client, "vlm answer"), ask)

    def observe(self, photo: "Photo", grid: "CellGrid") -> CueOutput:
        sent = Evidence("expert_sent", f"the photo goes to {self.client.endpoint} (model {self.client.model})", 0.0,
                        details={"endpoint": self.client.endpoint, "model": self.client.model})
        answer = self._answer(photo)
        if isinstance(answer, VlmError):
            return CueOutput.abstain(str(answer), (sent,))
        evidence = (sent, *expert_evidence(answer, self.settings, f"{self.client.model} says"))
        return CueOutput(answer_log_likelihood(grid, answer, self.settings), evidence)

    def review(self, own: CueOutput, others: Mapping[str, np.ndarray], grid: "CellGrid") -> tuple[Evidence, ...]:
        return agreement(own, others, grid, self.client.model)
