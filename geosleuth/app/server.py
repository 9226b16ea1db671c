"""`geosleuth serve`: a local web app (FastAPI + uvicorn, `pip install "geosleuth[serve]"`).

    GET  /            upload page
    POST /report      form upload -> the HTML report (the result page)
    POST /api/locate  multipart field `image`, or a raw image/* body -> Prediction.to_dict() JSON
    GET  /healthz

Uploads are held in memory only (never spooled to disk, never named by the client's file name),
refused past a byte limit (while streaming) and a pixel limit (before decoding), must declare an
image content type and decode as one of the formats geosleuth reads, and are dropped when the
response is sent. A client gets HEAD_TIMEOUT seconds for a request's head and BODY_TIMEOUT for its
body; one that leaves mid-upload is logged in one line.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time.
import html
import logging
import re
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Sequence

from geosleuth.api import Geolocator
from geosleuth.app.report import MAP_SCRIPT, render_report, script_hash
from geosleuth.errors import ConfigError, ImageError, MissingDependencyError
from geosleuth.hints import Hint
from geosleuth.photo import Photo

if TYPE_CHECKING:
    from fastapi import FastAPI

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/tiff", "image/gif", "image/bmp",
                         "image/heic", "image/heif", "image/avif"})
DEFAULT_MAX_UPLOAD = 20 * 1024 * 1024
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small hint fields
HEAD_TIMEOUT = 10.0  # s: from connecting (or the previous response) to a whole request head
BODY_TIMEOUT = 60.0  # s: for the whole body (20 MB at 350 KB/s)
LOG = logging.getLogger("uvicorn.error")
# While a photo is analysed the upload page says so; with the report's maps, the only scripts a page may run
# (their hashes are in the CSP).
WORKING_SCRIPT = ("document.getElementById('upload').addEventListener('submit',function(){"
                  "var b=document.getElementById('locate');b.disabled=true;b.textContent='Locating…';"
                  "document.getElementById('working').hidden=false;});")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'self'; "
                               f"script-src {script_hash(WORKING_SCRIPT)} {script_hash(MAP_SCRIPT)}",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class UploadRejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _require() -> None:
    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401  (for starlette's form parser)
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(f"the web app needs {exc.name}: pip install 'geosleuth[serve]'") from None


def create_app(geo: Geolocator | None = None, *, config: str = "default", sets: Sequence[str] = (),
               max_upload_bytes: int = DEFAULT_MAX_UPLOAD, max_pixels: int | None = None,
               concurrency: int = 1) -> "FastAPI":
    """The ASGI app. One pipeline is shared; at most `concurrency` photos are located at once.
    Uploads decode to at most `max_pixels` (default: the config's image.max_pixels)."""
    _require()
    import anyio
    from fastapi import FastAPI, Request
    from fastapi.responses import HTMLResponse, JSONResponse

    geo = geo or Geolocator.from_config(config, sets=list(sets))
    pixels = geo.config["image"]["max_pixels"] if max_pixels is None else max_pixels
    limiter = anyio.CapacityLimiter(concurrency)
    app = FastAPI(title="geosleuth", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    async def run(request: Request) -> tuple[Any, Any, str]:
        data, fields, name = await _read_upload(request, max_upload_bytes)
        hints = _hints(fields)

        def work() -> tuple[Any, Any]:
            photo = Photo.open(data, max_pixels=pixels, max_side=geo.config["image"]["max_side"])
            return photo, replace(geo.locate(photo, hints=hints), image=name)

        photo, pred = await anyio.to_thread.run_sync(work, limiter=limiter)
        return photo, pred, name

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return UPLOAD_PAGE.replace("{limit}", f"{max_upload_bytes / 2**20:g}").replace("{script}", WORKING_SCRIPT)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True, "cues": [c.name for c in geo.cues]}

    @app.post("/report", response_class=HTMLResponse)
    async def report(request: Request) -> HTMLResponse:
        try:
            photo, pred, _ = await run(request)
        except (UploadRejected, ImageError, ConfigError) as exc:
            status = getattr(exc, "status", 422 if isinstance(exc, ConfigError) else 400)
            return HTMLResponse(ERROR_PAGE.format(message=html.escape(str(exc))), status_code=status)
        page = await anyio.to_thread.run_sync(lambda: render_report(pred, [(photo, pred)]), limiter=limiter)
        return HTMLResponse(page.replace("</h1>", "</h1><p><a href='/'>Locate another photo</a></p>", 1))

    @app.post("/api/locate")
    async def api_locate(request: Request) -> JSONResponse:
        try:
            _, pred, _ = await run(request)
        except (UploadRejected, ImageError, ConfigError) as exc:
            status = getattr(exc, "status", 422 if isinstance(exc, ConfigError) else 400)
            return JSONResponse({"error": str(exc)}, status_code=status)
        return JSONResponse(pred.to_dict())

    return app


async def _read_upload(request: Any, limit: int) -> tuple[bytes, dict[str, str], str]:
    """(image bytes, other form fields, a display name) from a multipart form or a raw image body."""
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    multipart = ctype == "multipart/form-data"
    if not multipart and ctype not in IMAGE_TYPES:
        raise UploadRejected(415, f"expected an image upload ({', '.join(sorted(IMAGE_TYPES))}) or a "
                                  f"multipart form, got {ctype or 'no content type'}")
    body = await _read_limited(request, limit + (FORM_OVERHEAD if multipart else 0))
    if not multipart:
        return body, {}, "upload"

    class InMemory(MultiPartParser):
        spool_max_size = limit + FORM_OVERHEAD  # an upload never spills to a temporary file

    async def stream() -> Any:
        yield body
        yield b""

    try:
        form = await InMemory(request.headers, stream(), max_files=1, max_fields=8, max_part_size=4096).parse()
    except MultiPartException as exc:
        raise UploadRejected(400, f"bad form: {exc}") from None
    try:
        upload = form.get("image")
        if not isinstance(upload, UploadFile):
            raise UploadRejected(400, "the form has no file in its 'image' field")
        declared = (upload.content_type or "").lower()
        if declared not in IMAGE_TYPES:
            raise UploadRejected(415, f"{declared or 'no content type'} is not an accepted image type")
        data = await upload.read()
        if len(data) > limit:
            raise UploadRejected(413, f"upload exceeds {limit:,} bytes")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return data, fields, _display_name(upload.filename)
    finally:
        await form.close()


async def _read_limited(request: Any, limit: int) -> bytes:
    import anyio
    from starlette.requests import ClientDisconnect

    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise UploadRejected(413, f"upload of {int(declared):,} bytes exceeds the limit of {limit:,}")
    chunks, size = [], 0
    try:
        with anyio.fail_after(BODY_TIMEOUT):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise UploadRejected(413, f"upload exceeds the limit of {limit:,} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise UploadRejected(408, f"upload not complete after {BODY_TIMEOUT:g} s") from None
    except ClientDisconnect:
        client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
        LOG.warning("geosleuth: %s left during its upload (%d bytes received)", client, size)
        raise UploadRejected(400, "the client left during the upload") from None
    if not size:
        raise UploadRejected(400, "empty upload")
    return b"".join(chunks)


def _display_name(filename: str | None) -> str:
    """A label for the report only (never a path): the base name, harmless characters, 80 at most."""
    base = re.split(r"[\\/]", filename or "")[-1]
    return re.sub(r"[^\w.\- ]", "_", base)[:80] or "upload"


def _hints(fields: dict[str, str]) -> list[Hint]:
    out = []
    for key in ("country", "exclude", "near"):
        value = fields.get(key, "").strip()
        if value:
            out.append(Hint.parse(f"{key}={value}"))
    return out


def serve(host: str = "127.0.0.1", port: int = 8000, *, config: str = "default", sets: Sequence[str] = (),
          max_upload_bytes: int = DEFAULT_MAX_UPLOAD) -> None:
    """Run the app with uvicorn until interrupted."""
    _require()
    app = create_app(config=config, sets=sets, max_upload_bytes=max_upload_bytes)
    print(f"geosleuth: serving on http://{host}:{port}/ (local processing; uploads are not kept)", file=sys.stderr)
    uvicorn_server(app, host, port).run()


def uvicorn_server(app: Any, host: str, port: int, head_timeout: float = HEAD_TIMEOUT) -> Any:
    """The uvicorn server of `serve`, which closes a connection that takes more than
    `head_timeout` seconds to send a request head."""
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                         http=head_deadline_protocol(), timeout_keep_alive=head_timeout))


def head_deadline_protocol() -> type:
    """uvicorn's HTTP/1.1 protocol with a deadline for request heads: uvicorn closes an idle
    keep-alive connection, but waits forever for a client that sends half a head (slowloris)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeadDeadline(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

        def data_received(self, data: bytes) -> None:  # only a whole request head stops the clock
            self.conn.receive_data(data)
            self.handle_events()

    return HeadDeadline


UPLOAD_PAGE = """<!doctype html><html lang=en><head><meta charset=utf-8><title>geosleuth</title>
<meta name=viewport content='width=device-width,initial-scale=1'>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:720px;margin:2em auto;padding:0 1em}
label{display:block;margin:.6em 0}input[type=text]{width:16em}button{font-size:1em;padding:.4em 1.2em}
.small{color:#666;font-size:.85em}</style></head><body>
<h1>Where was this photo taken?</h1>
<form id=upload action=/report method=post enctype=multipart/form-data>
<label>Photo (JPEG, PNG, WebP, TIFF, GIF, BMP, HEIC; up to {limit} MB)
<input type=file name=image accept="image/*" required></label>
<fieldset><legend>What you already know (optional)</legend>
<label>In country <input type=text name=country placeholder="FR" maxlength=2></label>
<label>Not in country <input type=text name=exclude placeholder="US" maxlength=2></label>
<label>Near <input type=text name=near placeholder="48.85,2.35,50 (lat,lon,km)" maxlength=60></label>
</fieldset>
<p><button id=locate type=submit>Locate</button></p></form>
<p id=working hidden><b>Analysing the photo…</b> reading its metadata and text; the first photo also loads the
models (up to a minute).</p>
<script>{script}</script>
<p class=small>Runs on this machine: the photo is analysed in memory and not kept. Do not use this to locate,
track or harass people.</p></body></html>"""

ERROR_PAGE = """<!doctype html><html lang=en><head><meta charset=utf-8><title>geosleuth: error</title></head>
<body style='font:16px system-ui,sans-serif;max-width:720px;margin:2em auto'><h1>Could not locate this upload</h1>
<p id=error>{message}</p><p><a href='/'>Try another photo</a></p></body></html>"""
