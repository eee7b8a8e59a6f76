"""Pose estimation on video: a ``VideoPipeline`` owns a ``PoseEstimator`` and adds detection every
N frames, tracking and One-Euro smoothing.

    from lgmpose import PoseEstimator, VideoPipeline
    video = VideoPipeline(PoseEstimator(), det_interval=1, smooth=True)
    for t, frame in enumerate(frames):
        people = video(frame, timestamp=t / fps)     # person.track_id is set
    video.reset()                                    # before the next video

Between detection frames a person is followed with a box around their last keypoints; a person
whose keypoints fade (mean score below ``lost_ratio`` times the mean score they had on the last
detection frame: relative, because models differ in how confident they are) is dropped until the
next detection frame.
"""
from __future__ import annotations

import time

import numpy as np

from lgmpose.defaults import KPT_THR, LOST_RATIO
from lgmpose.detectors.boxes import boxes_from_keypoints
from lgmpose.inference.estimator import Person, PoseEstimator
from lgmpose.inference.media import as_image
from lgmpose.video.smoothing import PoseSmoother
from lgmpose.video.tracking import PoseTracker

__all__ = ["VideoPipeline"]


class VideoPipeline:
    """People in successive frames of one video, with stable ``track_id`` s (call in frame order;
    :meth:`reset` between videos). ``timings`` holds the last frame's seconds per stage
    (``detect``, ``pose``, ``track``)."""

    def __init__(self, estimator: PoseEstimator, det_interval: int = 1, smooth: bool = True,
                 min_cutoff: float | None = None, beta: float | None = None,
                 track_metric: str = "oks", kpt_thr: float = KPT_THR,
                 lost_ratio: float = LOST_RATIO, default_fps: float = 30.0) -> None:
        self.estimator = estimator
        self.det_interval = max(1, int(det_interval))
        self.kpt_thr, self.lost_ratio, self.default_fps = kpt_thr, lost_ratio, default_fps
        self.tracker = PoseTracker(track_metric, max_age=max(10, det_interval),
                                   sigmas=estimator.metainfo.sigmas, kpt_thr=kpt_thr)
        params = {k: v for k, v in (("min_cutoff", min_cutoff), ("beta", beta)) if v is not None}
        self.smoother = PoseSmoother(**params) if smooth else None
        self.timings: dict[str, float] = {}
        self.reset()

    def reset(self) -> None:
        self.frame_index = 0
        # (boxes, keypoints, scores, box_scores, detected boxes, mean scores when detected)
        self._prev = None
        self.tracker.reset()
        if self.smoother is not None:
            self.smoother.reset()

    def track(self, boxes: np.ndarray, kpts: np.ndarray, scores: np.ndarray, timestamp: float
              ) -> tuple[np.ndarray, np.ndarray]:
        """Track ids ``[N]`` and (smoothed) keypoints for one frame's people, in frame order.
        Per-frame poses made elsewhere (chunks of a video on several workers) are tracked with
        this, one video at a time, to give what ``__call__`` gives."""
        ids = self.tracker.update(boxes, kpts, scores)
        if self.smoother is not None and len(boxes):
            kpts = self.smoother(ids, kpts, boxes, timestamp)
        return ids, kpts

    def __call__(self, frame, timestamp: float | None = None) -> list[Person]:
        """The people in ``frame`` (a BGR array or a path); ``timestamp`` in seconds (default:
        the frame index at ``default_fps``) drives the smoothing."""
        image = as_image(frame)
        est = self.estimator
        t = self.frame_index / self.default_fps if timestamp is None else float(timestamp)
        h, w = image.shape[:2]
        t0 = time.perf_counter()
        detect_now = self.frame_index % self.det_interval == 0 or self._prev is None
        if detect_now:
            boxes, box_scores = est.detect(image)
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
        kpts, scores, quality = est.estimate(image, boxes, quality=True)
        t2 = time.perf_counter()
        if detect_now:
            ref_conf = scores.mean(1) if len(boxes) else np.zeros(0, np.float32)
        elif len(boxes):
            alive = scores.mean(1) >= self.lost_ratio * ref_conf
            boxes, kpts, scores, quality = boxes[alive], kpts[alive], scores[alive], quality[alive]
            box_scores, ref, ref_conf = box_scores[alive], ref[alive], ref_conf[alive]
        self._prev = (boxes, kpts, scores, box_scores, ref, ref_conf) if len(boxes) else None
        ids, kpts = self.track(boxes, kpts, scores, t)
        t3 = time.perf_counter()
        self.timings = {"detect": t1 - t0, "pose": t2 - t1, "track": t3 - t2}
        self.frame_index += 1
        return [Person(b.astype(np.float32), k, s, float(bs), int(i), float(q))
                for b, k, s, bs, i, q in zip(boxes, kpts, scores, box_scores, ids, quality)]
