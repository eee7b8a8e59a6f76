"""Person detectors: box helpers, YOLOX/YOLOv8/end-to-end ONNX decoding on tiny models built here,
HOG, BlazePose, motion and whole-image detectors, and the person-box AP helper."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference_fakes import constant_output_model, spot_image
from lgmpose.detectors import build_detector
from lgmpose.detectors.boxes import box_iou, nms, validate_boxes, xywh_to_xyxy
from lgmpose.detectors.factory import litert_available
from lgmpose.detectors.opencv import MotionDetector, WholeImageDetector, hog_available
from lgmpose.detectors.yolo import YoloOnnxDetector
from lgmpose.errors import LgmposeError


def test_iou_and_nms():
    a = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [100, 100, 110, 110]], np.float32)
    iou = box_iou(a, a)
    assert np.allclose(np.diag(iou), 1)
    assert iou[0, 1] == pytest.approx(50 / 150)
    assert iou[0, 2] == 0
    keep = nms(a, np.array([0.9, 0.8, 0.7]), iou_thr=0.4)
    assert keep.tolist() == [0, 1, 2]
    keep = nms(a, np.array([0.9, 0.8, 0.7]), iou_thr=0.3)
    assert keep.tolist() == [0, 2]


def test_validate_boxes_clips_and_refuses():
    out = validate_boxes([[-10, -10, 50, 50]], 100, 80)
    assert np.allclose(out, [[0, 0, 40, 40]])
    with pytest.raises(LgmposeError, match="zero area"):
        validate_boxes([[10, 10, 0, 20]], 100, 80)
    with pytest.raises(LgmposeError, match="outside"):
        validate_boxes([[200, 10, 20, 20]], 100, 80)
    with pytest.raises(LgmposeError, match=r"\[N, 4\]"):
        validate_boxes([[1, 2, 3]], 100, 80)
    assert validate_boxes([], 100, 80).shape == (0, 4)


def _image(h=128, w=64):
    return np.zeros((h, w, 3), np.uint8)


def test_yolov8_layout(tmp_path):
    # 2 classes, 4 candidates, cx cy w h in input pixels of a 64x64 input.
    pred = np.zeros((1, 6, 4), np.float32)
    pred[0, :4, 0] = [32, 32, 20, 40]; pred[0, 4, 0] = 0.9          # person
    pred[0, :4, 1] = [33, 32, 20, 40]; pred[0, 4, 1] = 0.6          # duplicate: suppressed
    pred[0, :4, 2] = [10, 10, 8, 8]; pred[0, 4, 2] = 0.1            # below threshold
    pred[0, :4, 3] = [50, 50, 8, 8]; pred[0, 5, 3] = 0.95           # another class
    det = YoloOnnxDetector(constant_output_model(tmp_path / "v8.onnx", {"output0": pred}),
                           det_thr=0.3)
    assert det.layout == "yolov8"
    boxes, scores = det(_image())           # 128x64 image -> ratio 0.5, centred: pad x = 16
    assert scores.tolist() == pytest.approx([0.9])
    # input box x 22..42, y 12..52 -> image ((x - 16) / 0.5, y / 0.5)
    assert np.allclose(boxes[0], [12, 24, 40, 80], atol=1e-3)


def test_yolox_raw_grid_layout(tmp_path):
    rows = 8 * 8 + 4 * 4 + 2 * 2           # strides 8, 16, 32 on 64x64
    pred = np.zeros((1, rows, 7), np.float32)
    pred[0, :, 2:4] = -5                     # tiny boxes elsewhere, score 0
    cell = 2 * 8 + 3                         # stride 8, x = 3, y = 2
    pred[0, cell] = [0.5, 0.5, np.log(2), np.log(4), 0.9, 0.8, 0.1]
    det = YoloOnnxDetector(constant_output_model(tmp_path / "x.onnx", {"output": pred}),
                           det_thr=0.3)
    assert det.layout == "yolox"
    boxes, scores = det(_image(64, 128))    # ratio 0.5, top-left padding
    assert scores.tolist() == pytest.approx([0.72])
    # centre (3.5 * 8, 2.5 * 8) = (28, 20), size (16, 32) in input pixels; x2 in the image, and
    # the bottom (72) clipped to the image height (64)
    assert np.allclose(boxes[0], [40, 8, 32, 56], atol=1e-3)


def test_yolox_decoded_layout(tmp_path):
    pred = np.zeros((1, 3, 6), np.float32)
    pred[0, 0] = [28, 20, 16, 32, 0.9, 0.9]
    det = YoloOnnxDetector(constant_output_model(tmp_path / "xd.onnx", {"output": pred}),
                           det_thr=0.3)
    boxes, scores = det(_image(64, 64))
    assert scores.tolist() == pytest.approx([0.81])
    assert np.allclose(boxes[0], [20, 4, 16, 32], atol=1e-3)


def test_end2end_layout(tmp_path):
    dets = np.array([[[10, 10, 30, 50, 0.8], [5, 5, 9, 9, 0.9]]], np.float32)
    labels = np.array([[0, 2]], np.int64)
    det = YoloOnnxDetector(constant_output_model(tmp_path / "e2e.onnx",
                                                 {"dets": dets, "labels": labels}))
    assert det.layout == "end2end"
    boxes, scores = det(_image(64, 64))
    assert np.allclose(boxes, [[10, 10, 20, 40]]) and scores.tolist() == pytest.approx([0.8])


def test_wrong_kind_of_detector_file(tmp_path):
    heatmaps = np.zeros((1, 17, 16, 12), np.float32)
    pose = constant_output_model(tmp_path / "pose.onnx", {"heatmaps": heatmaps})
    with pytest.raises(LgmposeError, match="no known layout"):
        YoloOnnxDetector(pose)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(LgmposeError, match="junk.onnx"):
        build_detector(str(junk))
    with pytest.raises(LgmposeError, match="unknown"):
        build_detector("yolo9000")


def test_whole_image():
    boxes, scores = WholeImageDetector()(_image(30, 40))
    assert boxes.tolist() == [[0, 0, 40, 30]] and scores.tolist() == [1]


def test_hog_runs_or_says_why():
    if not hog_available():
        with pytest.raises(LgmposeError, match="HOG"):
            build_detector("hog")
        return
    boxes, scores = build_detector("hog")(np.zeros((200, 150, 3), np.uint8))
    assert boxes.shape[1] == 4 and len(boxes) == len(scores)


def test_motion_detector_finds_a_moving_person_shape():
    det = MotionDetector()
    rng = np.random.default_rng(0)
    background = rng.integers(60, 80, (120, 160, 3), dtype=np.uint8)
    boxes = np.zeros((0, 4))
    for i in range(30):
        frame = background.copy()
        x = 20 + 3 * i
        frame[30:90, x:x + 20] = 230           # a 20x60 "walker"
        boxes, _ = det(frame)
    assert len(boxes) == 1
    x1, y1, x2, y2 = xywh_to_xyxy(boxes)[0]
    assert abs(x1 - (20 + 3 * 29)) < 6 and abs(y2 - 90) < 6


@pytest.mark.skipif(not litert_available(), reason="ai-edge-litert not installed")
def test_blazepose_finds_messi(shared_data):
    import cv2

    image = cv2.imread(str(shared_data / "media" / "messi5.jpg"))
    boxes, scores = build_detector("blazepose")(image)
    assert len(boxes) >= 1 and scores[0] > 0.5
    cx, cy = boxes[0, :2] + boxes[0, 2:] / 2
    assert 150 < cx < 300 and 100 < cy < 260   # Messi stands left of centre


@pytest.mark.skipif(not litert_available(), reason="ai-edge-litert not installed")
def test_blazepose_rejects_other_tflite(shared_data):
    with pytest.raises(LgmposeError, match="not a BlazePose person detector"):
        build_detector(str(shared_data / "peers" / "movenet_singlepose_lightning_int8.tflite"))


def test_person_box_ap_of_whole_image(shared_data):
    pytest.importorskip("pycocotools")
    from lgmpose.evaluation.detector_ap import detect_coco, person_box_ap

    root = shared_data / "coco-mini"
    ann = root / "annotations" / "person_keypoints_val2017.json"
    results, _ = detect_coco(WholeImageDetector(), ann, root / "val2017")
    assert len(results) == 79
    ap = person_box_ap(results, ann)
    assert set(ap) == {"AP", "AP50", "AP75", "AR100"} and 0 <= ap["AP"] < 0.05
    perfect = person_box_ap([{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"],
                              "score": 1.0} for a in _annotations(ann)], ann)
    assert perfect["AP"] > 0.99


def _annotations(ann):
    import json

    return [a for a in json.loads(ann.read_text())["annotations"] if not a["iscrowd"]]


def test_spot_image_helper():
    assert spot_image().max() == 255


def test_auto_falls_back_with_a_warning(monkeypatch):
    import lgmpose.detectors.factory as factory
    import lgmpose.detectors.nanodet as nanodet

    monkeypatch.setattr(nanodet, "bundled_nanodet_path", lambda: Path("/nonexistent/nanodet.onnx"))
    monkeypatch.setattr(factory, "litert_available", lambda: False)
    monkeypatch.setattr(factory, "hog_available", lambda: False)
    with pytest.warns(UserWarning, match="ai-edge-litert"):
        det = build_detector("auto")
    assert det.name == "whole_image"
