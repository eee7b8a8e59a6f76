"""The in-browser mode's server side, without a browser: the model description and files the
page fetches, the cross-origin isolation headers, the static-site writer and its command line."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("python_multipart", reason="python-multipart not installed")

from fastapi.testclient import TestClient  # noqa: E402

from lgmpose.defaults import LOST_RATIO, TRACK_THR  # noqa: E402
from lgmpose.errors import LgmposeError  # noqa: E402
from lgmpose.inference.estimator import bundled_weights  # noqa: E402
from lgmpose.serve.app import STATIC_DIR, create_app  # noqa: E402
from lgmpose.serve.inpage import ISOLATION_HEADERS, write_static_site  # noqa: E402
from lgmpose.serve.service import ServeConfig  # noqa: E402

pytestmark = pytest.mark.skipif(not bundled_weights().is_file(), reason="bundled model missing")
RUNTIME = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm",
           "LICENSE")


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(ServeConfig(threads=1))) as c:
        yield c


def test_model_description_carries_the_pipeline(client):
    r = client.get("/models/model.json")
    assert r.status_code == 200
    config = r.json()
    assert config["in_browser"] is True and config["server"] is True
    pose = config["pose"]
    assert pose["input_size"] == [256, 192] and pose["num_keypoints"] == 17
    assert pose["codec"] == {"name": "udp", "sigma": 2.0, "refine": "dark"}
    assert pose["mean"] == pytest.approx([123.675, 116.28, 103.53])
    assert pose["box_padding"] == 1.25
    assert len(pose["sigmas"]) == 17
    # the in-page tracker follows people as lgmpose.video does
    assert config["video"] == {"track_thr": TRACK_THR, "lost_ratio": LOST_RATIO}
    assert config["detector"]["name"] == "nanodet" and config["detector"]["det_thr"] == 0.3
    # The drawing fields are /v1/model's.
    model = client.get("/v1/model").json()
    for key in ("keypoint_colors", "skeleton", "skeleton_colors", "kpt_thr", "keypoint_names"):
        assert config[key] == model[key]


def test_models_and_runtime_are_served_with_isolation_headers(client):
    config = client.get("/models/model.json").json()
    for part in ("pose", "detector"):
        r = client.get(f"/models/{config[part]['file']}")
        assert r.status_code == 200 and len(r.content) == config[part]["bytes"]
        assert r.content[:2] == b"\x08\x07" or len(r.content) > 1000     # an ONNX protobuf
    for name in RUNTIME:
        r = client.get(f"/static/ort/{name}")
        assert r.status_code == 200, name
    assert client.get("/static/ort/ort.wasm.min.mjs").headers["content-type"].startswith(
        "text/javascript")
    assert client.get("/static/ort/ort-wasm-simd-threaded.wasm").headers[
        "content-type"] == "application/wasm"
    page = client.get("/")
    for key, value in ISOLATION_HEADERS.items():
        assert page.headers[key] == value
    assert 'type="module"' in page.text and 'value="browser"' in page.text


def test_without_isolation_no_headers():
    with TestClient(create_app(ServeConfig(threads=1), isolate=False)) as c:
        page = c.get("/")
        assert "Cross-Origin-Embedder-Policy" not in page.headers
        assert c.get("/models/model.json").status_code == 200


def test_vendored_runtime_has_its_licence():
    ort = STATIC_DIR / "ort"
    assert (ort / "LICENSE").read_text().startswith("MIT License")
    assert "onnxruntime-web" in (ort / "README.md").read_text()
    assert (ort / "ort-wasm-simd-threaded.wasm").stat().st_size > 5_000_000


def test_static_site(tmp_path):
    out = write_static_site(tmp_path / "site")
    config = json.loads((out / "models" / "model.json").read_text())
    assert config["server"] is False and config["in_browser"] is True
    for path in ("index.html", "static/app.js", "static/inpage/estimator.js", "_headers",
                 *(f"static/ort/{n}" for n in RUNTIME), "models/pose.onnx",
                 "models/detector.onnx"):
        assert (out / path).is_file(), path
    assert (out / "models" / "pose.onnx").read_bytes() == bundled_weights().read_bytes()
    assert "Cross-Origin-Embedder-Policy: require-corp" in (out / "_headers").read_text()
    with pytest.raises(LgmposeError, match="not an empty folder"):
        write_static_site(out)


def test_static_site_command(tmp_path, capsys):
    from lgmpose.cli import main

    assert main(["serve", "--static-site", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / "models" / "model.json").is_file()
    assert main(["serve", "--static-site", str(tmp_path / "s")]) == 2
    assert "not an empty folder" in capsys.readouterr().err
