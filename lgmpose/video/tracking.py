"""Greedy pose tracking: each person in a frame takes the id of the most similar recent track.

Similarity is the larger of box IoU and OKS (keypoint similarity with the dataset's sigmas, over
the track's confident keypoints): OKS keeps fast movers whose boxes barely overlap between frames,
IoU keeps people whose keypoints are uncertain or wrong. Pairs are taken best first; a person
whose best remaining similarity is below ``threshold`` starts a new track. A track not seen
for ``max_age`` frames is dropped. Simple, deterministic and fast (a few microseconds per person),
which is what a real-time pipeline needs; it does not re-identify people after long occlusions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lgmpose.defaults import KPT_THR, TRACK_THR
from lgmpose.detectors.boxes import box_iou, xywh_to_xyxy

__all__ = ["PoseTracker", "oks_matrix"]


def oks_matrix(kpts_a: np.ndarray, kpts_b: np.ndarray, areas_b: np.ndarray, sigmas: np.ndarray,
               valid_b: np.ndarray | None = None) -> np.ndarray:
    """OKS ``[len(a), len(b)]`` of poses ``a [N, K, 2]`` against poses ``b [M, K, 2]`` of ``areas_b``."""
    a = np.asarray(kpts_a, np.float32)[:, None]
    b = np.asarray(kpts_b, np.float32)[None]
    d2 = ((a - b) ** 2).sum(-1)                                   # [N, M, K]
    var = (2 * np.asarray(sigmas, np.float32)) ** 2
    e = d2 / (2 * var[None, None] * (np.asarray(areas_b, np.float32)[None, :, None] + 1e-6))
    sim = np.exp(-e)
    if valid_b is None:
        return sim.mean(-1)
    w = np.asarray(valid_b, np.float32)[None]                     # [1, M, K]
    return (sim * w).sum(-1) / np.maximum(w.sum(-1), 1.0)


@dataclass
class _Track:
    track_id: int
    box: np.ndarray          # xywh
    keypoints: np.ndarray | None
    scores: np.ndarray | None
    last_seen: int


class PoseTracker:
    """``update(boxes, keypoints, scores) -> ids`` once per frame."""

    def __init__(self, metric: str = "oks", threshold: float = TRACK_THR, max_age: int = 10,
                 sigmas: np.ndarray | None = None, kpt_thr: float = KPT_THR) -> None:
        if metric not in ("oks", "iou"):
            raise ValueError(f"tracking metric must be 'oks' or 'iou', got {metric!r}")
        self.metric, self.threshold, self.max_age = metric, threshold, max_age
        self.sigmas = sigmas
        self.kpt_thr = kpt_thr
        self.frame = -1
        self.next_id = 0
        self.tracks: list[_Track] = []

    def reset(self) -> None:
        self.frame, self.next_id, self.tracks = -1, 0, []

    def _similarity(self, boxes, keypoints, scores) -> np.ndarray:
        old_boxes = np.array([t.box for t in self.tracks], np.float32).reshape(-1, 4)
        iou = box_iou(xywh_to_xyxy(boxes), xywh_to_xyxy(old_boxes))
        have_kpts = (self.metric == "oks" and keypoints is not None and self.sigmas is not None
                     and all(t.keypoints is not None for t in self.tracks))
        if not have_kpts or len(self.tracks) == 0:
            return iou
        old_k = np.stack([t.keypoints for t in self.tracks])
        old_s = np.stack([t.scores for t in self.tracks])
        areas = old_boxes[:, 2] * old_boxes[:, 3]
        oks = oks_matrix(keypoints, old_k, areas, self.sigmas, valid_b=old_s > self.kpt_thr)
        # A track whose keypoints are all uncertain is matched by its box alone.
        oks = np.where((old_s > self.kpt_thr).any(-1)[None], oks, 0.0)
        return np.maximum(iou, oks)

    def update(self, boxes: np.ndarray, keypoints: np.ndarray | None = None,
               scores: np.ndarray | None = None) -> np.ndarray:
        """Ids ``[N]`` (int64) for this frame's people; call once per frame, in order."""
        self.frame += 1
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        n = len(boxes)
        ids = np.full(n, -1, np.int64)
        self.tracks = [t for t in self.tracks if self.frame - t.last_seen <= self.max_age]
        if n and self.tracks:
            sim = self._similarity(boxes, keypoints, scores)
            pairs = np.dstack(np.unravel_index(np.argsort(-sim, axis=None), sim.shape))[0]
            used_new, used_old = set(), set()
            for i, j in pairs:
                if sim[i, j] < self.threshold:
                    break
                if i in used_new or j in used_old:
                    continue
                used_new.add(i)
                used_old.add(j)
                ids[i] = self.tracks[j].track_id
                self._refresh(self.tracks[j], boxes[i], keypoints, scores, i)
        for i in np.nonzero(ids < 0)[0]:
            track = _Track(self.next_id, boxes[i], None, None, self.frame)
            self._refresh(track, boxes[i], keypoints, scores, i)
            self.tracks.append(track)
            ids[i] = self.next_id
            self.next_id += 1
        return ids

    def _refresh(self, track: _Track, box, keypoints, scores, i) -> None:
        track.box = np.asarray(box, np.float32)
        track.keypoints = None if keypoints is None else np.asarray(keypoints[i], np.float32)
        track.scores = None if scores is None else np.asarray(scores[i], np.float32)
        track.last_seen = self.frame
