"""`lgmpose serve`: the HTTP API (through Starlette's TestClient and a real uvicorn in a thread),
every kind of bad request answered by one JSON 4xx line while the service keeps serving, the
image checks, the command line and the load-test client."""
from __future__ import annotations

import http.client
import json
import socket
import struct
import subprocess
import sys
import threading
import urllib.parse

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("python_multipart", reason="python-multipart not installed")

from fastapi.testclient import TestClient  # noqa: E402

from inference_fakes import bright_spot_pose_model, spot_image  # noqa: E402
from lgmpose.cli import main  # noqa: E402
from lgmpose.data.metainfo import load_metainfo  # noqa: E402
from lgmpose.defaults import KPT_THR  # noqa: E402
from lgmpose.inference.estimator import PoseEstimator, bundled_weights  # noqa: E402
from lgmpose.serve.app import create_app, serve_in_thread  # noqa: E402
from lgmpose.serve.images import ImageError, decode_image, probe_image  # noqa: E402
from lgmpose.serve.service import PoseService, ServeConfig  # noqa: E402

SPOT = (200, 80)


def _jpeg(image, **params) -> bytes:
    flags = []
    for key, value in params.items():
        flags += [getattr(cv2, f"IMWRITE_JPEG_{key.upper()}"), value]
    ok, data = cv2.imencode(".jpg", image, flags)
    assert ok
    return data.tobytes()


def _encode(image, ext: str) -> bytes:
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


@pytest.fixture(scope="module")
def spot_model(tmp_path_factory):
    return str(bright_spot_pose_model(tmp_path_factory.mktemp("m") / "spot.onnx"))


@pytest.fixture(scope="module")
def service(spot_model):
    config = ServeConfig(weights=spot_model, detector="whole_image", threads=1,
                         max_bytes=2 * 1024 * 1024, max_pixels=4_000_000, max_boxes=5)
    return PoseService(config)


@pytest.fixture(scope="module")
def client(service):
    with TestClient(create_app(service=service)) as c:
        yield c


@pytest.fixture(scope="module")
def spot_jpeg():
    return _jpeg(spot_image(spot=SPOT))


def _post(client, data, content_type="image/jpeg", **kwargs):
    return client.post("/v1/pose", content=data, headers={"Content-Type": content_type}, **kwargs)


def _assert_still_serving(client, spot_jpeg):
    assert client.get("/v1/health").json()["status"] == "ok"
    r = _post(client, spot_jpeg)
    assert r.status_code == 200 and len(r.json()["people"]) == 1


# -- what the service answers ---------------------------------------------------------------------
def test_health_and_model(client):
    health = client.get("/v1/health").json()
    assert health["status"] == "ok" and health["model"] == "spot"
    model = client.get("/v1/model").json()
    coco = load_metainfo("coco")
    assert model["keypoint_names"] == list(coco.keypoint_names)
    assert model["skeleton"] == [list(link) for link in coco.skeleton]
    assert model["keypoint_colors"] == [list(c) for c in coco.keypoint_colors]
    assert model["skeleton_colors"] == [list(c) for c in coco.skeleton_colors]
    assert model["input_size"] == [256, 192] and model["num_keypoints"] == 17
    assert model["limits"] == {"max_bytes": 2 * 1024 * 1024, "max_pixels": 4_000_000,
                               "max_boxes": 5, "max_queue": 32}
    assert "/" not in model["weights"]          # the file name, never a server path
    assert model["kpt_thr"] == KPT_THR          # the page's default drawing threshold


def test_pose_raw_jpeg(client, spot_jpeg):
    r = _post(client, spot_jpeg, params={"image_id": "42"})
    assert r.status_code == 200
    answer = r.json()
    assert answer["image"] == {"width": 320, "height": 240, "format": "JPEG"}
    assert answer["boxes_from"] == "detector"
    (person,) = answer["people"]
    assert set(person) == {"image_id", "category_id", "keypoints", "score", "bbox", "box_score"}
    assert person["image_id"] == 42 and person["category_id"] == 1
    assert person["bbox"] == [0.0, 0.0, 320.0, 240.0]            # whole_image detector
    kpts = np.array(person["keypoints"]).reshape(17, 3)
    assert np.abs(kpts[:, :2] - SPOT).max() < 6                   # the bright spot
    assert set(answer["timings_ms"]) == {"read", "decode", "queue", "detect", "pose", "total"}
    assert all(v >= 0 for v in answer["timings_ms"].values())
    assert "pose;dur=" in r.headers["server-timing"]


@pytest.mark.parametrize("ext, content_type", [(".png", "image/png"), (".webp", "image/webp"),
                                               (".bmp", "image/bmp"),
                                               (".jpg", "application/octet-stream")])
def test_pose_other_formats(client, ext, content_type):
    data = _encode(spot_image(spot=SPOT), ext)
    r = _post(client, data, content_type)
    assert r.status_code == 200, r.text
    kpts = np.array(r.json()["people"][0]["keypoints"]).reshape(17, 3)
    assert np.abs(kpts[:, :2] - SPOT).max() < 6


def test_pose_multipart_with_boxes(client, spot_jpeg):
    boxes = [[150, 30, 100, 100], [0, 0, 60, 60]]
    r = client.post("/v1/pose", files={"image": ("a.jpg", spot_jpeg, "image/jpeg")},
                    data={"boxes": json.dumps(boxes)})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["boxes_from"] == "request"
    assert [p["bbox"] for p in answer["people"]] == boxes
    assert [p["box_score"] for p in answer["people"]] == [1.0, 1.0]
    kpts = np.array(answer["people"][0]["keypoints"]).reshape(17, 3)
    assert np.abs(kpts[:, :2] - SPOT).max() < 6


def test_pose_boxes_in_query(client, spot_jpeg):
    r = _post(client, spot_jpeg, params={"boxes": "[150, 30, 100, 100]"})
    assert r.status_code == 200
    assert [p["bbox"] for p in r.json()["people"]] == [[150, 30, 100, 100]]
    r = _post(client, spot_jpeg, params={"boxes": "[]"})      # no boxes: nobody, no detector
    assert r.status_code == 200 and r.json()["people"] == []


def test_same_people_as_predict(tmp_path):
    """The bundled model and detector over HTTP give predict's results (Person.to_coco)."""
    if not bundled_weights().is_file():
        pytest.skip("bundled model missing")
    from lgmpose.inference.media import read_image

    picture = bundled_weights().parents[1] / "assets" / "basketball1.jpg"
    est = PoseEstimator(threads=1)
    expected = [p.to_coco(7) for p in est(read_image(picture))]
    with TestClient(create_app(service=PoseService(ServeConfig(threads=1), estimator=est))) as c:
        answer = _post(c, picture.read_bytes(), params={"image_id": "7"}).json()
    assert answer["model"] == "lgm_pose" and answer["boxes_from"] == "detector"
    got = [{k: v for k, v in p.items() if k != "box_score"} for p in answer["people"]]
    assert got == expected and len(got) >= 1


# -- bad requests: one JSON 4xx message each, and the service keeps serving -----------------------
def _truncated_png():
    data = _encode(spot_image(), ".png")
    return data[:len(data) - 20]


def _huge_png():
    """A small PNG whose header claims 30000 x 30000 pixels (a decompression bomb)."""
    data = bytearray(_encode(spot_image(), ".png"))
    data[16:24] = struct.pack(">II", 30000, 30000)
    return bytes(data)


BAD = {
    "not an image": (b"hello, this is text" * 10, "image/jpeg", {}, 400, "not an image"),
    "html": (b"<html><body>no</body></html>", "application/octet-stream", {}, 400,
             "not an image"),
    "gif": (b"GIF89a" + bytes(100), "image/gif", {}, 400, "not an image"),
    "truncated JPEG": (None, "image/jpeg", {}, 400, "truncated"),
    "truncated PNG": (_truncated_png(), "image/png", {}, 400, "truncated"),
    "huge picture": (_huge_png(), "image/png", {}, 413, "megapixels"),
    "huge body": (b"\xff\xd8\xff" + bytes(2_200_000), "image/jpeg", {}, 413, "limit of 2 MB"),
    "wrong content type": (None, "application/json", {}, 415, "Content-Type"),
    "text content type": (None, "text/plain", {}, 415, "Content-Type"),
    "form content type": (None, "application/x-www-form-urlencoded", {}, 415, "Content-Type"),
    "empty body": (b"", "image/jpeg", {}, 400, "empty"),
    "boxes not JSON": (None, "image/jpeg", {"boxes": "[[1, 2"}, 400, "not valid JSON"),
    "boxes not a list": (None, "image/jpeg", {"boxes": '{"x": 1}'}, 400, "JSON list"),
    "boxes of 3 numbers": (None, "image/jpeg", {"boxes": "[[1, 2, 3]]"}, 400, "4 numbers"),
    "boxes of strings": (None, "image/jpeg", {"boxes": '[["a", 2, 3, 4]]'}, 400, "4 numbers"),
    "box of zero area": (None, "image/jpeg", {"boxes": "[[1, 2, 0, 4]]"}, 400, "zero area"),
    "box outside": (None, "image/jpeg", {"boxes": "[[900, 2, 30, 40]]"}, 400, "outside"),
    "box with NaN": (None, "image/jpeg", {"boxes": "[[NaN, 2, 30, 40]]"}, 400, "NaN"),
    "too many boxes": (None, "image/jpeg", {"boxes": json.dumps([[0, 0, 9, 9]] * 6)}, 400,
                       "limit of 5"),
    "image_id too long": (None, "image/jpeg", {"image_id": "x" * 100}, 422, "image_id"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_request(client, spot_jpeg, case):
    data, content_type, params, status, words = BAD[case]
    if data is None:
        data = spot_jpeg[:len(spot_jpeg) // 2] if case == "truncated JPEG" else spot_jpeg
    r = _post(client, data, content_type, params=params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail
    assert words in detail
    _assert_still_serving(client, spot_jpeg)


def test_bad_multipart(client, spot_jpeg):
    r = client.post("/v1/pose", data={"boxes": "[]"}, files={"other": ("x.txt", b"", "text/plain")})
    assert r.status_code == 400 and "image" in r.json()["detail"]
    r = client.post("/v1/pose", files={"image": ("a.jpg", b"", "image/jpeg")})
    assert r.status_code == 400 and "empty" in r.json()["detail"]
    r = _post(client, b"--xyz\r\nthis is not a form", "multipart/form-data; boundary=xyz")
    assert r.status_code == 400, r.text
    r = client.post("/v1/pose", files={"image": ("a.jpg", spot_jpeg[:300], "image/jpeg")})
    assert r.status_code == 400 and "truncated" in r.json()["detail"]
    r = client.post("/v1/pose", files={"image": ("a.jpg", spot_jpeg, "image/jpeg")},
                    data={"boxes": "[[1, 2, 3]]"})
    assert r.status_code == 400 and "4 numbers" in r.json()["detail"]
    _assert_still_serving(client, spot_jpeg)


def test_unknown_route_and_method(client):
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    r = client.get("/v1/pose")
    assert r.status_code == 405 and isinstance(r.json()["detail"], str)


def test_unexpected_error_is_json_500_without_traceback(service, spot_jpeg, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "estimate", broken)
    with TestClient(create_app(service=service), raise_server_exceptions=False) as c:
        r = _post(c, spot_jpeg)
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error (RuntimeError); the server's log has the "
                                  "details"}


# -- page, static files, OpenAPI ------------------------------------------------------------------
def test_page_and_openapi(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "static/app.js" in page.text and "<canvas" in page.text
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/v1/pose", "/v1/health", "/v1/model"} <= set(spec["paths"])
    body = spec["paths"]["/v1/pose"]["post"]["requestBody"]["content"]
    assert {"image/jpeg", "multipart/form-data", "application/octet-stream"} <= set(body)
    assert {"400", "413", "415"} <= set(spec["paths"]["/v1/pose"]["post"]["responses"])
    assert client.get("/docs").status_code == 200


# -- image checks -------------------------------------------------------------------------------
@pytest.mark.parametrize("params", [{}, {"progressive": 1}, {"rst_interval": 2}])
def test_jpeg_structure(params):
    image = np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8)
    data = _jpeg(image, **params)
    assert probe_image(data).width == 160 and probe_image(data).height == 120
    decoded, header = decode_image(data + b"\x00\x00trailing")   # bytes after the end: fine
    assert decoded.shape == (120, 160, 3) and header.format == "JPEG"
    for cut in (len(data) // 10, len(data) // 2, len(data) - 3, len(data) - 1):
        with pytest.raises(ImageError, match="truncated"):
            probe_image(data[:cut])


def test_image_limits():
    data = _encode(np.zeros((100, 300, 3), np.uint8), ".png")
    assert probe_image(data, max_pixels=30000).width == 300
    with pytest.raises(ImageError, match="300x100") as info:
        probe_image(data, max_pixels=29999)
    assert info.value.status == 413
    for ext in (".webp", ".bmp"):
        header = probe_image(_encode(np.zeros((50, 70, 3), np.uint8), ext))
        assert (header.width, header.height) == (70, 50)


# -- a real server: concurrency, streamed bodies, the load-test client ---------------------------
def test_real_server_concurrent_requests_and_load_client(service, spot_jpeg):
    from lgmpose.serve.loadtest import format_table, run_load

    with serve_in_thread(create_app(service=service)) as url:
        host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
        # A chunked body (no Content-Length) over the limit is refused while it streams.
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.request("POST", "/v1/pose", body=iter([b"\xff\xd8\xff" + bytes(1 << 20)] * 3),
                     headers={"Content-Type": "image/jpeg"}, encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 413 and "limit" in json.loads(response.read())["detail"]
        conn.close()
        result = run_load(url, spot_jpeg, requests=12, concurrency=3, warmup=2)
        assert result["errors"] == 0 and result["requests"] == 12
        assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
        assert result["throughput_rps"] > 0
        assert "p99 ms" in format_table([result])
        result = run_load(url, spot_jpeg, requests=4, concurrency=2, warmup=0,
                          boxes="[[150, 30, 100, 100]]")
        assert result["errors"] == 0 and result["detector"] is False
        statuses = []

        def one():
            c = http.client.HTTPConnection(host, port, timeout=30)
            c.request("POST", "/v1/pose", body=spot_jpeg, headers={"Content-Type": "image/jpeg"})
            statuses.append(c.getresponse().status)
            c.close()

        threads = [threading.Thread(target=one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert statuses == [200] * 4


def test_load_test_only_on_this_machine(spot_jpeg):
    from lgmpose.errors import LgmposeError
    from lgmpose.serve.loadtest import run_load

    for url in ("http://example.com:8000", "http://10.0.0.1:8000", "https://127.0.0.1:8000"):
        with pytest.raises(LgmposeError, match="this machine"):
            run_load(url, spot_jpeg, requests=1)


# -- the command line ---------------------------------------------------------------------------
def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["serve", "--weights", str(tmp_path / "missing.onnx"), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lgmpose serve: error:") and "missing.onnx" in err and "\n" not in err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    assert "cannot listen" in capsys.readouterr().err
    assert main(["serve", "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err
    assert main(["serve", "--max-mb", "0", "--port", "0"]) == 2
    assert "--max-mb" in capsys.readouterr().err


def test_cli_without_the_serve_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "fastapi", None)     # import fastapi -> ImportError
    assert main(["serve", "--port", "0"]) == 2
    assert "pip install 'lgmpose[serve]'" in capsys.readouterr().err


def test_command_import_is_cheap_and_serving_needs_no_torch(spot_model, spot_jpeg, tmp_path):
    """Building the parser imports no web framework; serving the ONNX path imports no torch."""
    image = tmp_path / "spot.jpg"
    image.write_bytes(spot_jpeg)
    code = f"""
import sys
from lgmpose.cli import build_parser
build_parser()
import lgmpose.serve.loadtest
early = [m for m in ("fastapi", "starlette", "uvicorn", "torch") if m in sys.modules]
from fastapi.testclient import TestClient
from lgmpose.serve.app import create_app
from lgmpose.serve.service import ServeConfig
app = create_app(ServeConfig(weights={spot_model!r}, detector="whole_image", threads=1))
with TestClient(app) as client:
    r = client.post("/v1/pose", content=open({str(image)!r}, "rb").read(),
                    headers={{"Content-Type": "image/jpeg"}})
    assert r.status_code == 200 and len(r.json()["people"]) == 1, r.text
late = [m for m in sys.modules if m == "torch" or m.startswith("torch.")]
print(early, late)
sys.exit(1 if early or late else 0)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
