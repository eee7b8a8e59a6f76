"""Measure the live page in headless Chromium with a fake camera: frames per second and
milliseconds per stage when the models run in the page (detector every frame, every 3rd frame)
next to the server mode, on the same clip, and the number of ``POST /v1/pose`` lines in the
server's access log during each run (zero expected in the page's mode).

    python tests/measure_page_modes.py --video ../shared/data/media/vtest.avi --seconds 20 \\
        --json-out page_modes.json --screenshot docs/serve_inpage.png

Not a test (pytest does not collect it): it takes minutes and its figures depend on the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_serve_browser import chromium, write_y4m  # noqa: E402

STAGES = ("detect", "det_prep", "det_run", "det_post", "pose", "crop", "pose_run", "decode",
          "track", "total", "queue")


def clip(video: Path, out: Path, frames: int) -> Path:
    capture = cv2.VideoCapture(str(video))
    images = []
    while len(images) < frames:
        ok, frame = capture.read()
        if not ok:
            break
        images.append(frame)
    capture.release()
    if not images:
        raise SystemExit(f"cannot read {video}")
    return write_y4m(out, images, fps=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def summary(history: list[dict]) -> dict:
    if not history:
        return {"frames": 0}
    times = [h["at"] for h in history]
    out = {"frames": len(history),
           "fps": (len(times) - 1) * 1000 / (times[-1] - times[0]) if len(times) > 1 else 0.0,
           "frame_ms_median": statistics.median(h["ms"] for h in history),
           "people_mean": statistics.fmean(h["people"] for h in history)}
    for key in STAGES:
        values = [h["timings"][key] for h in history if key in h["timings"]]
        if values:
            out[f"{key}_ms_mean"] = statistics.fmean(values)
    return out


def script(driver, code: str):
    """execute_script, retried: a renderer busy with inference can miss selenium's deadline."""
    from selenium.common.exceptions import TimeoutException

    for attempt in range(10):
        try:
            return driver.execute_script(code)
        except TimeoutException:
            if attempt == 9:
                raise
            time.sleep(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", required=True)
    parser.add_argument("--frames", type=int, default=100, help="frames of the clip")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per run")
    parser.add_argument("--json-out")
    parser.add_argument("--screenshot", help="PNG of the page in its in-browser mode")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lgmpose-page-"))
    y4m = clip(Path(args.video), work / "clip.y4m", args.frames)
    port = free_port()
    log_path = work / "server.log"
    log = open(log_path, "w")
    server = subprocess.Popen([sys.executable, "-m", "lgmpose", "serve", "--port", str(port),
                               "--threads", "1"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    results = {"load_before": os.getloadavg(), "cpus": os.cpu_count(), "runs": []}
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/v1/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with chromium(y4m, size=(1000, 900)) as driver:
            driver.set_script_timeout(120)
            driver.set_page_load_timeout(180)
            for mode, every in (("browser", 1), ("browser", 3), ("server", 1)):
                print(f"{time.strftime('%X')} {mode} det_every={every}", flush=True)
                driver.get(f"{url}/?camera=1&kpt_thr=0&mode={mode}&det_every={every}")
                deadline = time.time() + 120
                while time.time() < deadline and (script(
                        driver, "return window.lgmpose && window.lgmpose.frames") or 0) < 5:
                    time.sleep(0.5)
                log.flush()
                start = log_path.stat().st_size
                script(driver, "window.lgmpose.history = []")
                time.sleep(args.seconds)
                history = script(driver, "return window.lgmpose.history")
                log.flush()
                with open(log_path) as f:
                    f.seek(start)
                    posts = sum("POST /v1/pose" in line for line in f)
                run = {"mode": mode, "det_every": every, "pose_requests_in_log": posts,
                       **summary(history)}
                if mode == "browser":
                    run["runtime"] = script(driver, "return window.lgmpose.runtime")
                    if every == 1 and args.screenshot:
                        script(driver, "return 1")
                        driver.save_screenshot(args.screenshot)
                results["runs"].append(run)
                print(json.dumps(run), flush=True)
                print(f"{time.strftime('%X')} {mode} det_every={every} done", flush=True)
                driver.get("about:blank")
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
    results["load_after"] = os.getloadavg()
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: results[k] for k in ("load_before", "load_after", "cpus")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
