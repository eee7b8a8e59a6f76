"""How sure a pose is, read from its own heatmaps: the expected OKS of the decoded keypoints.

Each heatmap, read as a distribution over the keypoint's position, gives the expected OKS
similarity of the decoded point; their mean multiplies the instance score, so that poses whose
heatmap mass is spread or split rank below sharp ones (docs/inference.md has the measurements).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lgmpose.defaults import BOX_PADDING

__all__ = ["SEGMENT_TO_BOX", "expected_oks", "pose_quality"]

# A COCO person's segment area (OKS's s^2) against their box's: median 0.535 over the 1,354 people
# with keypoints of val2017's annotations.
SEGMENT_TO_BOX = 0.53


def expected_oks(heatmaps: np.ndarray, keypoints: np.ndarray, grid: tuple[np.ndarray, np.ndarray],
                 sigmas: Sequence[float], area) -> np.ndarray:
    """``[B, K]`` expected OKS similarity of ``keypoints [B, K, 2]`` under ``heatmaps [B, K, h, w]``
    read as distributions (negative values clipped, each map normalised to sum 1; an empty map
    gives 0). ``grid`` is ``(xs [w], ys [h])``, each heatmap column's and row's position in the
    keypoints' units; ``area`` (one number or ``[B]``) is the person's OKS area ``s^2`` in the same
    units squared."""
    maps = np.clip(np.asarray(heatmaps, dtype=np.float32), 0.0, None)
    total = maps.sum(axis=(2, 3))
    xs, ys = (np.asarray(g, dtype=np.float32) for g in grid)
    points = np.asarray(keypoints, dtype=np.float32)
    areas = np.broadcast_to(np.asarray(area, np.float32), maps.shape[:1])
    tolerance = (2.0 * areas[:, None] * (2.0 * np.asarray(sigmas, np.float32)) ** 2)[..., None]
    # the 2-D Gaussian factorises: exp(-(dx^2 + dy^2) / t) = exp(-dx^2 / t) * exp(-dy^2 / t)
    along_x = np.exp(-(xs[None, None, :] - points[..., 0:1]) ** 2 / tolerance)
    along_y = np.exp(-(ys[None, None, :] - points[..., 1:2]) ** 2 / tolerance)
    weighted = np.einsum("bkhw,bkh,bkw->bk", maps, along_y, along_x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, weighted / total, 0.0).astype(np.float32)


def pose_quality(codec, heatmaps: np.ndarray, keypoints: np.ndarray, sigmas: Sequence[float],
                 box_share: np.ndarray | float | None = None) -> np.ndarray:
    """``[B]``: the mean over the keypoints of :func:`expected_oks`, for the crops' ``heatmaps
    [B, K, h, w]`` and the ``codec``'s decoded ``keypoints [B, K, 2]`` (input-crop pixels).

    A person's OKS area is their box's area in the crop times :data:`SEGMENT_TO_BOX`; ``box_share``
    (``[B]`` or one number) is the box's area over the crop's, both in image pixels (default: a
    box whose aspect ratio is the crop's, ``1 / BOX_PADDING^2``: the crop is that much larger on
    each axis).
    """
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    if heatmaps.shape[0] == 0:
        return np.zeros(0, np.float32)
    h, w = heatmaps.shape[2:]
    xs = codec.to_input(np.stack([np.arange(w), np.zeros(w)], axis=1))[:, 0]
    ys = codec.to_input(np.stack([np.zeros(h), np.arange(h)], axis=1))[:, 1]
    h_in, w_in = codec.input_size
    share = 1.0 / BOX_PADDING ** 2 if box_share is None else box_share
    areas = np.asarray(share, np.float32) * (h_in * w_in * SEGMENT_TO_BOX)
    return expected_oks(heatmaps, keypoints, (xs, ys), sigmas, areas).mean(axis=1)
