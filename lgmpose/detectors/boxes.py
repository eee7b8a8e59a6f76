"""Person boxes: conversions, IoU, non-maximum suppression, validation, and boxes around
keypoints. NumPy only.

Boxes are ``[x, y, w, h]`` in image pixels (the project convention) unless a name says ``xyxy``.
"""
from __future__ import annotations

import numpy as np

from lgmpose.defaults import KPT_THR
from lgmpose.errors import LgmposeError

__all__ = ["xywh_to_xyxy", "xyxy_to_xywh", "box_iou", "nms", "clip_boxes", "validate_boxes",
           "boxes_from_keypoints"]


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def box_iou(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """IoU matrix ``[len(a), len(b)]`` of two sets of ``xyxy`` boxes."""
    a = np.asarray(a_xyxy, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(b_xyxy, dtype=np.float32).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def nms(boxes_xyxy: np.ndarray, scores: np.ndarray, iou_thr: float = 0.45,
        max_det: int = 100) -> np.ndarray:
    """Greedy non-maximum suppression; returns the kept indices, best score first."""
    boxes_xyxy = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float32), kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < max_det:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        ious = box_iou(boxes_xyxy[best:best + 1], boxes_xyxy[order[1:]])[0]
        order = order[1:][ious <= iou_thr]
    return np.asarray(keep, dtype=np.int64)


def clip_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip ``xywh`` boxes to the image; a box fully outside ends with zero width or height."""
    xyxy = xywh_to_xyxy(boxes)
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
    return xyxy_to_xywh(xyxy)


def validate_boxes(boxes, width: int, height: int, source: str = "boxes",
                   min_size: float = 1.0) -> np.ndarray:
    """Caller boxes as a ``[N, 4]`` float32 array clipped to the image, or an ``LgmposeError``.

    A box of zero area, or one that lies entirely outside the image, is refused rather than
    silently producing a pose for pixels that do not exist.
    """
    try:
        arr = np.asarray(boxes, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise LgmposeError(f"{source}: boxes must be numbers [x, y, w, h] ({error})") from None
    if arr.size == 0:
        return np.zeros((0, 4), np.float32)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] < 4:
        raise LgmposeError(f"{source}: boxes must have shape [N, 4] as [x, y, w, h], "
                           f"got {list(arr.shape)}")
    arr = arr[:, :4]
    if not np.isfinite(arr).all():
        raise LgmposeError(f"{source}: boxes contain NaN or infinite values")
    for i, (x, y, w, h) in enumerate(arr):
        if w <= 0 or h <= 0:
            raise LgmposeError(f"{source}: box {i} [{x:g}, {y:g}, {w:g}, {h:g}] has zero area "
                               "(width and height must be positive)")
    clipped = clip_boxes(arr, width, height)
    for i, (box, cbox) in enumerate(zip(arr, clipped)):
        if cbox[2] < min_size or cbox[3] < min_size:
            x, y, w, h = box
            raise LgmposeError(f"{source}: box {i} [{x:g}, {y:g}, {w:g}, {h:g}] lies outside the "
                               f"{width}x{height} image")
    return clipped


def boxes_from_keypoints(keypoints: np.ndarray, scores: np.ndarray, fallback: np.ndarray,
                         kpt_thr: float = KPT_THR, grow: float = 1.2, min_points: int = 4,
                         min_keep: float = 0.5, reference: np.ndarray | None = None) -> np.ndarray:
    """``xywh`` boxes around the confident keypoints, grown by ``grow``; ``fallback`` (the
    previous boxes) where fewer than ``min_points`` are confident. A side never shrinks below
    ``min_keep`` of the ``reference`` box's (the last detected box; default ``fallback``), so
    that a few clustered keypoints do not collapse it frame after frame."""
    out = np.asarray(fallback, np.float32).reshape(-1, 4).copy()
    ref = out if reference is None else np.asarray(reference, np.float32).reshape(-1, 4)
    for i, (kpts, s) in enumerate(zip(keypoints, scores)):
        pts = kpts[s >= kpt_thr]
        if len(pts) < min_points:
            continue
        lo, hi = pts.min(0), pts.max(0)
        size = np.maximum((hi - lo) * grow, ref[i, 2:] * min_keep)
        centre = (lo + hi) / 2
        out[i] = [*(centre - size / 2), *size]
    return out
