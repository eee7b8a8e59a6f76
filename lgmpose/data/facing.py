"""Which way a person faces: towards the camera or away from it, told by their shoulders and hips.

Used to pick back views out of a training set (``facing: away`` in a config's ``data.train``) and
to group people in ``lgmpose accuracy --breakdown``.
"""
from __future__ import annotations

import numpy as np

from lgmpose.data.metainfo import load_metainfo

__all__ = ["AWAY", "SIDE_VIEW", "TOWARDS", "UNDECIDED", "facing"]

TOWARDS, AWAY, UNDECIDED = 1, -1, 0
_L_SHOULDER, _R_SHOULDER, _L_HIP, _R_HIP = (
    load_metainfo("coco").index(name) for name in ("left_shoulder", "right_shoulder", "left_hip",
                                                   "right_hip"))
# below this (left-right extent against the torso's length, squared) a person is seen from the side
SIDE_VIEW = 0.15


def facing(keypoints: np.ndarray, labelled: np.ndarray | None = None) -> np.ndarray:
    """+1 for people facing the camera, -1 facing away, 0 undecided, for ``keypoints [N, 17, 2+]``.

    A person faces the camera when their left shoulder and left hip are on the right of their
    right ones, seen along the body's own up direction (hips to shoulders), so people upside down
    or lying are judged like standing ones. Undecided: a shoulder or hip not ``labelled [N, 17]``
    (default: all labelled), or both pairs nearly in line with the body (a side view).
    """
    points = np.asarray(keypoints, dtype=np.float64)[..., :2]
    if points.ndim == 2:
        return facing(points[None], None if labelled is None else np.asarray(labelled)[None])[0]
    known = (np.ones(points.shape[:2], bool) if labelled is None
             else np.asarray(labelled, bool))
    up = (points[:, _L_SHOULDER] + points[:, _R_SHOULDER] - points[:, _L_HIP]
          - points[:, _R_HIP]) / 2.0
    across = (points[:, _L_SHOULDER] - points[:, _R_SHOULDER]
              + points[:, _L_HIP] - points[:, _R_HIP])
    # image y points down: for an upright person facing us, left is at larger x, up is -y
    cross = across[:, 0] * up[:, 1] - across[:, 1] * up[:, 0]
    side = np.abs(cross) / np.maximum((up ** 2).sum(axis=1), 1e-9)
    result = np.where(cross < 0, TOWARDS, AWAY)
    usable = known[:, [_L_SHOULDER, _R_SHOULDER, _L_HIP, _R_HIP]].all(axis=1) & (side >= SIDE_VIEW)
    return np.where(usable, result, UNDECIDED)
