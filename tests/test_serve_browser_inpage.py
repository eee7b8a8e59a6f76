"""The live page's in-browser mode in headless Chromium: ONNX Runtime Web runs the bundled models in
the page, and what it finds must be what ``PoseEstimator`` finds (keypoints within 0.5 px, scores
within 1e-3, on the bundled pictures); the camera runs with no request to ``/v1/pose``; a static
copy of the page runs from a plain file server, single-threaded (no isolation headers there).

The pictures reach the page as PNG (decoded once by OpenCV, as ``PoseEstimator`` reads them) so
that the comparison is of the pipelines, not of two JPEG decoders. Skips like
``test_serve_browser.py`` without Chromium, its driver or selenium.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("python_multipart", reason="python-multipart not installed")
pytest.importorskip("selenium.webdriver")

from test_serve_browser import (CHROMEDRIVER, CHROMIUM, STATE_JS, _check_drawing,  # noqa: E402
                                chromium, write_y4m)

from lgmpose.inference.estimator import PoseEstimator, bundled_weights  # noqa: E402

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None or not bundled_weights().is_file(),
    reason="needs Chromium and its driver (apt-get install chromium chromium-driver) and the "
           "bundled model")
ASSETS = Path(__file__).resolve().parents[1] / "lgmpose" / "assets"
PICTURES = ("basketball1.jpg", "messi5.jpg", "astronaut.jpg", "000000000785.jpg")

ASYNC = """const done = arguments[arguments.length - 1];
(async () => { %s })().then(done, (e) => done({error: String(e && e.stack || e)}));"""


def run_async(driver, body: str, *args):
    out = driver.execute_async_script(ASYNC % body, *args)
    assert not (isinstance(out, dict) and "error" in out), out.get("error")
    return out


def png_base64(image: np.ndarray) -> str:
    return base64.b64encode(cv2.imencode(".png", image)[1]).decode()


# The page's Content-Security-Policy lets it fetch from its own origin only (no data: URLs).
PNG_BLOB = ("new Blob([Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0))], "
            "{type: 'image/png'})")


def wait_ready(driver, timeout: float = 60.0) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.execute_script("return !!(window.lgmpose && window.lgmpose.ready)"))


def wait_state(driver, condition, timeout: float = 120.0):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(
            lambda d: (lambda s: s if s and condition(s) else None)(d.execute_script(STATE_JS)))
    except Exception:
        error = driver.execute_script("return window.lgmpose && window.lgmpose.error")
        raise AssertionError(f"the page did not get there; its message: {error}") from None


@pytest.fixture(scope="module")
def service():
    from lgmpose.serve.service import PoseService, ServeConfig

    return PoseService(ServeConfig(threads=1))


@pytest.fixture(scope="module")
def server_url(service):
    from lgmpose.serve.app import create_app, serve_in_thread

    with serve_in_thread(create_app(service=service)) as url:
        yield url


@pytest.fixture(scope="module")
def camera_browser(tmp_path_factory):
    picture = cv2.imread(str(ASSETS / "basketball1.jpg"))
    frames = [np.roll(picture, 4 * i, axis=1) for i in range(8)]
    video = write_y4m(tmp_path_factory.mktemp("video") / "basketball.y4m", frames)
    with chromium(video) as driver:
        driver.set_script_timeout(120)
        yield driver


def test_page_finds_what_the_estimator_finds(server_url, camera_browser):
    driver = camera_browser
    driver.get(f"{server_url}/?kpt_thr=0")
    wait_ready(driver)
    estimator = PoseEstimator(detector="nanodet", threads=1)
    worst = {"kpt": 0.0, "score": 0.0, "box": 0.0}
    for name in PICTURES:
        image = cv2.imread(str(ASSETS / name))
        expected = estimator(image)
        got = run_async(driver, f"return await window.lgmpose.inpage.estimate({PNG_BLOB});",
                        png_base64(image))
        assert len(got) == len(expected) > 0, name
        for person, mine in zip(expected, got):
            box = np.abs(np.array(mine["box"]) - person.box).max()
            kpt = np.abs(np.array(mine["keypoints"]) - person.keypoints).max()
            score = np.abs(np.array(mine["scores"]) - person.scores).max()
            assert abs(mine["box_score"] - person.box_score) < 1e-3, name
            worst = {k: max(worst[k], v) for k, v in
                     (("kpt", kpt), ("score", score), ("box", box))}
    print(f"\nin-page vs PoseEstimator, worst over {len(PICTURES)} pictures: {worst}")
    assert worst["kpt"] <= 0.5 and worst["score"] <= 1e-3
    state = driver.execute_script("return window.lgmpose.runtime")
    assert state["isolated"] is True and state["threads"] >= 1


def test_page_crop_equals_opencv(server_url, camera_browser):
    """The crop (area prefilter + bilinear warp) and the detector's resize, pixel for pixel."""
    from lgmpose.data.crops import box_to_crop, crop_image, crop_matrix
    from lgmpose.defaults import BOX_PADDING

    driver = camera_browser
    driver.get(f"{server_url}/?kpt_thr=0")
    wait_ready(driver)
    image = cv2.imread(str(ASSETS / "astronaut.jpg"))
    box = [120.0, 40.0, 150.0, 420.0]                  # tall: the crop shrinks the picture
    center, scale = box_to_crop(np.array(box, np.float32), (256, 192))
    expected = crop_image(image, crop_matrix(center, scale, (256, 192), udp=True), (256, 192))
    resized = cv2.resize(image, (416, 416 * image.shape[0] // image.shape[1]))
    got = run_async(driver, """
        const base = new URL('.', location.href);
        const g = await import(new URL('static/inpage/geometry.js', base));
        const im = await import(new URL('static/inpage/imaging.js', base));
        const blob = %s;
        const bmp = await createImageBitmap(blob, {colorSpaceConversion: 'none'});
        const c = new OffscreenCanvas(bmp.width, bmp.height).getContext('2d');
        c.drawImage(bmp, 0, 0);
        const img = c.getImageData(0, 0, bmp.width, bmp.height);
        const crop = g.boxToCrop(arguments[1], [256, 192], arguments[4]);
        const m = g.cropMatrix(crop.center, crop.scale, [256, 192], true);
        const out = im.cropImage(img, m, 256, 192);
        const small = im.resizeLinear(img, arguments[2], arguments[3]);
        const b64 = (a) => btoa(Array.from(a, (v) => String.fromCharCode(v)).join(''));
        return [b64(out.data), b64(small.data)];""" % PNG_BLOB, png_base64(image), box, resized.shape[1],
                    resized.shape[0], BOX_PADDING)
    crop = np.frombuffer(base64.b64decode(got[0]), np.uint8).reshape(256, 192, 4)[..., :3]
    small = np.frombuffer(base64.b64decode(got[1]), np.uint8).reshape(*resized.shape[:2], 4)
    diff = np.abs(crop[..., ::-1].astype(int) - expected)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.002, (diff.max(), (diff > 0).mean())
    assert np.array_equal(small[..., 2::-1], resized)


def test_camera_in_the_browser_sends_nothing(server_url, service, camera_browser):
    driver = camera_browser
    before = service.requests
    driver.get(f"{server_url}/?camera=1&kpt_thr=0&det_every=2")
    state = wait_state(driver, lambda s: s["mode"] == "camera" and s["frames"] >= 6)
    assert state["error"] is None
    assert state["last"]["image"]["format"] == "page"
    _check_drawing(state)
    history = driver.execute_script("return window.lgmpose.history")
    assert all(h["run"] == "browser" for h in history)
    detected = [h["timings"]["det_run"] > 0 for h in history]
    assert any(detected) and not all(detected)           # detection every 2nd frame
    for key in ("detect", "pose", "track", "crop", "pose_run", "decode"):
        assert all(key in h["timings"] for h in history), key
    ids = [p["track_id"] for p in state["last"]["people"]]
    assert len(set(ids)) == len(ids) and max(ids) < 10  # the same people keep their ids
    assert "fps" not in state["fps_text"] and state["fps"] > 0
    assert service.requests == before                    # no POST /v1/pose


@contextlib.contextmanager
def file_server(directory: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_static_site_runs_single_threaded(tmp_path, camera_browser):
    from lgmpose.serve.inpage import write_static_site

    site = write_static_site(tmp_path / "site")
    driver = camera_browser
    with file_server(site) as url:
        driver.get(f"{url}/index.html?camera=1&kpt_thr=0")
        state = wait_state(driver, lambda s: s["mode"] == "camera" and s["frames"] >= 3)
        _check_drawing(state)
        runtime = driver.execute_script("return window.lgmpose.runtime")
        assert runtime["isolated"] is False and runtime["threads"] == 1
        text = driver.execute_script("return document.getElementById('runtime').textContent")
        assert "single-threaded" in text
        assert driver.execute_script("return document.getElementById('mode').value") == "browser"
