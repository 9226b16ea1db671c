"""What the vlm cue itself costs per photo: against a local OpenAI-compatible server that answers
at once (FastAPI on loopback), so the time is geosleuth's (resizing and encoding the photo, the
HTTP round trip, parsing, placing names, the kernel mixture), one photo at a time and in batches
with 8 requests in flight, each request also delayed by --delay seconds as a model would be.

    python -m benchmarks.bench_vlm [--photos 32] [--delay 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import geosleuth

ANSWER = {"candidates": [{"place": "Paris, France", "country": "FR", "lat": 48.8566, "lon": 2.3522, "confidence": 0.7},
                         {"place": "Lyon", "country": "FR", "lat": 45.76, "lon": 4.84, "confidence": 0.2}],
          "clues": ["street name plates in French", "Haussmann facades"]}


def serve(delay: float) -> tuple[str, object]:
    import fastapi
    import uvicorn

    app = fastapi.FastAPI()

    @app.post("/v1/chat/completions")
    async def complete(body: dict):
        await asyncio.sleep(delay)
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(ANSWER)}}]}

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}/v1", server


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.5, help="seconds the fake model takes per request")
    args = ap.parse_args(argv)
    folder = Path(tempfile.mkdtemp())
    try:
        for i in range(args.photos):
            shutil.copy(geosleuth.example_image(), folder / f"p{i:03d}.jpg")
        photos = sorted(folder.glob("*.jpg"))
        for delay in (0.0, args.delay):
            url, server = serve(delay)
            for in_flight, label in ((1, "one at a time"), (8, "8 in flight")):
                geo = geosleuth.Geolocator.from_config("prior-only", cues={"vlm": {
                    "enabled": True, "base_url": url, "in_flight": in_flight}}, batch={"size": 8})
                geo.locate(photos[0])  # warm: grid, gazetteer
                if in_flight == 1:
                    seconds = []
                    for path in photos:
                        pred = geo.locate(path)
                        seconds.append(pred.timings["cue:vlm"])
                    wall = sum(seconds)
                    cue = f"cue median {statistics.median(seconds) * 1000:.0f} ms"
                else:
                    start = time.perf_counter()
                    items = list(geo.locate_many(photos))
                    wall = time.perf_counter() - start
                    assert all(it.ok and it.prediction.cues["vlm"].status == "ok" for it in items)
                    cue = "all answered"
                print(f"model delay {delay:.1f} s, {label}: {wall / len(photos) * 1000:.0f} ms per photo "
                      f"({cue}, {len(photos)} photos)")
            server.should_exit = True
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
