"""The `vlm` cue: a vision-language model's answer to "where was this photo taken?", fused as an
expert whose error shares, weight and floor are calibrated (`geosleuth calibrate`), never as a fact.

Off by default. The photo is sent only to the configured endpoint, which must be on this machine
unless `allow_remote` is set; the report says where it went. Any failure (server down, timeout,
HTTP error, a refusal, an answer without usable places) makes the cue abstain with one line.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from geosleuth.cues.base import Evidence
from geosleuth.cues.clues.expert import ExpertAnswer, ExpertCue, ExpertSettings
from geosleuth.cues.engines.vlm import VlmClient, VlmError, check_destination
from geosleuth.errors import ConfigError

if TYPE_CHECKING:
    from geosleuth.photo import Photo


class VlmCue(ExpertCue):
    """Asks `model` at `base_url` (OpenAI-compatible) where the photo was taken."""

    name = "vlm"
    why_off = "off by default: it sends the photo to the model server you name"

    def __init__(self, *, base_url: str, model: str, api_key_env: str, allow_remote: bool, timeout_s: float,
                 max_side: int, in_flight: int, prompt: str | None, settings: str | None,
                 weight: float, floor: float) -> None:
        check_destination(base_url, allow_remote)
        super().__init__(ExpertSettings.load(settings) if settings else ExpertSettings(weight=weight, floor=floor))
        text = ""
        if prompt:
            try:
                text = Path(prompt).expanduser().read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cues.vlm.prompt: cannot read {prompt}: {exc}") from None
        self.client = VlmClient(base_url, model, api_key_env, timeout_s, max_side, text)
        self.who = model
        self.in_flight = in_flight
        self.answers: dict[str, ExpertAnswer] | None = None  # by photo, once `keep_answers` is called

    def available(self) -> tuple[bool, str]:
        how = self.settings.fitted or "uncalibrated: fit it with `geosleuth calibrate`"
        return True, f"{self.client.model} at {self.client.base_url} ({how})"

    @property
    def batches(self) -> bool:
        return True  # several photos' requests in flight at once

    def prepare(self, photos: Sequence["Photo"]) -> None:
        if self.weight == 0:
            return
        with ThreadPoolExecutor(max_workers=max(1, min(self.in_flight, len(photos)))) as pool:
            list(pool.map(self._ask, photos))

    def _ask(self, photo: "Photo") -> ExpertAnswer | VlmError:
        def ask() -> ExpertAnswer | VlmError:
            try:
                return self.client.ask(photo.array())
            except VlmError as exc:
                return exc

        return photo.memo((self.client, "vlm answer"), ask)

    def keep_answers(self) -> None:
        self.answers = {}

    def answer(self, image_id: str) -> ExpertAnswer | None:
        return (self.answers or {}).get(image_id)

    def consult(self, photo: "Photo") -> tuple[ExpertAnswer | None, tuple[Evidence, ...], str]:
        answer = self._ask(photo)
        delivered = not isinstance(answer, VlmError) or answer.delivered
        sent = Evidence("photo_sent", f"the photo {'was sent' if delivered else 'was to be sent, but did not reach'} "
                        f"{self.client.endpoint} (model {self.client.model})", 0.0,
                        details={"endpoint": self.client.endpoint, "model": self.client.model, "delivered": delivered})
        if isinstance(answer, VlmError):
            return None, (sent,), str(answer)
        if self.answers is not None:
            self.answers[photo.id] = answer
        return answer, (sent,), ""
