"""The BlazePose person detector (Google, Apache-2.0), run with ``ai-edge-litert``.

The network (224x224 input, 2,254 SSD anchors) finds a person by the face and regresses four
alignment points: hip centre, a point whose distance to the hip centre is the radius of a circle
around the whole body, shoulder centre, and the same for the upper body. MediaPipe turns the first
two into a square, rotated region for its landmark model; we turn them into an upright person box
whose extent along and across the body axis are fractions of that circle, fitted on COCO train
images (``ALONG``/``ACROSS``, see ``docs/inference.md``).
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from lgmpose.errors import LgmposeError
from lgmpose.detectors.boxes import nms, xyxy_to_xywh
from lgmpose.utils.quiet import quiet_stderr

__all__ = ["BlazePoseDetector", "bundled_detector_path", "blazepose_anchors"]

INPUT = 224
# Person box = the body circle's diameter times these factors, along and across the body axis.
ALONG = 0.9
ACROSS = 0.35


def bundled_detector_path() -> Path:
    return Path(__file__).resolve().parents[1] / "weights" / "blazepose_detector.tflite"


def blazepose_anchors() -> np.ndarray:
    """Anchor centres ``[2254, 2]`` in 0..1: 2 per cell at stride 8 and 16, 6 per cell at 32."""
    centres = []
    for stride, per_cell in ((8, 2), (16, 2), (32, 6)):
        n = INPUT // stride
        ys, xs = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n, indexing="ij")
        cell = np.stack([xs, ys], -1).reshape(-1, 1, 2)
        centres.append(np.repeat(cell, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(centres).astype(np.float32)


class BlazePoseDetector:
    """Person boxes from BlazePose's detector; ``det_thr`` applies to the sigmoid score."""

    name = "blazepose"

    def __init__(self, path: str | os.PathLike | None = None, det_thr: float = 0.5,
                 iou_thr: float = 0.3, threads: int | None = None,
                 along: float = ALONG, across: float = ACROSS,
                 grids: tuple[int, ...] = (1,), overlap: float = 0.25) -> None:
        self.path = Path(path) if path is not None else bundled_detector_path()
        if not self.path.is_file():
            raise LgmposeError(f"detector '{self.path}': file not found")
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise LgmposeError("detector 'blazepose' needs the ai-edge-litert package "
                               "(pip install ai-edge-litert); or use --detector hog") from None
        try:
            with quiet_stderr():  # LiteRT prints a line about its CPU delegate on every load
                self._interp = Interpreter(model_path=str(self.path), num_threads=threads or 2)
                self._interp.allocate_tensors()
        except Exception as error:  # LiteRT raises ValueError/RuntimeError for bad files
            raise LgmposeError(f"detector '{self.path}': not a valid TFLite model "
                               f"({str(error).strip().splitlines()[0][:200]})") from None
        inp = self._interp.get_input_details()
        outs = self._interp.get_output_details()
        if len(inp) != 1 or list(inp[0]["shape"]) != [1, INPUT, INPUT, 3] or len(outs) != 2:
            raise LgmposeError(f"detector '{self.path}': not a BlazePose person detector "
                               f"(input {[list(d['shape']) for d in inp]})")
        self._input = inp[0]["index"]
        by_width = sorted(outs, key=lambda d: int(d["shape"][-1]))
        self._scores_idx, self._regs_idx = by_width[0]["index"], by_width[1]["index"]
        self._anchors = blazepose_anchors()
        self.det_thr, self.iou_thr = det_thr, iou_thr
        self.along, self.across = along, across
        self.grids, self.overlap = tuple(grids), overlap

    def raw(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores ``[N]`` and the four alignment points ``[N, 4, 2]`` in image pixels."""
        h, w = image.shape[:2]
        side = max(h, w)
        # Centred square letterbox on black, as MediaPipe feeds it.
        canvas = np.zeros((side, side, 3), np.uint8)
        px, py = (side - w) // 2, (side - h) // 2
        canvas[py:py + h, px:px + w] = image
        blob = cv2.resize(canvas, (INPUT, INPUT), interpolation=cv2.INTER_AREA)
        blob = (blob[:, :, ::-1].astype(np.float32) / 127.5 - 1.0)[None]
        self._interp.set_tensor(self._input, np.ascontiguousarray(blob))
        self._interp.invoke()
        logits = self._interp.get_tensor(self._scores_idx)[0, :, 0]
        regs = self._interp.get_tensor(self._regs_idx)[0]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -60, 60)))
        keep = np.nonzero(scores >= self.det_thr)[0]
        pts = regs[keep, 4:12].reshape(-1, 4, 2) / INPUT + self._anchors[keep, None, :]
        pts = pts * side - np.array([px, py], np.float32)
        return scores[keep].astype(np.float32), pts.astype(np.float32)

    def boxes_from_points(self, pts: np.ndarray) -> np.ndarray:
        """Upright ``xyxy`` boxes around the rotated body rectangle given by the alignment points."""
        hip, top = pts[:, 0], pts[:, 1]
        axis = top - hip
        radius = np.linalg.norm(axis, axis=1, keepdims=True)
        unit = axis / np.maximum(radius, 1e-6)
        normal = np.stack([-unit[:, 1], unit[:, 0]], axis=1)
        half_along = radius * self.along
        half_across = radius * self.across
        ext = np.abs(unit) * half_along + np.abs(normal) * half_across
        return np.concatenate([hip - ext, hip + ext], axis=1)

    def _tiles(self, h: int, w: int):
        """Windows ``(x0, y0, x1, y1)``: the whole image, then ``g x g`` overlapping tiles per
        grid ``g``, so that people too small for one 224-pixel view are seen at a larger scale."""
        for g in self.grids:
            if g <= 1:
                yield 0, 0, w, h
                continue
            tw, th = w / (g - (g - 1) * self.overlap), h / (g - (g - 1) * self.overlap)
            for r in range(g):
                for c in range(g):
                    x0, y0 = c * tw * (1 - self.overlap), r * th * (1 - self.overlap)
                    yield int(x0), int(y0), min(w, int(round(x0 + tw))), min(h, int(round(y0 + th)))

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        all_scores, all_pts = [], []
        for x0, y0, x1, y1 in self._tiles(h, w):
            s, p = self.raw(image[y0:y1, x0:x1])
            all_scores.append(s)
            all_pts.append(p + np.array([x0, y0], np.float32))
        scores, pts = np.concatenate(all_scores), np.concatenate(all_pts)
        if len(scores) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        xyxy = self.boxes_from_points(pts)
        order = nms(xyxy, scores, self.iou_thr)
        xyxy, scores = xyxy[order], scores[order]
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, w)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, h)
        boxes = xyxy_to_xywh(xyxy)
        ok = (boxes[:, 2] > 1) & (boxes[:, 3] > 1)
        return boxes[ok], scores[ok]
