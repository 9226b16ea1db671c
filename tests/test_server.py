"""The local web app: JSON API and upload limits (TestClient), and an end-to-end run in headless
Chromium with Playwright (skipped only where Chromium is not installed)."""

from __future__ import annotations

import io
import shutil
import socket
import time
from pathlib import Path

import pytest
from PIL import Image

import geosleuth

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
uvicorn = pytest.importorskip("uvicorn")
from fastapi.testclient import TestClient  # noqa: E402

from conftest import CHROMIUM, serving  # noqa: E402
from geosleuth.app.server import create_app, uvicorn_server  # noqa: E402

LIMIT = 400_000


@pytest.fixture(scope="module")
def app():
    return create_app(config="prior-only", sets=["cues.exif=true"], max_upload_bytes=LIMIT, max_pixels=4_000_000)


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app)


@pytest.fixture(scope="module")
def photo() -> bytes:
    return Path(geosleuth.example_image()).read_bytes()


def test_api_locate_multipart_with_hint(client, photo):
    r = client.post("/api/locate", files={"image": ("../../etc/passwd.jpg", photo, "image/jpeg")},
                    data={"country": "FR"})
    d = r.json()
    assert r.status_code == 200 and d["schema"] == "geosleuth.prediction/2"
    assert d["image"] == "passwd.jpg"  # a display label only, never a path
    assert d["cues"] == {"exif": "ok", "hint:country=FR": "ok"} and d["top_k"][0]["country"] == "FR"
    assert r.headers["content-security-policy"].startswith("default-src 'none'")


def test_healthz_lists_the_cues(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"ok": True, "cues": ["exif"]}


def test_api_locate_raw_body(client, photo):
    r = client.post("/api/locate", content=photo, headers={"content-type": "image/jpeg"})
    assert r.status_code == 200 and r.json()["top_k"]


@pytest.mark.parametrize("kwargs, status, message", [
    ({"content": b"x" * (LIMIT + 1), "headers": {"content-type": "image/jpeg"}}, 413, "exceeds"),
    ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, "expected an image"),
    ({"files": {"image": ("a.txt", b"hello", "text/plain")}}, 415, "not an accepted image type"),
    ({"files": {"image": ("a.jpg", b"hello", "image/jpeg")}}, 400, "not a recognised image format"),
    ({"files": {"other": ("a.jpg", b"hello", "image/jpeg")}}, 400, "no file in its 'image' field"),
    ({"content": b"", "headers": {"content-type": "image/png"}}, 400, "empty upload"),
])
def test_api_rejects_bad_uploads(client, kwargs, status, message):
    r = client.post("/api/locate", **kwargs)
    assert r.status_code == status and message in r.json()["error"]


def test_pixel_limit_and_bad_hint(client, photo):
    buf = io.BytesIO()
    Image.new("L", (3000, 2000)).save(buf, "PNG")  # 6 MP: over the 4 MP limit, small in bytes
    r = client.post("/api/locate", files={"image": ("big.png", buf.getvalue(), "image/png")})
    assert r.status_code == 400 and "exceeds the limit" in r.json()["error"]
    r = client.post("/api/locate", files={"image": ("a.jpg", photo, "image/jpeg")}, data={"near": "north"})
    assert r.status_code == 422 and "LAT,LON,RADIUS_KM" in r.json()["error"]


def test_upload_page_and_report_page(client, photo):
    page = client.get("/").text
    assert "enctype=multipart/form-data" in page and "name=image" in page
    r = client.post("/report", files={"image": ("rue.jpg", photo, "image/jpeg")})
    assert r.status_code == 200 and "id=map-world" in r.text and "id=cues" in r.text and "rue.jpg" in r.text
    assert "id=confidence" in r.text and "Confidence: <b>" in r.text
    r = client.post("/report", files={"image": ("a.jpg", b"junk", "image/jpeg")})
    assert r.status_code == 400 and "not a recognised image format" in r.text


@pytest.fixture(scope="module")
def live_server(app):
    with serving(lambda port: uvicorn_server(app, "127.0.0.1", port, head_timeout=1.0)) as url:
        yield url


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (make system-deps)")
def test_browser_upload_shows_map_and_cue_table(live_server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    image = tmp_path / "street.jpg"
    shutil.copy(geosleuth.example_image(), image)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(live_server + "/")
            page.set_input_files("input[name=image]", str(image))
            # While the photo is analysed the page says so (the submission held back here to look).
            page.evaluate("document.getElementById('upload').addEventListener('submit', e => e.preventDefault())")
            assert not page.is_visible("#working")
            page.click("#locate")
            assert page.is_visible("#working") and page.is_disabled("#locate") and errors == []
            page.goto(live_server + "/")
            page.set_input_files("input[name=image]", str(image))
            page.fill("input[name=country]", "FR")
            page.click("#locate")
            page.wait_for_selector("#map-world", timeout=60_000)
            width = page.eval_on_selector("#map-world image", "im => im.width.baseVal.value")
            rows = page.locator("#cues tr").all_inner_texts()
            assert width == 1200
            page.locator("#map-world + .map-tools button[data-act=in]").click()  # the map's script may run here
            assert page.get_attribute("#map-world", "viewBox") == "300 150 600 300"
            assert any(r.startswith("exif") for r in rows) and any("hint:country=FR" in r for r in rows)
            assert "France" in page.inner_text("#countries") and errors == []
        finally:
            browser.close()


@pytest.mark.parametrize("kind, accepted", [("BMP", True), ("GIF", True), ("ICO", False), ("EPS", False),
                                            ("PCX", False), ("TGA", False)])
def test_only_the_listed_formats_are_decoded_whatever_the_declared_type(client, kind, accepted):
    buf = io.BytesIO()
    if kind == "EPS":
        buf.write(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    else:
        Image.new("RGB", (16, 16), (90, 120, 200)).save(buf, kind)
    r = client.post("/api/locate", content=buf.getvalue(), headers={"content-type": "image/jpeg"})
    if accepted:
        assert r.status_code == 200
    else:
        assert r.status_code == 400 and "not a recognised image format (geosleuth reads JPEG, PNG" in r.json()["error"]


def test_slow_clients_are_cut_off_and_others_served(live_server):
    """Half a request head (slowloris): closed after the 1 s head deadline, while a whole request
    on another connection is answered."""
    host, port = live_server.removeprefix("http://").split(":")
    slow = socket.create_connection((host, int(port)))
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ")
    time.sleep(0.3)
    with socket.create_connection((host, int(port))) as fast:
        fast.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert fast.recv(100).startswith(b"HTTP/1.1 200")
    slow.settimeout(5)
    started = time.monotonic()
    assert slow.recv(100) == b"" and time.monotonic() - started < 3  # closed by the server
    slow.close()


def test_a_client_leaving_mid_upload_is_one_log_line(live_server, caplog):
    host, port = live_server.removeprefix("http://").split(":")
    with caplog.at_level("WARNING"):
        with socket.create_connection((host, int(port))) as s:
            s.sendall(b"POST /api/locate HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                      b"Content-Length: 100000\r\n\r\n" + b"\xff" * 1000)
        deadline = time.monotonic() + 5
        while not any("left during its upload" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.05)
    said = [r.getMessage() for r in caplog.records]
    assert any("left during its upload (1000 bytes received)" in m for m in said), said
    assert not any("Exception in ASGI application" in m or r.exc_info for m, r in zip(said, caplog.records))


@pytest.mark.slow
def test_the_serve_command_answers_and_keeps_stdout_clean(tmp_path):
    """`geosleuth serve` as a user starts it: the page answers, the status line is on stderr."""
    import signal
    import subprocess
    import sys
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "geosleuth.app.cli", "serve", "--config", "prior-only", "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline, status = time.monotonic() + 90, None
        while status is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    status = response.status
            except OSError:
                time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert status == 200, err
    assert out == "" and f"serving on http://127.0.0.1:{port}/" in err and "Traceback" not in err
