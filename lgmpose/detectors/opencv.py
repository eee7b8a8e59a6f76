"""Detectors that need nothing beyond OpenCV: the whole image, HOG people, and motion."""
from __future__ import annotations

import cv2
import numpy as np

from lgmpose.detectors.boxes import nms, xywh_to_xyxy
from lgmpose.errors import LgmposeError

__all__ = ["WholeImageDetector", "HOGDetector", "MotionDetector", "hog_available"]


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

    def __init__(self, max_side: int = 640, det_thr: float = 0.0, iou_thr: float = 0.45,
                 scale: float = 1.05) -> None:
        self.max_side = max_side
        self.det_thr = det_thr
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
        keep = scores >= self.det_thr
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


def hog_available() -> bool:
    return hasattr(cv2, "HOGDescriptor")



class MotionDetector:
    """Moving people in front of a fixed camera, by background subtraction (OpenCV MOG2).

    For surveillance-style video where the image detectors see people too small (e.g. OpenCV's
    ``vtest.avi``): foreground blobs, cleaned and closed vertically so that a walking person's
    parts merge, of at least ``min_area`` of the frame and taller than wide. It needs a few frames
    to learn the background, sees nothing that stands still, and merges people who touch.
    Not for single images.
    """

    name = "motion"

    def __init__(self, det_thr: float = 0.0, min_area: float = 0.0008, history: int = 300,
                 var_threshold: float = 25.0, max_side: int = 480) -> None:
        self.det_thr, self.min_area, self.max_side = det_thr, min_area, max_side
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
            if fill >= self.det_thr:
                boxes.append([x, y, bw, bh])
                scores.append(min(1.0, 0.5 + fill))
        if not boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        return np.asarray(boxes, np.float32) / ratio, np.asarray(scores, np.float32)
