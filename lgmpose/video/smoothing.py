"""One-Euro filtering of keypoints over video frames (Casiez, Roussel and Vogel, CHI 2012).

A low-pass filter whose cut-off frequency grows with the speed of the signal: still keypoints are
smoothed hard (less jitter), fast ones follow quickly (little lag). Speeds are measured in units
of the person's size (box diagonal per second), so one setting fits near and far people alike; the
defaults were chosen on ``vtest.avi`` (see ``docs/inference.md``).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["OneEuroFilter", "PoseSmoother"]


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filters an array of any fixed shape, one sample at a time (``t`` in seconds)."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        """The filtered ``x``; ``scale`` divides the speed before it raises the cut-off."""
        x = np.asarray(x, np.float64)
        if self._x is None or self._t is None or t <= self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        dx = (x - self._x) / dt
        a_d = _alpha(self.d_cutoff, dt)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx) / scale
        a = _alpha(cutoff, dt)
        self._x = a * x + (1 - a) * self._x
        self._t = t
        return self._x.copy()


class PoseSmoother:
    """One filter per track id; ``__call__(ids, keypoints, boxes, t)`` returns smoothed keypoints.

    Tracks not updated for ``forget_after`` seconds are dropped.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 2.0, d_cutoff: float = 1.0,
                 forget_after: float = 1.0) -> None:
        self.params = dict(min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff)
        self.forget_after = forget_after
        self._filters: dict[int, tuple[OneEuroFilter, float]] = {}

    def reset(self) -> None:
        self._filters.clear()

    def __call__(self, ids: np.ndarray, keypoints: np.ndarray, boxes: np.ndarray,
                 t: float) -> np.ndarray:
        keypoints = np.asarray(keypoints, np.float32)
        out = keypoints.copy()
        for n, (track_id, kpts, box) in enumerate(zip(ids, keypoints, boxes)):
            size = max(float(np.hypot(box[2], box[3])), 1.0)
            filt, _ = self._filters.get(int(track_id), (None, 0.0))
            if filt is None:
                filt = OneEuroFilter(**self.params)
            out[n] = filt(kpts, t, scale=size).astype(np.float32)
            self._filters[int(track_id)] = (filt, t)
        self._filters = {k: v for k, v in self._filters.items() if t - v[1] <= self.forget_after}
        return out
