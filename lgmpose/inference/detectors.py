"""Person detectors. Each one maps a BGR image to person boxes ``[N, 4]`` (x, y, w, h) and scores.

Which detector to use is a string for the CLI and the API (:func:`build_detector`):

- ``"auto"``: the default; the bundled NanoDet-m (best person-box AP of the detectors we ship, see
  ``docs/inference.md``; runs on ONNX Runtime, part of the core install), else BlazePose's person
  detector when ``ai-edge-litert`` is installed, else OpenCV HOG where this OpenCV has it (4.x),
  else the whole image;
- ``"nanodet"``: the bundled NanoDet-m 416 (Apache-2.0, ONNX) COCO detector, person class;
- ``"blazepose"``: the bundled BlazePose person detector (TFLite, needs ``ai-edge-litert``);
- ``"hog"``: OpenCV's built-in HOG + linear SVM people detector: no extra file, no extra package;
- ``"motion"``: moving people seen by a fixed camera (background subtraction; video only);
- ``"whole_image"``: one box covering the whole image (a single, framed person);
- a path to a ``.onnx`` file: a YOLOX- or YOLOv8-style detector export (:mod:`.yolo`);
- a path to a ``.tflite`` file: a BlazePose-style person detector.

Boxes given by the caller bypass the detector entirely.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from lgmpose.errors import LgmposeError
from lgmpose.inference.boxes import nms, xywh_to_xyxy

__all__ = ["PersonDetector", "WholeImageDetector", "HOGDetector", "MotionDetector", "build_detector",
           "DETECTOR_NAMES", "default_detector_name"]

DETECTOR_NAMES = ("auto", "nanodet", "blazepose", "hog", "motion", "whole_image")


class PersonDetector(Protocol):
    name: str

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``image`` BGR uint8 ``[H, W, 3]`` -> (boxes ``[N, 4]`` xywh float32, scores ``[N]``)."""
        ...


class WholeImageDetector:
    """One box covering the whole image: for pictures that frame a single person."""

    name = "whole_image"

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        return np.array([[0, 0, w, h]], np.float32), np.ones(1, np.float32)


class HOGDetector:
    """OpenCV's HOG people detector (Dalal-Triggs): dependency-free, slow and coarse.

    Large images are first shrunk so that the longer side is ``max_side`` pixels: the detector's
    window is 64x128, so small people are lost either way, and full resolution costs seconds.
    """

    name = "hog"

    def __init__(self, max_side: int = 640, score_thr: float = 0.0, iou_thr: float = 0.45,
                 scale: float = 1.05) -> None:
        self.max_side = max_side
        self.score_thr = score_thr
        self.iou_thr = iou_thr
        self.scale = scale
        if not hasattr(cv2, "HOGDescriptor"):
            raise LgmposeError(f"detector 'hog': this OpenCV ({cv2.__version__}) has no HOG people "
                               "detector (OpenCV 5 moved it out of the main package); install "
                               "'opencv-python-headless<5' or use another detector")
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        ratio = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(image, (round(w * ratio), round(h * ratio))) if ratio < 1 else image
        rects, weights = self._hog.detectMultiScale(small, winStride=(8, 8), padding=(8, 8),
                                                    scale=self.scale)
        if len(rects) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        boxes = np.asarray(rects, np.float32).reshape(-1, 4) / ratio
        # HOG's SVM margin is unbounded; squash it to (0, 1) so that thresholds read like the others'.
        scores = 1.0 / (1.0 + np.exp(-np.asarray(weights, np.float32).reshape(-1)))
        keep = scores >= self.score_thr
        boxes, scores = boxes[keep], scores[keep]
        # The default detector's windows carry a margin of ~1/8 of the box around the person.
        boxes = _shrink(boxes, 0.1, 0.05)
        order = nms(xywh_to_xyxy(boxes), scores, self.iou_thr)
        return boxes[order], scores[order]


def _shrink(boxes: np.ndarray, fx: float, fy: float) -> np.ndarray:
    out = boxes.copy()
    out[:, 0] += boxes[:, 2] * fx
    out[:, 1] += boxes[:, 3] * fy
    out[:, 2] *= 1 - 2 * fx
    out[:, 3] *= 1 - 2 * fy
    return out


def litert_available() -> bool:
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return False
    return True


def default_detector_name() -> str:
    """What ``"auto"`` resolves to on this machine."""
    from lgmpose.inference.blazepose import bundled_detector_path
    from lgmpose.inference.nanodet import bundled_nanodet_path

    if bundled_nanodet_path().is_file():
        return "nanodet"
    if litert_available() and bundled_detector_path().is_file():
        return "blazepose"
    return "hog" if hog_available() else "whole_image"


def hog_available() -> bool:
    return hasattr(cv2, "HOGDescriptor")


def build_detector(spec: "str | os.PathLike | PersonDetector | None" = "auto",
                   score_thr: float | None = None, threads: int | None = None,
                   device: str = "cpu") -> PersonDetector:
    """A detector from a name, a model file, or an object that already is one.

    ``device`` applies to ONNX detectors (the others run on the CPU).
    """
    if spec is None:
        spec = "auto"
    if callable(spec) and not isinstance(spec, (str, os.PathLike)):
        return spec
    text = str(spec)
    if text == "auto":
        text = default_detector_name()
        if text not in ("nanodet", "blazepose"):
            warnings.warn("the bundled NanoDet model is missing and there is no BlazePose person "
                          f"detector (pip install ai-edge-litert): falling back to '{text}'; pass "
                          "a YOLOX/YOLOv8 .onnx detector or boxes for multi-person pictures",
                          stacklevel=2)
    kwargs = {} if score_thr is None else {"score_thr": score_thr}
    if text == "whole_image":
        return WholeImageDetector()
    if text == "hog":
        return HOGDetector(**kwargs)
    if text == "motion":
        return MotionDetector(**kwargs)
    if text == "nanodet":
        from lgmpose.inference.nanodet import NanoDetDetector

        return NanoDetDetector(threads=threads, device=device, **kwargs)
    if text == "blazepose":
        from lgmpose.inference.blazepose import BlazePoseDetector

        return BlazePoseDetector(threads=threads, **kwargs)
    path = Path(text)
    if path.suffix.lower() == ".onnx":
        from lgmpose.inference.yolo import YoloOnnxDetector

        return YoloOnnxDetector(path, threads=threads, device=device, **kwargs)
    if path.suffix.lower() == ".tflite":
        from lgmpose.inference.blazepose import BlazePoseDetector

        return BlazePoseDetector(path, threads=threads, **kwargs)
    raise LgmposeError(f"detector '{text}': unknown; use one of {', '.join(DETECTOR_NAMES)}, "
                       "a YOLOX/YOLOv8 .onnx file or a BlazePose .tflite file")


class MotionDetector:
    """Moving people in front of a fixed camera, by background subtraction (OpenCV MOG2).

    For surveillance-style video where the image detectors see people too small (e.g. OpenCV's
    ``vtest.avi``): foreground blobs, cleaned and closed vertically so that a walking person's
    parts merge, of at least ``min_area`` of the frame and taller than wide. It needs a few frames
    to learn the background, sees nothing that stands still, and merges people who touch.
    Not for single images.
    """

    name = "motion"

    def __init__(self, score_thr: float = 0.0, min_area: float = 0.0008, history: int = 300,
                 var_threshold: float = 25.0, max_side: int = 480) -> None:
        self.score_thr, self.min_area, self.max_side = score_thr, min_area, max_side
        self._bg = cv2.createBackgroundSubtractorMOG2(history=history,
                                                      varThreshold=var_threshold,
                                                      detectShadows=True)
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._close = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 15))

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        ratio = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(image, (round(w * ratio), round(h * ratio))) if ratio < 1 else image
        mask = self._bg.apply(small)
        mask = np.where(mask == 255, 255, 0).astype(np.uint8)  # 127 marks shadows
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        boxes, scores = [], []
        min_px = self.min_area * mask.shape[0] * mask.shape[1]
        for contour in contours:
            x, y, bw, bh = cv2.boundingRect(contour)
            if bw * bh < min_px or bh < 0.8 * bw:
                continue
            fill = float(cv2.contourArea(contour)) / float(bw * bh)
            if fill >= self.score_thr:
                boxes.append([x, y, bw, bh])
                scores.append(min(1.0, 0.5 + fill))
        if not boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        return np.asarray(boxes, np.float32) / ratio, np.asarray(scores, np.float32)
