"""The live page of `lgmpose serve` in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`, driven by selenium) with a fake camera fed from a video file.

The camera shows a bundled picture turned into a short .y4m clip (no shared data needed); a second
test uploads a picture; a third feeds `vtest.avi` (shared data) and saves a screenshot. The checks
are about drawing what the service returned (people, keypoints above the threshold, links, the
model's keypoint colours on the canvas), not about pose accuracy. Everything skips cleanly where
Chromium, its driver or selenium is absent.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("python_multipart", reason="python-multipart not installed")
webdriver = pytest.importorskip("selenium.webdriver")

from lgmpose.inference.estimator import bundled_weights  # noqa: E402

CHROMIUM = next(filter(None, (shutil.which(n) for n in ("chromium", "chromium-browser"))), None)
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/lib/chromium/chromedriver" if os.path.exists("/usr/lib/chromium/chromedriver") else None)
ASSETS = Path(__file__).resolve().parents[1] / "lgmpose" / "assets"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Chromium and its driver (apt-get install chromium chromium-driver)")

STATE_JS = """
const s = window.lgmpose;
if (!s || !s.last) return null;
const canvas = document.getElementById('view');
const ctx = canvas.getContext('2d');
const pixels = s.drawn.points.map((p) => {
  const x = Math.round(p.x), y = Math.round(p.y);
  if (x < 0 || y < 0 || x >= canvas.width || y >= canvas.height) return null;
  return Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3));
});
return {mode: s.mode, frames: s.frames, fps: s.fps, error: s.error, last: s.last,
        drawn: {people: s.drawn.people, keypoints: s.drawn.keypoints, links: s.drawn.links},
        points: s.drawn.points, pixels: pixels, canvas: [canvas.width, canvas.height],
        fps_text: document.getElementById('fps').textContent,
        stats: Object.assign({}, document.getElementById('stats').dataset),
        colors: s.model.keypoint_colors, skeleton: s.model.skeleton.length};
"""


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """BGR frames -> a YUV4MPEG2 (4:2:0) clip, the format Chromium's fake camera reads."""
    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


@pytest.fixture(scope="module")
def server_url():
    if not bundled_weights().is_file():
        pytest.skip("bundled pose model missing")
    from lgmpose.serve.app import create_app, serve_in_thread
    from lgmpose.serve.service import ServeConfig

    with serve_in_thread(create_app(ServeConfig(threads=1))) as url:
        yield url


@contextlib.contextmanager
def chromium(video: Path, size=(1200, 900)):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    with tempfile.TemporaryDirectory(prefix="lgmpose-chromium-") as profile:
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                     f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
                     "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                     f"--use-file-for-fake-video-capture={video.resolve()}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        try:
            driver.set_page_load_timeout(30)
            driver.set_script_timeout(30)
            yield driver
        finally:
            driver.quit()


def _wait_for(driver, condition, timeout: float = 40.0):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(
            lambda d: (lambda s: s if s and condition(s) else None)(d.execute_script(STATE_JS)))
    except Exception:
        logs = driver.execute_script("return window.lgmpose && window.lgmpose.error")
        raise AssertionError(f"the page did not get there; its message: {logs}") from None


def _check_drawing(state, min_people: int = 1) -> None:
    """The page drew exactly what the service returned (threshold 0: every keypoint), in the
    model's keypoint colours."""
    people = state["last"]["people"]
    assert len(people) >= min_people
    assert state["drawn"]["people"] == len(people)
    assert state["drawn"]["keypoints"] == 17 * len(people)
    assert state["drawn"]["links"] == state["skeleton"] * len(people)
    assert state["stats"]["keypoints"] == str(state["drawn"]["keypoints"])
    assert state["canvas"] == [state["last"]["image"]["width"], state["last"]["image"]["height"]]
    drawn = np.array([[p["x"], p["y"]] for p in state["points"]]).reshape(-1, 17, 2)
    sent = np.array([p["keypoints"] for p in people]).reshape(-1, 17, 3)[..., :2]
    assert np.allclose(drawn, sent)
    colors = np.array(state["colors"])
    inside = [px for px in state["pixels"] if px is not None]
    matching = [px for px in inside if np.abs(colors - px).max(axis=1).min() <= 40]
    if inside:  # later people's links may cover some dots: most, not all, keep their colour
        assert len(matching) >= 0.5 * len(inside), (len(matching), len(inside))


@pytest.fixture(scope="module")
def asset_browser(tmp_path_factory):
    picture = cv2.imread(str(ASSETS / "basketball1.jpg"))
    frames = [np.roll(picture, 4 * i, axis=1) for i in range(8)]      # a slowly panning clip
    video = write_y4m(tmp_path_factory.mktemp("video") / "basketball.y4m", frames)
    with chromium(video) as driver:
        yield driver


def test_camera_frames_get_skeletons(server_url, asset_browser):
    driver = asset_browser
    driver.get(f"{server_url}/?camera=1&kpt_thr=0&mode=server")
    state = _wait_for(driver, lambda s: s["mode"] == "camera" and s["frames"] >= 3)
    assert state["error"] is None
    assert state["canvas"] == [640, 480]                  # the fake camera's frames
    assert state["fps"] > 0 and state["fps_text"] not in ("", "–")
    assert state["last"]["image"]["format"] == "JPEG"
    _check_drawing(state)


def test_uploaded_picture_gets_skeletons(server_url, asset_browser):
    from selenium.webdriver.common.by import By

    driver = asset_browser
    driver.get(f"{server_url}/?kpt_thr=0&mode=server")
    _wait_for_ready(driver)
    driver.find_element(By.ID, "file").send_keys(str(ASSETS / "messi5.jpg"))
    state = _wait_for(driver, lambda s: s["mode"] == "picture" and s["frames"] >= 1)
    assert state["last"]["image"] == {"width": 548, "height": 342, "format": "JPEG"}
    _check_drawing(state)
    # Raising the threshold redraws without asking the server again: fewer keypoints drawn.
    driver.execute_script("const t = document.getElementById('thr'); t.value = '1';"
                          "t.dispatchEvent(new Event('input'));")
    state = driver.execute_script(STATE_JS)
    assert state["frames"] == 1
    scores = np.array([p["keypoints"] for p in state["last"]["people"]]).reshape(-1, 17, 3)[..., 2]
    assert state["drawn"]["keypoints"] == int((scores >= 1).sum())


def _wait_for_ready(driver, timeout: float = 30.0):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.execute_script("return !!(window.lgmpose && window.lgmpose.ready)"))


def test_vtest_camera_screenshot(server_url, shared_data, tmp_path):
    """vtest.avi through the fake camera; the screenshot is saved for a person to look at
    (also to $LGMPOSE_SCREENSHOT_DIR when set)."""
    source = shared_data / "media" / "vtest.avi"
    if not source.is_file():
        pytest.skip(f"{source} not available")
    capture = cv2.VideoCapture(str(source))
    frames = []
    while len(frames) < 20:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert frames, f"cannot read {source}"
    video = write_y4m(tmp_path / "vtest.y4m", frames)
    with chromium(video, size=(1000, 860)) as driver:
        driver.get(f"{server_url}/?camera=1&kpt_thr=0&mode=server")
        state = _wait_for(driver, lambda s: s["mode"] == "camera" and s["frames"] >= 4)
        width, height = state["canvas"]         # 768x576, scaled to the page's 640x480 ask
        assert width * 3 == height * 4
        _check_drawing(state)
        shot = tmp_path / "serve_vtest.png"
        driver.save_screenshot(str(shot))
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[0] > 500 and image.std() > 10
    target = os.environ.get("LGMPOSE_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / shot.name)
