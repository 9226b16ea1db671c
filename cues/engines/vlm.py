"""A vision-language model asked where a photo was taken, through the OpenAI-compatible
chat-completions API (Ollama, vLLM, llama.cpp server, LM Studio, hosted providers).

The photo goes only where the settings say: a base URL that is not on this machine needs
`allow_remote`. The answer is asked as JSON under a schema (`response_format`); a server that
refuses the schema is asked again without it, and JSON is then found in whatever prose comes
back. A candidate whose name the gazetteer knows but whose coordinates are missing or far from
that place is put at the place.
"""

from __future__ import annotations

import base64
import io
import ipaddress
import json
import math
import os
import re
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from geosleuth.cues.clues.expert import ExpertAnswer, ExpertCandidate
from geosleuth.errors import ConfigError
from geosleuth.geo import haversine_km, valid_point

DEFAULT_PROMPT = Path(__file__).parents[1] / "data" / "vlm_prompt.txt"
MAX_CANDIDATES = 5
RETRIES = 3  # after a 429, 502, 503 or 504: backoff 1, 2, 4 s (or the server's Retry-After, up to 30 s)
FAR_KM = 300.0  # coordinates this far from the place named are taken to be wrong
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "candidates": {"type": "array", "maxItems": MAX_CANDIDATES, "items": {
            "type": "object",
            "properties": {"place": {"type": "string"}, "country": {"type": "string"},
                           "lat": {"type": "number"}, "lon": {"type": "number"},
                           "confidence": {"type": "number"}},
            "required": ["place", "country", "lat", "lon", "confidence"], "additionalProperties": False}},
        "clues": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["candidates", "clues"], "additionalProperties": False,
}


class VlmError(Exception):
    """Why the model gave no usable answer, in one line (the cue abstains with it); `delivered`
    says whether the photo reached the server all the same."""

    def __init__(self, message: str, delivered: bool = True, status: int | None = None) -> None:
        super().__init__(message)
        self.delivered = delivered
        self.status = status  # the HTTP status, when the server answered with an error


def is_loopback(base_url: str) -> bool:
    """Whether a URL's host is this machine (localhost or a loopback address)."""
    host = (urlsplit(base_url).hostname or "").strip("[]").lower()
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_destination(base_url: str, allow_remote: bool, setting: str = "cues.vlm") -> None:
    """A ConfigError unless the URL is well formed and on this machine, or remote is allowed."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{setting}.base_url must be an http(s) URL, got {base_url!r}")
    if not allow_remote and not is_loopback(base_url):
        raise ConfigError(f"{setting}.base_url {base_url} is not on this machine: photos would be sent to "
                          f"{parts.hostname}. Set {setting}.allow_remote=true to allow that")


@dataclass(frozen=True)
class VlmClient:
    """One OpenAI-compatible endpoint and model; `ask` returns the model's answer for an image."""

    base_url: str
    model: str
    api_key_env: str = ""  # the name of the environment variable holding the key, never the key
    timeout_s: float = 60.0
    max_side: int = 1024
    prompt: str = ""  # the instructions; "" for the shipped prompt

    @property
    def endpoint(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def ask(self, image: np.ndarray) -> ExpertAnswer:
        """The model's candidates and clues for an RGB image; VlmError says why there are none."""
        body = self._request(image)
        try:
            reply = self._post({**body, "response_format": {"type": "json_schema", "json_schema": {
                "name": "geolocation", "schema": SCHEMA, "strict": True}}})
        except VlmError as exc:
            if exc.status not in (400, 422):
                raise
            reply = self._post(body)  # a server without structured output: asked plainly
        return parse_answer(reply)

    def _request(self, image: np.ndarray) -> dict[str, Any]:
        from PIL import Image

        picture = Image.fromarray(image)
        picture.thumbnail((self.max_side, self.max_side))
        buf = io.BytesIO()
        picture.convert("RGB").save(buf, "JPEG", quality=90)
        url = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        prompt = self.prompt or DEFAULT_PROMPT.read_text(encoding="utf-8")
        return {"model": self.model, "temperature": 0, "messages": [{"role": "user", "content": [
            {"type": "text", "text": prompt}, {"type": "image_url", "image_url": {"url": url}}]}]}

    def _post(self, body: dict[str, Any]) -> str:
        """The reply's message text, retrying rate limits and busy servers with backoff."""
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(body).encode()
        # a server on this machine is reached directly, never through a proxy the environment names
        opener = urllib.request.build_opener(*([urllib.request.ProxyHandler({})] if is_loopback(self.base_url) else []))
        for attempt in range(RETRIES + 1):
            request = urllib.request.Request(self.endpoint, data=data, headers=headers, method="POST")
            try:
                with opener.open(request, timeout=self.timeout_s) as response:
                    payload = response.read()
                break
            except urllib.error.HTTPError as exc:
                detail = _error_text(exc)
                if exc.code in (429, 502, 503, 504) and attempt < RETRIES:
                    time.sleep(_retry_after(exc, attempt))
                    continue
                raise VlmError(f"{self.endpoint} answered HTTP {exc.code}{': ' + detail if detail else ''}",
                               status=exc.code) from None
            except (TimeoutError, socket.timeout):
                raise VlmError(f"{self.endpoint} did not answer within {self.timeout_s:g} s") from None
            except urllib.error.URLError as exc:
                reason = exc.reason
                if isinstance(reason, (TimeoutError, socket.timeout)):
                    raise VlmError(f"{self.endpoint} did not answer within {self.timeout_s:g} s") from None
                raise VlmError(f"cannot reach {self.endpoint}: {getattr(reason, 'strerror', None) or reason}",
                               delivered=False) from None
            except (ConnectionError, OSError) as exc:
                raise VlmError(f"cannot reach {self.endpoint}: {exc}", delivered=False) from None
        try:
            reply = json.loads(payload)
            message = reply["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise VlmError(f"{self.endpoint} did not answer in the chat-completions format") from None
        if message.get("refusal"):
            raise VlmError(f"the model declined: {str(message['refusal'])[:200]}")
        content = message.get("content")
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str) or not content.strip():
            raise VlmError("the model's reply was empty")
        return content


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read().decode("utf-8", "replace")
        return " ".join(str(json.loads(text).get("error", text)).split())[:200]
    except Exception:
        return ""


def _retry_after(exc: urllib.error.HTTPError, attempt: int) -> float:
    try:
        return min(max(float(exc.headers.get("Retry-After", "")), 0.0), 30.0)
    except (TypeError, ValueError):
        return float(2 ** attempt)


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def parse_answer(text: str) -> ExpertAnswer:
    """The candidates and clues in a reply: JSON as asked, or JSON inside prose or a code fence.
    Candidates out of range or unplaceable are dropped; none left is a VlmError."""
    data = _first_json_object(text)
    if data is None:
        raise VlmError(f"the model's reply holds no JSON answer: {' '.join(text.split())[:120]!r}")
    raw = data.get("candidates") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise VlmError("the model's JSON has no list of candidates")
    candidates = [c for c in (_candidate(item) for item in raw[:MAX_CANDIDATES] if isinstance(item, dict)) if c]
    if not candidates:
        raise VlmError(f"none of the model's {len(raw)} candidates has a usable place or coordinates")
    clues = tuple(str(c).strip() for c in data.get("clues") or () if str(c).strip())[:12]
    return ExpertAnswer(tuple(candidates), clues)


def _first_json_object(text: str) -> Any:
    decoder = json.JSONDecoder()
    for chunk in [text, *_FENCE.findall(text)]:
        for start in [m.start() for m in re.finditer(r"\{", chunk)]:
            try:
                value, _ = decoder.raw_decode(chunk, start)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _candidate(item: dict[str, Any]) -> ExpertCandidate | None:
    """A candidate placed by its coordinates, or by the gazetteer where they are missing, out of
    range or far from the place it names."""
    from geosleuth.gazetteer.places import Gazetteer

    place, country = str(item.get("place") or "").strip(), str(item.get("country") or "").strip()
    lat, lon = _number(item.get("lat")), _number(item.get("lon"))
    confidence = _number(item.get("confidence"))
    if confidence is not None:
        confidence = min(max(confidence / 100 if confidence > 1 else confidence, 0.0), 1.0)
    named = _gazetteer_place(Gazetteer.default(), place, country) if place else None
    placed = lat is not None and lon is not None and valid_point(lat, lon)
    if named is not None and (not placed or haversine_km(lat, lon, named.lat, named.lon) > FAR_KM):
        lat, lon, placed = named.lat, named.lon, True
    if not placed:
        return None
    code = named.country if named is not None else country.upper() if len(country) == 2 else ""
    return ExpertCandidate(float(lat), float(lon), place, code, confidence)


def _gazetteer_place(gazetteer: Any, place: str, country: str) -> Any:
    """The most populous gazetteer entry for the name's first part ("Patras, Greece" -> Patras),
    in the country named where that narrows it."""
    from geosleuth.gazetteer import country_name

    found = gazetteer.lookup(place) or gazetteer.lookup(place.split(",")[0])
    if not found:
        return None
    wanted = country.upper() if len(country) == 2 else ""
    same = [p for p in found if p.country == wanted or (country and country_name(p.country).lower() == country.lower())]
    return max(same or found, key=lambda p: p.population)
