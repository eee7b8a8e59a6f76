"""Fuzzing every parser of user input (Hypothesis): the boxes file, configs and --set overrides,
pseudo-label files for --remerge, COCO annotation files, image bytes (files and request bodies),
and the service's HTTP bodies and multipart forms.

The property is the same everywhere: the call succeeds with valid output or raises
``LgmposeError`` with a message (the service: a JSON 4xx answer); never another exception, never a
hang. The default run is bounded (``max_examples`` per test, a deadline per example);
``LGMPOSE_FUZZ=long`` runs the long profile (docs/reliability.md has the figures)."""
from __future__ import annotations

import gzip
import json
import os
import struct
import tempfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lgmpose.errors import LgmposeError  # noqa: E402

pytestmark = pytest.mark.fuzz

settings.register_profile("default", max_examples=20, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.register_profile("long", max_examples=2000, deadline=5000, database=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.load_profile("long" if os.environ.get("LGMPOSE_FUZZ") == "long" else "default")

# JSON values, nested, with the numbers that break naive code (nan, inf, huge, negative).
# allow_subnormal=False: a library built with fast-math (loaded by other tests in the same process)
# flushes subnormal floats to zero, which Hypothesis refuses to generate under
numbers = st.one_of(st.integers(-10**12, 10**12),
                    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False))
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=12))
json_values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=6), st.dictionaries(st.text(max_size=8), children, max_size=6)),
    max_leaves=30)
box = st.lists(numbers, min_size=0, max_size=6)


def _write(data: bytes | str, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(suffix=suffix)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    return Path(name)


def _dumps(value) -> str:
    return json.dumps(value, allow_nan=True)


# -- the boxes file ----------------------------------------------------------------------------
@given(st.one_of(json_values, st.lists(box, max_size=4),
                 st.dictionaries(st.text(max_size=6), st.lists(box, max_size=3), max_size=4),
                 st.lists(st.fixed_dictionaries({"image_id": scalars, "bbox": box},
                                                optional={"score": scalars,
                                                          "category_id": scalars}), max_size=4)))
def test_boxes_file(value):
    from lgmpose.video.predict import load_boxes_file

    path = _write(_dumps(value), ".json")
    try:
        lookup = load_boxes_file(path)
    except LgmposeError as error:
        assert str(error)
        return
    finally:
        path.unlink()
    for args in (("a.jpg", 0, 0), ("1", 1, 1)):
        boxes = lookup(*args)
        assert isinstance(boxes, list)


@given(st.binary(max_size=200))
def test_boxes_file_bytes(data):
    from lgmpose.video.predict import load_boxes_file

    path = _write(data, ".json")
    try:
        load_boxes_file(path)
    except LgmposeError as error:
        assert str(error)
    finally:
        path.unlink()


# -- configs and --set overrides ----------------------------------------------------------------
keys = st.sampled_from(["model.name", "data.input_size", "data.heatmap_size", "train.epochs",
                        "train.batch_size", "train.lr", "codec.name", "data.aug.flip_prob",
                        "test.batch_size", "nothing.here", "train", ""])
override_values = st.one_of(st.text(max_size=10), st.sampled_from(
    ["[1, 2]", "[256, 192]", "nan", "-1", "0", "1e309", "{a: 1}", "[", "null", "true", "'x"]))


@given(st.lists(st.tuples(keys, override_values).map(lambda kv: f"{kv[0]}={kv[1]}")
                | st.text(max_size=12), max_size=3).map(
    lambda items: [i if isinstance(i, str) else i for i in items]))
def test_config_overrides(overrides):
    from lgmpose.engine.config import load_config

    try:
        cfg = load_config("coco_mini_256x192", overrides)
    except LgmposeError as error:
        assert str(error)
        return
    assert isinstance(cfg.model.name, str)


@given(st.one_of(json_values.map(_dumps), st.text(max_size=200)))
def test_config_file(text):
    from lgmpose.engine.config import load_config

    path = _write(text, ".yaml")
    try:
        load_config(path)
    except LgmposeError as error:
        assert str(error)
    finally:
        path.unlink()


# -- COCO annotation files and pseudo-label files ------------------------------------------------
triples = st.lists(numbers, min_size=0, max_size=54)
annotation = st.fixed_dictionaries(
    {"image_id": st.one_of(st.integers(0, 3), scalars), "bbox": box, "keypoints": triples},
    optional={"id": scalars, "num_keypoints": scalars, "iscrowd": scalars, "area": scalars,
              "category_id": scalars, "teacher_keypoints": triples, "keypoint_scores": triples})
image_entry = st.fixed_dictionaries(
    {"id": st.one_of(st.integers(0, 3), scalars)},
    optional={"file_name": st.text(max_size=8), "width": scalars, "height": scalars})
coco = st.one_of(
    json_values,
    st.fixed_dictionaries({"images": st.lists(image_entry, max_size=3),
                           "annotations": st.lists(annotation, max_size=3)},
                          optional={"categories": json_values}))


@given(coco, st.booleans())
def test_coco_annotation_file(data, gz):
    from lgmpose.data.coco import CocoKeypointDataset

    text = _dumps(data)
    path = _write(gzip.compress(text.encode()) if gz else text, ".json.gz" if gz else ".json")
    try:
        ds = CocoKeypointDataset(path, tempfile.gettempdir())
        len(ds)
    except LgmposeError as error:
        assert str(error)
    finally:
        path.unlink()


@given(coco)
def test_remerge_label_file(data):
    from lgmpose.cli import main

    path = _write(_dumps(data), ".json")
    out = Path(tempfile.mkdtemp()) / "out.json"
    try:
        code = main(["pseudo-label", "--remerge", str(path), "--out", str(out)])
        assert code in (0, 2)
    finally:
        path.unlink()


# -- image bytes ---------------------------------------------------------------------------------
def _png(width, height, depth=8, colour=2, payload=b"\0" * 16):
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(payload))
            + chunk(b"IEND", b""))


def _encoded_samples() -> list[bytes]:
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 255, (12, 9, 3), np.uint8)
    samples = [cv2.imencode(ext, colour)[1].tobytes() for ext in (".jpg", ".png", ".bmp", ".webp")]
    samples.append(cv2.imencode(".png", colour[..., 0])[1].tobytes())             # grey
    samples.append(cv2.imencode(".png", np.dstack([colour, colour[..., :1]]))[1].tobytes())  # alpha
    samples.append(cv2.imencode(".png", colour.astype(np.uint16) * 257)[1].tobytes())  # 16-bit
    samples.append(cv2.imencode(".jpg", np.zeros((1, 1, 3), np.uint8))[1].tobytes())   # 1x1
    samples.append(cv2.imencode(".tif", colour)[1].tobytes())
    # CMYK JPEG: Adobe marker and four components are beyond cv2.imencode; a declared 4-component
    # frame header over a 3-component body is enough to reach the decoder's CMYK path.
    jpeg = bytearray(samples[0])
    sof = jpeg.find(b"\xff\xc0")
    if sof > 0:
        jpeg[sof + 9] = 4
    samples.append(bytes(jpeg))
    samples.append(_png(100000, 100000))            # huge declared size
    samples.append(_png(0, 5))
    return samples


SAMPLES = _encoded_samples()


def _mutated(data: bytes, cut: int, flips: list[tuple[int, int]], magic: bytes | None) -> bytes:
    out = bytearray(data[:max(1, len(data) * cut // 100)] if cut < 100 else data)
    for position, value in flips:
        if out:
            out[position % len(out)] = value
    if magic is not None:
        out[:len(magic)] = magic
    return bytes(out)


image_bytes = st.one_of(
    st.binary(max_size=64),
    st.builds(_mutated, st.sampled_from(SAMPLES), st.integers(1, 100),
              st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
              st.none() | st.sampled_from([b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM",
                                           b"RIFF\0\0\0\0WEBP", b"GIF89a"])))


@given(image_bytes, st.sampled_from([".jpg", ".png", ".bmp", ".webp", ".tif"]))
def test_image_file_bytes(data, suffix):
    from lgmpose.inference.media import read_image

    path = _write(data, suffix)
    try:
        image = read_image(path, max_pixels=4_000_000)
    except LgmposeError as error:
        assert str(path) in str(error)
        return
    finally:
        path.unlink()
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


@given(image_bytes)
def test_request_image_bytes(data):
    from lgmpose.serve.images import ImageError, decode_image

    try:
        image, header = decode_image(data, max_pixels=4_000_000)
    except ImageError as error:
        assert str(error) and error.status in (400, 413)
        return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.size > 0


# -- the service's HTTP bodies and multipart forms -----------------------------------------------
@pytest.fixture(scope="module")
def client(tmp_path_factory):
    pytest.importorskip("fastapi")
    pytest.importorskip("python_multipart")
    from fastapi.testclient import TestClient

    from inference_fakes import bright_spot_pose_model
    from lgmpose.serve.app import create_app
    from lgmpose.serve.service import PoseService, ServeConfig

    model = bright_spot_pose_model(tmp_path_factory.mktemp("m") / "spot.onnx")
    service = PoseService(ServeConfig(weights=str(model), detector="whole_image", threads=1,
                                      max_bytes=256 * 1024, max_pixels=4_000_000, max_boxes=5))
    with TestClient(create_app(service=service), raise_server_exceptions=False) as c:
        yield c


def _check_answer(answer):
    assert answer.status_code < 500, answer.text
    body = answer.json()
    if answer.status_code >= 400:
        assert isinstance(body["detail"], str) and body["detail"]
    else:
        assert isinstance(body["people"], list)


content_types = st.sampled_from(["image/jpeg", "image/png", "application/octet-stream",
                                 "image/x-whatever", "text/plain", "multipart/form-data",
                                 "multipart/form-data; boundary=x", "", "image/jpeg; q=1"])


@given(image_bytes, content_types, st.none() | st.text(max_size=30) | json_values.map(_dumps),
       st.text(max_size=20))
def test_http_raw_bodies(client, data, kind, boxes, image_id):
    params = {"image_id": image_id}
    if boxes is not None:
        params["boxes"] = boxes
    _check_answer(client.post("/v1/pose", content=data, params=params,
                              headers={"Content-Type": kind} if kind else {}))


@given(image_bytes, st.sampled_from(["image", "file", "other"]),
       st.none() | st.text(max_size=30) | st.lists(box, max_size=3).map(_dumps),
       st.binary(max_size=40))
def test_http_multipart_forms(client, data, field, boxes, junk):
    files = {field: ("x.jpg", data, "image/jpeg"), "extra": ("j", junk)}
    form = {} if boxes is None else {"boxes": boxes}
    _check_answer(client.post("/v1/pose", files=files, data=form))


@given(st.binary(max_size=300), st.text(alphabet="abcxyz-=;", max_size=12))
def test_http_malformed_multipart(client, body, boundary):
    _check_answer(client.post("/v1/pose", content=body, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"}))
