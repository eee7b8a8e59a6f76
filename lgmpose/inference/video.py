"""The video loop behind ``PoseEstimator.track``: detection (every frame or every N frames),
pose, tracking and One-Euro smoothing.

Between detection frames a person is followed with a box around their last keypoints; a person
whose keypoints fade (mean score below ``lost_ratio`` times the mean score they had on the last
detection frame: relative, because models differ in how confident they are) is dropped until the
next detection frame.
"""
from __future__ import annotations

import time

import numpy as np

from lgmpose.inference.smoothing import PoseSmoother
from lgmpose.inference.tracking import PoseTracker

__all__ = ["VideoPipeline", "boxes_from_keypoints"]


def boxes_from_keypoints(keypoints: np.ndarray, scores: np.ndarray, fallback: np.ndarray,
                         kpt_thr: float = 0.3, grow: float = 1.2, min_points: int = 4,
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


class VideoPipeline:
    def __init__(self, estimator, det_interval: int = 1, smooth: bool = True,
                 min_cutoff: float | None = None, beta: float | None = None,
                 track_metric: str = "oks", kpt_thr: float = 0.3, lost_ratio: float = 0.5,
                 default_fps: float = 30.0) -> None:
        self.est = estimator
        self.det_interval = max(1, int(det_interval))
        self.kpt_thr, self.lost_ratio, self.default_fps = kpt_thr, lost_ratio, default_fps
        self.tracker = PoseTracker(track_metric, threshold=0.3, max_age=max(10, det_interval),
                                   sigmas=estimator.metainfo.sigmas, kpt_thr=kpt_thr)
        params = {k: v for k, v in (("min_cutoff", min_cutoff), ("beta", beta)) if v is not None}
        self.smoother = PoseSmoother(**params) if smooth else None
        self.reset()

    def reset(self) -> None:
        self.frame_index = 0
        # (boxes, keypoints, scores, box_scores, detected boxes, mean scores when detected)
        self._prev = None
        self.tracker.reset()
        if self.smoother is not None:
            self.smoother.reset()

    def __call__(self, image: np.ndarray, timestamp: float | None = None):
        from lgmpose.inference.estimator import Person

        t = self.frame_index / self.default_fps if timestamp is None else float(timestamp)
        h, w = image.shape[:2]
        t0 = time.perf_counter()
        detect_now = self.frame_index % self.det_interval == 0 or self._prev is None
        if detect_now:
            boxes, box_scores = self.est.detect(image)
            ref = boxes
        else:
            pboxes, pkpts, pscores, box_scores, ref, ref_conf = self._prev
            boxes = boxes_from_keypoints(pkpts, pscores, pboxes, self.kpt_thr, reference=ref)
            x1y1 = np.clip(boxes[:, :2], 0, [w, h])
            x2y2 = np.clip(boxes[:, :2] + boxes[:, 2:], 0, [w, h])
            boxes = np.concatenate([x1y1, x2y2 - x1y1], axis=1)
            ok = (boxes[:, 2] > 2) & (boxes[:, 3] > 2)
            boxes, box_scores, ref, ref_conf = boxes[ok], box_scores[ok], ref[ok], ref_conf[ok]
        t1 = time.perf_counter()
        kpts, scores = self.est.estimate(image, boxes)
        t2 = time.perf_counter()
        if detect_now:
            ref_conf = scores.mean(1) if len(boxes) else np.zeros(0, np.float32)
        elif len(boxes):
            alive = scores.mean(1) >= self.lost_ratio * ref_conf
            boxes, kpts, scores = boxes[alive], kpts[alive], scores[alive]
            box_scores, ref, ref_conf = box_scores[alive], ref[alive], ref_conf[alive]
        ids = self.tracker.update(boxes, kpts, scores)
        self._prev = (boxes, kpts, scores, box_scores, ref, ref_conf) if len(boxes) else None
        if self.smoother is not None and len(boxes):
            kpts = self.smoother(ids, kpts, boxes, t)
        t3 = time.perf_counter()
        self.est.timings = {"detect": t1 - t0, "pose": t2 - t1, "track": t3 - t2}
        self.frame_index += 1
        return [Person(b.astype(np.float32), k, s, float(bs), int(i))
                for b, k, s, bs, i in zip(boxes, kpts, scores, box_scores, ids)]
