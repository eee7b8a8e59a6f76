"""Person detection with a YOLOX- or YOLOv8-style ONNX export (bring your own weights).

Output layouts understood (``layout="auto"`` picks from the output shapes):

- ``"yolox"``: one output ``[1, N, 5 + C]`` = (cx, cy, w, h, objectness, C class scores), as written
  by YOLOX's ``export_onnx.py``. Without ``--decode_in_inference`` (the default) the box columns
  are raw: centre offsets in grid cells and log sizes over strides 8/16/32; with it they are input
  pixels. ``decoded=None`` tells the two apart from the values (log sizes are small numbers).
  Input: BGR, 0-255, letterboxed at the top-left corner on grey 114.
- ``"yolov8"``: one output ``[1, 4 + C, N]`` = (cx, cy, w, h, C class scores) in input pixels, as
  written by Ultralytics' ``export(format="onnx")``. Input: RGB / 255, centred letterbox on 114.
- ``"end2end"``: two outputs ``dets [1, N, 5]`` (x1, y1, x2, y2, score) and ``labels [1, N]``
  (MMDeploy end-to-end exports with NMS inside, e.g. the YOLOX files rtmlib uses).
  Input: as YOLOX.

The person class is 0 (COCO order) unless ``person_class`` says otherwise.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from lgmpose.detectors.boxes import nms, xyxy_to_xywh
from lgmpose.errors import LgmposeError
from lgmpose.runtimes.onnx_runtime import create_session

__all__ = ["YoloOnnxDetector", "letterbox", "decode_yolox", "decode_yolov8"]

LAYOUTS = ("auto", "yolox", "yolov8", "end2end")


def letterbox(image: np.ndarray, size: tuple[int, int], centred: bool,
              pad_value: int = 114) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Resize keeping the aspect ratio into ``size`` (H, W); returns image, ratio, (pad_x, pad_y)."""
    h, w = image.shape[:2]
    ratio = min(size[0] / h, size[1] / w)
    nh, nw = max(1, round(h * ratio)), max(1, round(w * ratio))
    canvas = np.full((size[0], size[1], 3), pad_value, np.uint8)
    px, py = ((size[1] - nw) // 2, (size[0] - nh) // 2) if centred else (0, 0)
    canvas[py:py + nh, px:px + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas, ratio, (float(px), float(py))


def _grids(input_size: tuple[int, int], strides=(8, 16, 32)) -> tuple[np.ndarray, np.ndarray]:
    cells, steps = [], []
    for s in strides:
        gh, gw = input_size[0] // s, input_size[1] // s
        ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        cells.append(np.stack([xs, ys], -1).reshape(-1, 2))
        steps.append(np.full((gh * gw, 1), s))
    return np.concatenate(cells).astype(np.float32), np.concatenate(steps).astype(np.float32)


def decode_yolox(pred: np.ndarray, input_size: tuple[int, int], person_class: int = 0,
                 decoded: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``pred [N, 5 + C]`` -> (boxes ``xyxy`` in input pixels, person scores)."""
    pred = np.asarray(pred, np.float32)
    boxes = pred[:, :4].copy()
    if decoded is None:
        cells, _ = _grids(input_size)
        decoded = len(cells) != len(pred) or float(np.median(np.abs(pred[:, 2:4]))) > 8.0
    if not decoded:
        cells, steps = _grids(input_size)
        if len(cells) != len(pred):
            raise LgmposeError(f"YOLOX output has {len(pred)} rows but a {input_size[0]}x"
                               f"{input_size[1]} input with strides 8/16/32 gives {len(cells)}")
        boxes[:, :2] = (boxes[:, :2] + cells) * steps
        boxes[:, 2:] = np.exp(np.clip(boxes[:, 2:], -10, 10)) * steps
    scores = pred[:, 4] * (pred[:, 5 + person_class] if pred.shape[1] > 5 else 1.0)
    return _cxcywh_to_xyxy(boxes), scores


def decode_yolov8(pred: np.ndarray, person_class: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``pred [4 + C, N]`` -> (boxes ``xyxy`` in input pixels, person scores)."""
    pred = np.asarray(pred, np.float32)
    return _cxcywh_to_xyxy(pred[:4].T), pred[4 + person_class].copy()


def _cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    return np.concatenate([b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2], axis=1)


class YoloOnnxDetector:
    """A YOLO-family ONNX person detector; see the module docstring for the layouts."""

    def __init__(self, path: str | os.PathLike, layout: str = "auto", det_thr: float = 0.3,
                 iou_thr: float = 0.5, person_class: int = 0, decoded: bool | None = None,
                 input_size: tuple[int, int] | None = None, device: str = "cpu",
                 threads: int | None = None) -> None:
        if layout not in LAYOUTS:
            raise LgmposeError(f"detector layout '{layout}': use one of {', '.join(LAYOUTS)}")
        self.path = Path(path)
        self.name = f"onnx:{self.path.name}"
        self.session = create_session(self.path, device, threads, what="detector")
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise LgmposeError(f"detector '{self.path}': expected one image input [1, 3, H, W], "
                               f"got {[(i.name, i.shape) for i in inputs]}")
        self.input_name = inputs[0].name
        _, _, h, w = inputs[0].shape
        if input_size is None:
            input_size = (h, w) if isinstance(h, int) and isinstance(w, int) else (640, 640)
        self.input_size = tuple(int(v) for v in input_size)
        self.layout = self._resolve_layout(layout, [o.shape for o in outputs])
        self.det_thr, self.iou_thr = det_thr, iou_thr
        self.person_class, self.decoded = person_class, decoded

    def _resolve_layout(self, layout: str, shapes: list) -> str:
        if layout != "auto":
            return layout
        if len(shapes) >= 2 and len(shapes[0]) == 3 and shapes[0][-1] == 5:
            return "end2end"
        if len(shapes) == 1 and len(shapes[0]) == 3:
            a, b = shapes[0][1], shapes[0][2]
            if isinstance(a, int) and isinstance(b, int):
                # YOLOv8 rows are 4 box values + >= 1 class; YOLOX columns 5 + >= 1 class.
                if a < 5 or b < 5:
                    return "yolox" if a < 5 else "yolov8"
                return "yolov8" if a < b else "yolox"
            return "yolov8" if isinstance(a, int) else "yolox"
        raise LgmposeError(f"detector '{self.path}': output shapes {shapes} match no known "
                           "layout (YOLOX [1, N, 5+C], YOLOv8 [1, 4+C, N], end2end dets+labels); "
                           "is this a person detector?")

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        centred = self.layout == "yolov8"
        canvas, ratio, (px, py) = letterbox(image, self.input_size, centred=centred)
        if self.layout == "yolov8":
            blob = canvas[:, :, ::-1].astype(np.float32) / 255.0
        else:
            blob = canvas.astype(np.float32)
        blob = np.ascontiguousarray(blob.transpose(2, 0, 1)[None])
        outputs = self.session.run(None, {self.input_name: blob})
        if self.layout == "end2end":
            dets, labels = outputs[0][0], outputs[1][0].reshape(-1)
            keep = labels.astype(np.int64) == self.person_class
            xyxy, scores = dets[keep, :4].astype(np.float32), dets[keep, 4].astype(np.float32)
        elif self.layout == "yolox":
            xyxy, scores = decode_yolox(outputs[0][0], self.input_size, self.person_class,
                                        self.decoded)
        else:
            xyxy, scores = decode_yolov8(outputs[0][0], self.person_class)
        keep = scores >= self.det_thr
        xyxy, scores = xyxy[keep], scores[keep]
        if self.layout != "end2end" and len(scores):
            order = nms(xyxy, scores, self.iou_thr)
            xyxy, scores = xyxy[order], scores[order]
        xyxy = (xyxy - np.array([px, py, px, py], np.float32)) / ratio
        h, w = image.shape[:2]
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, w)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, h)
        boxes = xyxy_to_xywh(xyxy)
        ok = (boxes[:, 2] > 1) & (boxes[:, 3] > 1)
        return boxes[ok], scores[ok].astype(np.float32)
