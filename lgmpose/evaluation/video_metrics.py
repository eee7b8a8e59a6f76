"""Jitter of tracked keypoints, to measure what smoothing and sparse detection do on a video.

Jitter = the mean magnitude of a keypoint's second difference over three consecutive frames of
the same track, ``|p[t+1] - 2 p[t] + p[t-1]|``, in percent of the person's box height: a still or
steadily moving point scores 0, a point that shakes scores high. Only keypoints scoring at least
``kpt_thr`` in all three frames count.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from lgmpose.defaults import KPT_THR

__all__ = ["keypoint_jitter", "mean_shift"]


def _tracks(results: list[dict]) -> dict[int, dict[int, tuple[np.ndarray, float]]]:
    tracks: dict[int, dict[int, tuple[np.ndarray, float]]] = defaultdict(dict)
    for r in results:
        if "track_id" not in r:
            continue
        kpts = np.asarray(r["keypoints"], np.float32).reshape(-1, 3)
        tracks[int(r["track_id"])][int(r["frame"])] = (kpts, float(r["bbox"][3]))
    return tracks


def keypoint_jitter(results: list[dict], kpt_thr: float = KPT_THR) -> tuple[float, int]:
    """(mean jitter in % of box height, number of keypoint triples) of COCO-style video results
    with ``track_id`` and ``frame`` (as ``lgmpose predict`` writes them)."""
    values = []
    for frames in _tracks(results).values():
        for t, (k1, height) in frames.items():
            if t - 1 not in frames or t + 1 not in frames:
                continue
            k0, k2 = frames[t - 1][0], frames[t + 1][0]
            ok = (k0[:, 2] >= kpt_thr) & (k1[:, 2] >= kpt_thr) & (k2[:, 2] >= kpt_thr)
            acc = np.linalg.norm(k2[ok, :2] - 2 * k1[ok, :2] + k0[ok, :2], axis=1)
            values.extend((100.0 * acc / max(height, 1.0)).tolist())
    return (float(np.mean(values)) if values else 0.0), len(values)


def mean_shift(results_a: list[dict], results_b: list[dict], kpt_thr: float = KPT_THR) -> float:
    """Mean distance (% of box height) between the same track's keypoints in two runs of the
    same video, e.g. smoothed vs raw: how far smoothing moves points (its lag, roughly)."""
    a, b = _tracks(results_a), _tracks(results_b)
    values = []
    for tid, frames in a.items():
        for t, (ka, height) in frames.items():
            if tid in b and t in b[tid]:
                kb = b[tid][t][0]
                ok = (ka[:, 2] >= kpt_thr) & (kb[:, 2] >= kpt_thr)
                d = np.linalg.norm(ka[ok, :2] - kb[ok, :2], axis=1)
                values.extend((100.0 * d / max(height, 1.0)).tolist())
    return float(np.mean(values)) if values else 0.0
