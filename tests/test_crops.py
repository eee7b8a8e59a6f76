"""The shared crop helper: the same pixels as the crop code it replaced, for training and for
inference, and the UDP warp wherever the codec asks for it.

``data/crops_golden.npz`` was written by the code before the helper existed (training:
``TopDownPipeline`` with every augmentation on; inference: ``PoseEstimator``'s own batch
crops), on :func:`pattern_image`. Training runs must see bit-identical crops across this change.
The crops here shrink the picture, so since then they are also area-averaged first
(:func:`lgmpose.data.crops.area_prefilter`, tested below); without that step they are still the
golden ones, bit for bit.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lgmpose.codecs import build_codec, needs_udp_warp
from lgmpose.data.crops import area_prefilter, box_to_crop, crop_batch, crop_image, crop_matrix
from lgmpose.data.pipeline import TopDownPipeline
from lgmpose.data.transforms import (IMAGENET_MEAN, IMAGENET_STD, normalize_image,
                                     transform_points)

GOLDEN = np.load(Path(__file__).parent / "data" / "crops_golden.npz")
SIZE = (32, 24)
BOXES = np.array([[50, 20, 40, 90], [-10, -5, 50, 60], [120, 70, 60, 70]], np.float32)


def pattern_image(h: int = 120, w: int = 160) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.int64)
    image = np.stack([(xx * 5 + yy * 2) % 256, (xx * yy // 7) % 256,
                      ((xx - 80) ** 2 + (yy - 60) ** 2) // 10 % 256], axis=-1)
    return image.astype(np.uint8)


@pytest.fixture
def no_prefilter(monkeypatch):
    from lgmpose.data import crops

    monkeypatch.setattr(crops, "area_prefilter",
                        lambda image, matrix, size: (image, np.asarray(matrix, np.float64)))


@pytest.mark.parametrize("codec", ["msra", "udp"])
@pytest.mark.parametrize("train, seed", [(False, 0)] + [(True, s) for s in range(6)])
def test_training_crops_are_unchanged(codec, train, seed, no_prefilter):
    keypoints = np.stack([np.linspace(60, 100, 17), np.linspace(20, 110, 17)], 1)
    visible = (np.arange(17) % 5 != 0).astype(np.float32)
    pipeline = TopDownPipeline(SIZE, codec=codec, train=train, shift_factor=0.1)
    sample = pipeline(pattern_image(), [80.0, 62.0], [60.0, 80.0], keypoints.astype(np.float32),
                      visible, rng=np.random.default_rng(seed))
    key = f"train_{codec}_{int(train)}_{seed}"
    np.testing.assert_array_equal(sample["image"], GOLDEN[key + "_image"])
    np.testing.assert_array_equal(sample["keypoints"], GOLDEN[key + "_keypoints"])


@pytest.mark.parametrize("codec", ["msra", "udp"])
def test_inference_crops_are_unchanged(codec, no_prefilter):
    udp = build_codec(codec, input_size=SIZE).udp
    x, inverse = crop_batch(pattern_image(), BOXES, SIZE, udp, IMAGENET_MEAN, IMAGENET_STD)
    np.testing.assert_array_equal(x, GOLDEN[f"estimator_{codec}_x"])
    np.testing.assert_array_equal(np.stack(inverse), GOLDEN[f"estimator_{codec}_inverse"])


def test_the_estimator_crops_with_the_helper(tmp_path, monkeypatch):
    """The estimator feeds its network exactly what :func:`crop_batch` gives, with the model's
    codec choosing the warp."""
    from inference_fakes import bright_spot_pose_model
    from lgmpose import PoseEstimator
    from lgmpose.detectors.boxes import validate_boxes

    est = PoseEstimator(bright_spot_pose_model(tmp_path / "m.onnx", input_size=(64, 64)),
                        detector="whole_image")
    seen = []
    model = est.model
    monkeypatch.setattr(est, "model", lambda x: seen.append(x.copy()) or model(x))
    image = pattern_image()
    est(image, boxes=BOXES)
    boxes = validate_boxes(BOXES, 160, 120)   # the estimator clips caller boxes to the image
    expected, _ = crop_batch(image, boxes, (64, 64), est.codec.udp, est.info.mean, est.info.std)
    np.testing.assert_array_equal(seen[0], expected)


def test_udp_warp_differs_and_round_trips():
    center, scale = box_to_crop(BOXES[0], SIZE)
    plain = crop_matrix(center, scale, SIZE)
    udp = crop_matrix(center, scale, SIZE, udp=True)
    assert not np.allclose(plain, udp)
    for m, inv in ((plain, crop_matrix(center, scale, SIZE, inv=True)),
                   (udp, crop_matrix(center, scale, SIZE, udp=True, inv=True))):
        points = np.array([[55.0, 30.0], [80.5, 100.25]])
        np.testing.assert_allclose(transform_points(transform_points(points, m), inv), points,
                                   atol=1e-4)
    # UDP maps the box centre onto the middle of the pixel grid, (W-1)/2, (H-1)/2.
    np.testing.assert_allclose(transform_points(center, udp), [(SIZE[1] - 1) / 2,
                                                               (SIZE[0] - 1) / 2], atol=1e-4)


def test_flip_mirrors_the_crop():
    center, scale = box_to_crop(BOXES[0], SIZE)
    image = pattern_image()
    crop = crop_image(image, crop_matrix(center, scale, SIZE), SIZE)
    mirrored = crop_image(image, crop_matrix(center, scale, SIZE, flip=True), SIZE)
    np.testing.assert_array_equal(mirrored, cv2.flip(crop, 1))


def test_calibration_crops_take_the_udp_warp(tmp_path):
    """int8 calibration cuts what inference would feed a UDP model (it used the other warp)."""
    from lgmpose.export.quantize import calibration_crops

    cv2.imwrite(str(tmp_path / "a.png"), pattern_image())
    for udp in (False, True):
        crops = calibration_crops(tmp_path, SIZE, max_crops=1, udp=udp)
        center, scale = box_to_crop([0, 0, 160, 120], SIZE, padding=1.0)
        scale = scale * min(160 / scale[0], 120 / scale[1], 1.0)
        matrix = crop_matrix(center, scale, SIZE, udp=udp)
        expected = normalize_image(crop_image(pattern_image(), matrix, SIZE))
        np.testing.assert_array_equal(crops[0], expected)


@pytest.mark.parametrize("codec", ["msra", "udp"])
def test_quantize_calibrates_with_the_models_warp(tmp_path, monkeypatch, codec):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime.quantization")
    import json

    from inference_fakes import bright_spot_pose_model
    from lgmpose.export import quantize

    path = bright_spot_pose_model(tmp_path / "m.onnx", input_size=(32, 32), batch=1)
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == "codec":
            prop.value = json.dumps({"name": codec, "sigma": 2.0})
    onnx.save(model, str(path))
    seen = {}

    def fake_crops(*args, udp=False, **kwargs):
        seen["udp"] = udp
        raise RuntimeError("stop here")

    monkeypatch.setattr(quantize, "calibration_crops", fake_crops)
    with pytest.raises(RuntimeError, match="stop here"):
        quantize.quantize_onnx(path, tmp_path / "int8.onnx", tmp_path)
    assert seen["udp"] is (codec == "udp")


def test_needs_udp_warp_reads_names_configs_and_codecs():
    assert needs_udp_warp("udp") and needs_udp_warp({"name": "udp", "sigma": 2.0})
    assert needs_udp_warp(build_codec("udp"))
    assert not needs_udp_warp(None) and not needs_udp_warp("dark")
    assert not needs_udp_warp({"sigma": 2.0})


def test_a_crop_that_enlarges_is_not_prefiltered():
    image = pattern_image()
    matrix = crop_matrix(*box_to_crop([60, 40, 12, 16], SIZE), SIZE, udp=True)
    source, same = area_prefilter(image, matrix, SIZE)
    assert source is image
    np.testing.assert_array_equal(same, matrix)


def test_a_shrinking_crop_averages_detail_it_cannot_hold():
    """A 1-pixel checkerboard shrunk 4x is grey; sampled with gaps it stays black and white."""
    board = ((np.indices((400, 400)).sum(0) % 2) * 255).astype(np.uint8)[..., None].repeat(3, 2)
    matrix = crop_matrix(*box_to_crop([100, 80, 120, 160], SIZE), SIZE, udp=True)
    assert np.sqrt(np.linalg.det(matrix[:, :2])) < 0.25
    crop = crop_image(board, matrix, SIZE).astype(np.float64)
    assert abs(crop.mean() - 127.5) < 3 and crop.std() < 3
    gaps = cv2.warpAffine(board, matrix, (SIZE[1], SIZE[0]), flags=cv2.INTER_LINEAR)
    assert gaps.std() > 40


@pytest.mark.parametrize("rot", [0.0, 25.0])
@pytest.mark.parametrize("box", [[100, 80, 120, 160], [30, 20, 60, 70], [-40, 250, 200, 180]])
def test_a_shrinking_crop_keeps_every_point_where_the_matrix_puts_it(box, rot):
    """On a linear ramp, which area averaging leaves unchanged, each crop pixel holds the ramp's
    value at the image point the matrix maps it from: no half-pixel shift from the prefilter
    (within 0.05 crop pixels; the warp itself rounds positions to 1/32 of a source pixel)."""
    yy, xx = np.mgrid[0:400, 0:300].astype(np.float32)
    ramp = np.stack([xx, yy, xx + 0.5 * yy], axis=-1)
    matrix = crop_matrix(*box_to_crop(box, SIZE), SIZE, udp=True, rot=rot)
    shrink = np.sqrt(np.linalg.det(matrix[:, :2]))
    crop = crop_image(ramp, matrix, SIZE)
    v, u = np.mgrid[0:SIZE[0], 0:SIZE[1]]
    points = transform_points(np.stack([u, v], -1).astype(np.float64),
                              cv2.invertAffineTransform(matrix))
    margin = 2 / shrink     # two pixels of the averaged source: no black from beyond the border
    inside = ((points[..., 0] > margin) & (points[..., 0] < 299 - margin)
              & (points[..., 1] > margin) & (points[..., 1] < 399 - margin))
    assert inside.sum() > 100
    for axis in (0, 1):
        error = (crop[..., axis] - points[..., axis])[inside] * shrink   # in crop pixels
        assert np.abs(error).max() < 0.05
