"""Greedy IoU/OKS tracking, One-Euro smoothing and boxes from keypoints."""
from __future__ import annotations

import numpy as np
import pytest

from lgmpose.data.metainfo import load_metainfo
from lgmpose.detectors.boxes import boxes_from_keypoints
from lgmpose.video.smoothing import OneEuroFilter, PoseSmoother
from lgmpose.video.tracking import PoseTracker, oks_matrix

SIGMAS = load_metainfo("coco").sigmas


def _pose(x, y, size=100.0, k=17):
    rng = np.random.default_rng(k)
    offsets = rng.uniform(-0.4, 0.4, (k, 2)) * size
    return np.array([x, y], np.float32) + offsets.astype(np.float32)


def test_iou_tracker_keeps_ids_of_moving_boxes():
    tracker = PoseTracker("iou")
    a, b = np.array([10, 10, 50, 100.]), np.array([200, 20, 50, 100.])
    first = tracker.update(np.stack([a, b]))
    assert first.tolist() == [0, 1]
    for step in range(1, 6):
        # order swapped and both moved: ids must follow the boxes, not the order
        ids = tracker.update(np.stack([b + [3 * step, 0, 0, 0], a + [2 * step, 0, 0, 0]]))
        assert ids.tolist() == [1, 0]
    ids = tracker.update(np.stack([a + [10, 0, 0, 0], [400, 300, 50, 100.]]))
    assert ids.tolist() == [0, 2]            # a newcomer gets a fresh id


def test_tracks_expire_after_max_age():
    tracker = PoseTracker("iou", max_age=2)
    box = np.array([[10, 10, 50, 100.]])
    assert tracker.update(box).tolist() == [0]
    for _ in range(3):
        tracker.update(np.zeros((0, 4)))
    assert tracker.update(box).tolist() == [1]


def test_oks_tracker_separates_overlapping_boxes_by_pose():
    tracker = PoseTracker("oks", sigmas=SIGMAS)
    box = np.array([[0, 0, 100, 100.], [5, 0, 100, 100.]])
    p0, p1 = _pose(50, 50), _pose(50, 50)[::-1].copy()   # same box, different keypoints
    kpts = np.stack([p0, p1])
    scores = np.ones((2, 17), np.float32)
    assert tracker.update(box, kpts, scores).tolist() == [0, 1]
    ids = tracker.update(box[::-1].copy(), kpts[::-1].copy() + 1, scores)
    assert ids.tolist() == [1, 0]


def test_oks_matrix_identity_and_distance():
    p = _pose(50, 50)[None]
    assert oks_matrix(p, p, np.array([1e4]), SIGMAS)[0, 0] == pytest.approx(1.0)
    far = oks_matrix(p, p + 50, np.array([1e4]), SIGMAS)[0, 0]
    assert far < 0.2


def test_one_euro_reduces_jitter_and_follows_motion():
    rng = np.random.default_rng(0)
    filt = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    t = np.arange(100) / 30.0
    noisy = 100 + rng.normal(0, 2, 100)
    out = np.array([filt(np.array([v]), ti)[0] for v, ti in zip(noisy, t)])
    assert np.std(np.diff(out[10:])) < 0.5 * np.std(np.diff(noisy[10:]))
    # a fast ramp: with beta the filter lags much less than without
    ramp = np.arange(60) * 10.0
    lag = {}
    for beta in (0.0, 1.0):
        f = OneEuroFilter(min_cutoff=1.0, beta=beta)
        res = np.array([f(np.array([v]), i / 30.0)[0] for i, v in enumerate(ramp)])
        lag[beta] = ramp[-1] - res[-1]
    assert lag[1.0] < 0.3 * lag[0.0]


def test_pose_smoother_keeps_tracks_apart_and_forgets():
    smoother = PoseSmoother(forget_after=0.5)
    boxes = np.array([[0, 0, 100, 100.], [200, 0, 100, 100.]])
    k = np.stack([_pose(50, 50), _pose(250, 50)])
    out = smoother(np.array([0, 1]), k, boxes, 0.0)
    assert np.allclose(out, k)
    out = smoother(np.array([0, 1]), k + 2, boxes, 1 / 30)
    assert np.all(np.abs(out - k) < 2) and np.all(out > k - 1e-3)
    smoother(np.array([0]), k[:1], boxes[:1], 2.0)
    assert set(smoother._filters) == {0}


def test_boxes_from_keypoints():
    kpts = np.array([[[10, 20], [30, 60], [20, 40], [15, 50]]], np.float32)
    scores = np.array([[0.9, 0.9, 0.9, 0.9]], np.float32)
    box = boxes_from_keypoints(kpts, scores, fallback=np.array([[0, 0, 1, 1.]]), grow=1.0)
    assert np.allclose(box, [[10, 20, 20, 40]])
    weak = boxes_from_keypoints(kpts, scores * 0.1, fallback=np.array([[0, 0, 1, 1.]]))
    assert np.allclose(weak, [[0, 0, 1, 1]])


def test_jitter_metric():
    from lgmpose.evaluation.video_metrics import keypoint_jitter, mean_shift

    def results(noise):
        rng = np.random.default_rng(1)
        out = []
        for t in range(20):
            k = np.zeros((17, 3), np.float32)
            k[:, 0] = 10 + 2 * t + rng.normal(0, noise, 17)     # steady motion + noise
            k[:, 1] = 50
            k[:, 2] = 1
            out.append({"track_id": 0, "frame": t, "keypoints": k.reshape(-1).tolist(),
                        "bbox": [0, 0, 50, 100]})
        return out

    still, _ = keypoint_jitter(results(0.0))
    shaky, n = keypoint_jitter(results(1.0))
    assert still == pytest.approx(0.0, abs=1e-4) and shaky > 1.0 and n == 18 * 17
    assert mean_shift(results(0.0), results(0.0)) == 0.0
