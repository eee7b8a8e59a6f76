"""MPII PCKh with the standard conventions (those of the MPII evaluation script as ported by
HRNet and MMPose, so numbers compare with published tables)."""
from __future__ import annotations

import os

import numpy as np

from lgmpose.errors import LgmposeError

__all__ = ["mpii_pckh", "load_mpii_gt"]

# Head size = 0.6 x the diagonal of the annotated head box.
HEAD_SIZE_FACTOR = 0.6
# Joint order of the MPII annotation; pelvis (6) and thorax (7) are left out of the means.
GROUPS = {"Head": (9,), "Shoulder": (12, 13), "Elbow": (11, 14), "Wrist": (10, 15),
          "Hip": (2, 3), "Knee": (1, 4), "Ankle": (0, 5)}
EXCLUDED = (6, 7)


def load_mpii_gt(gt_file) -> dict:
    """``jnt_missing [16, N]``, ``pos_gt_src [16, 2, N]`` (1-based pixels), ``headboxes_src [2, 2, N]``."""
    from scipy.io import loadmat

    if not os.path.isfile(gt_file):
        raise LgmposeError(f"MPII ground truth {str(gt_file)!r} does not exist")
    try:
        mat = loadmat(str(gt_file))
        gt = {key: np.asarray(mat[key], dtype=np.float64)
              for key in ("jnt_missing", "pos_gt_src", "headboxes_src")}
    except (ValueError, KeyError, OSError) as error:
        raise LgmposeError(f"MPII ground truth {str(gt_file)!r}: not an MPII gt .mat file "
                           f"({error})") from None
    return gt


def mpii_pckh(preds, gt_file, threshold: float = 0.5) -> dict:
    """PCKh of ``preds[N, 16, 2]`` (0-based pixels, the person order of ``gt_file``).

    Returns percentages: ``Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle`` (left/right averaged),
    ``Mean`` (over the 14 joints other than pelvis and thorax, weighted by their visible counts, as
    the standard script does), ``Mean@0.1`` and ``PCKh`` (= ``Mean``). ``Mean@0.1`` follows the
    HRNet/MMPose script, which reads the threshold 0.11 of its 0.01-step table; published tables
    use that value, so it is kept for comparison.
    """
    gt = gt_file if isinstance(gt_file, dict) else load_mpii_gt(gt_file)
    preds = np.asarray(preds, dtype=np.float64)
    visible = 1.0 - gt["jnt_missing"]                       # [16, N]
    n = visible.shape[1]
    if preds.shape != (n, 16, 2):
        raise LgmposeError(f"MPII predictions must have shape ({n}, 16, 2) to match "
                           f"{str(gt_file)!r}, got {preds.shape}")
    # GT is 1-based MATLAB pixels; predictions are 0-based.
    predicted = np.transpose(preds + 1.0, (1, 2, 0))          # [16, 2, N]
    errors = np.linalg.norm(predicted - gt["pos_gt_src"], axis=1)  # [16, N]
    head_boxes = gt["headboxes_src"]
    head_sizes = np.linalg.norm(head_boxes[1] - head_boxes[0], axis=0) * HEAD_SIZE_FACTOR  # [N]
    normalised = errors / head_sizes[None, :]
    counts = visible.sum(axis=1)                               # [16]

    def pck(thr: float) -> np.ndarray:
        hits = ((normalised <= thr) & (visible > 0)).sum(axis=1)
        return 100.0 * hits / np.maximum(counts, 1)

    weights = counts.copy()
    weights[list(EXCLUDED)] = 0.0
    weights /= weights.sum()
    at = pck(threshold)
    at_01 = pck(np.arange(0.0, 0.51, 0.01)[11])
    result = {name: float(np.mean(at[list(ids)])) for name, ids in GROUPS.items()}
    result["Mean"] = float((at * weights).sum())
    result["Mean@0.1"] = float((at_01 * weights).sum())
    result["PCKh"] = result["Mean"]
    return result
