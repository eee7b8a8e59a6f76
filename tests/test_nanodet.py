"""The bundled NanoDet person detector: GFL decoding, letterbox geometry, reference boxes on a
bundled picture, and its place as the ``auto`` detector."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from inference_fakes import constant_output_model
from lgmpose.errors import LgmposeError
from lgmpose.detectors import build_detector, default_detector_name
from lgmpose.detectors.nanodet import (INPUT, NanoDetDetector, bundled_nanodet_path, decode_gfl,
                                       nanodet_centers)

ASSETS = Path(__file__).resolve().parents[1] / "lgmpose" / "assets"
LEVELS = ((8, 52), (16, 26), (32, 13))


def _one_hot_dists(n: int, bins: tuple[int, int, int, int]) -> np.ndarray:
    """Distance logits whose softmax is (almost) one-hot at ``bins`` for l, t, r, b."""
    dists = np.zeros((n, 4, 11), np.float32)
    for side, b in enumerate(bins):
        dists[:, side, b] = 40.0
    return dists.reshape(n, 44)


def test_centres_are_cell_centres_level_by_level():
    centres, strides = nanodet_centers()
    assert len(centres) == 52 * 52 + 26 * 26 + 13 * 13 == 3549
    np.testing.assert_allclose(centres[0], [4, 4])
    np.testing.assert_allclose(centres[1], [12, 4])          # row-major: x moves first
    np.testing.assert_allclose(centres[52], [4, 12])
    np.testing.assert_allclose(centres[2704], [8, 8])        # first cell of stride 16
    np.testing.assert_allclose(centres[-1], [400, 400])      # last cell of stride 32
    assert strides[0] == 8 and strides[2704] == 16 and strides[-1] == 32


def test_decode_gfl_expectation_times_stride():
    centres, strides = nanodet_centers()
    n = len(centres)
    scores = np.zeros((n, 80), np.float32)
    scores[2704 + 26 * 5 + 7, 0] = 0.9     # stride 16, row 5, col 7: centre (120, 88)
    scores[100, 3] = 0.8                   # another class: not a person
    dists = _one_hot_dists(n, (2, 3, 4, 5))
    boxes, person = decode_gfl(scores, dists, centres, strides)
    i = int(np.argmax(person))
    assert i == 2704 + 26 * 5 + 7 and person[i] == pytest.approx(0.9)
    assert person[100] == 0
    np.testing.assert_allclose(boxes[i], [120 - 32, 88 - 48, 120 + 64, 88 + 80], atol=1e-3)
    # A softmax split evenly between bins 1 and 2 gives a distance of 1.5 strides.
    dists = np.full((n, 4, 11), -40.0, np.float32)
    dists[:, :, 1] = dists[:, :, 2] = 5.0
    boxes, _ = decode_gfl(scores, dists.reshape(n, 44), centres, strides)
    np.testing.assert_allclose(boxes[0], [4 - 12, 4 - 12, 4 + 12, 4 + 12], atol=1e-3)
    with pytest.raises(LgmposeError, match="do not match"):
        decode_gfl(scores[:10], dists.reshape(n, 44), centres, strides)


def _fake_nanodet(path: Path, hit: int, bins=(1, 2, 3, 4), score: float = 0.9) -> Path:
    outputs = {}
    offset = 0
    for index, (_, cells) in enumerate(LEVELS):
        n = cells * cells
        scores = np.zeros((1, n, 80), np.float32)
        if offset <= hit < offset + n:
            scores[0, hit - offset, 0] = score
        outputs[f"cls{index}"] = scores
        offset += n
    for index, (_, cells) in enumerate(LEVELS):
        outputs[f"reg{index}"] = _one_hot_dists(cells * cells, bins)[None]
    return constant_output_model(path, outputs, input_shape=(1, 3, INPUT, INPUT))


@pytest.mark.parametrize("resize", ["letterbox", "stretch"])
def test_boxes_map_back_to_the_image(tmp_path, resize):
    # Stride 8, row 25, col 30: centre (244, 204) in the 416 x 416 input; box l1 t2 r3 b4 strides.
    model = _fake_nanodet(tmp_path / "nanodet.onnx", hit=25 * 52 + 30)
    det = NanoDetDetector(model, resize=resize)
    image = np.zeros((208, 832, 3), np.uint8)    # 4:1, letterboxed to 416 x 104 at y = 156
    boxes, scores = det(image)
    input_box = np.array([244 - 8, 204 - 16, 244 + 24, 204 + 32], np.float32)
    if resize == "letterbox":
        x1, y1, x2, y2 = (input_box - [0, 156, 0, 156]) * 2
    else:
        x1, y1, x2, y2 = input_box * [2, 0.5, 2, 0.5]
    np.testing.assert_allclose(boxes, [[x1, y1, x2 - x1, y2 - y1]], atol=0.5)
    assert scores[0] == pytest.approx(0.9)
    det.det_thr = 0.95
    assert len(det(image)[0]) == 0


def test_rejects_models_that_are_not_nanodet(tmp_path):
    other = constant_output_model(tmp_path / "other.onnx", {"out": np.zeros((1, 10, 6),
                                                                               np.float32)})
    with pytest.raises(LgmposeError, match="not a NanoDet"):
        NanoDetDetector(other)
    with pytest.raises(LgmposeError, match="resize"):
        NanoDetDetector(other, resize="crop")


requires_bundled = pytest.mark.skipif(not bundled_nanodet_path().is_file(),
                                      reason="bundled NanoDet weights absent")


@requires_bundled
def test_auto_is_nanodet():
    assert default_detector_name() == "nanodet"
    assert build_detector("auto").name == "nanodet"
    assert build_detector("nanodet", det_thr=0.5).det_thr == 0.5


@requires_bundled
def test_reference_boxes_on_basketball_picture():
    """Both players, whole body, at the default threshold (numbers from the first run: a change
    in preprocessing, decoding or the weights moves them)."""
    image = cv2.imread(str(ASSETS / "basketball1.jpg"))
    boxes, scores = NanoDetDetector(threads=1)(image)
    reference = np.array([[34.6, 83.8, 134.5, 391.1],      # left player, head to feet
                          [423.5, 23.7, 213.3, 456.3],     # right player
                          [116.9, 82.9, 58.0, 71.5]],      # the ball in the left player's hands
                         np.float32)
    assert len(boxes) == 3
    np.testing.assert_allclose(boxes, reference, atol=3.0)
    np.testing.assert_allclose(scores, [0.795, 0.618, 0.408], atol=0.02)


@requires_bundled
def test_detector_ap_command_on_a_few_coco_images(shared_data, tmp_path, capsys):
    import json

    from lgmpose.cli import main

    root = shared_data / "coco-mini"
    data = json.loads((root / "annotations" / "person_keypoints_val2017.json").read_text())
    ids = {image["id"] for image in data["images"][:6]}
    data["images"] = [i for i in data["images"] if i["id"] in ids]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in ids]
    ann = tmp_path / "few.json"
    ann.write_text(json.dumps(data))
    assert main(["detector-ap", "--ann", str(ann), "--images", str(root / "val2017"),
                 "--detectors", "auto,whole_image", "--json"]) == 0
    rows = {r["detector"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"auto (nanodet)", "whole_image"}
    assert rows["auto (nanodet)"]["AP"] > rows["whole_image"]["AP"]
    assert rows["auto (nanodet)"]["default_thr"] == pytest.approx(0.3)
    assert 0 <= rows["auto (nanodet)"]["F1"] <= 1 and rows["auto (nanodet)"]["ms"] > 0


@requires_bundled
def test_reference_box_on_skier_picture():
    image = cv2.imread(str(ASSETS / "000000000785.jpg"))
    boxes, scores = NanoDetDetector(threads=1)(image)
    np.testing.assert_allclose(boxes, [[280.6, 41.5, 238.6, 344.2]], atol=3.0)
    assert scores[0] == pytest.approx(0.33, abs=0.02)
