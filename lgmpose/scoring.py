"""The instance score of a pose, shared by evaluation (ranking and OKS-NMS) and inference (the
``score`` of a person in predict's results), so that both rank people alike."""
from __future__ import annotations

import numpy as np

from lgmpose.defaults import RESCORE_THR

__all__ = ["rescore"]


def rescore(keypoint_scores, box_scores, rescore_thr: float = RESCORE_THR) -> np.ndarray:
    """The usual instance score: mean of the keypoint scores above ``rescore_thr`` (0 if none)
    times the detection score."""
    keypoint_scores = np.asarray(keypoint_scores, dtype=np.float64)
    confident = keypoint_scores > rescore_thr
    mean = (keypoint_scores * confident).sum(axis=-1) / np.maximum(confident.sum(axis=-1), 1)
    return mean * np.asarray(box_scores, dtype=np.float64)
