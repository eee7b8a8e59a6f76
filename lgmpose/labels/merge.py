"""Rules that merge ground-truth keypoints with a teacher's, and the person box they imply.

NumPy only. Keypoints are ``[K, 2]`` image pixels; ``labelled`` / ``scores`` are ``[K]``.

1. A ground-truth keypoint is kept where one exists (weight 1, confidence 1).
2. The teacher fills the others; one whose teacher score is below ``kpt_thr`` gets weight 0 (on 68
   COCO people, 88% of MoveNet Thunder's keypoints scoring above 0.3 lie within OKS 0.5 of the truth).
3. Left/right check: crowd-sourced labels sometimes swap every left/right pair. Where the teacher is
   confident on at least ``min_pairs`` pairs that the labels also have, and on every one of them
   the swapped assignment fits the teacher clearly better than the straight one, the labels' pairs
   are swapped back (the teacher and the labels agree on all pairs for most images; see
   :func:`lr_agreement`).
4. Per pair (``fix_pairs``, off by default; for crowd-sourced labels such as LSPET's, not for
   curated ones such as COCO's): crowd-sourced labels also swap single pairs (the legs of a runner,
   the arms of a gymnast). After rule 3, a pair that still fits the teacher only crossed, where
   the teacher is confident on both joints, takes the teacher's left/right assignment: the two
   ground-truth points are exchanged, their positions kept. The count is
   :attr:`MergedLabel.pairs_swapped`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lgmpose.data.metainfo import load_metainfo
from lgmpose.defaults import KPT_THR

__all__ = ["BODY_MARGINS", "MergedLabel", "box_from_keypoints", "crossed_pairs", "lr_agreement",
           "merge_labels"]

# Where a COCO person box lies around the extent of the 12 body joints (shoulders to ankles), as
# fractions of that extent: left, right, top, bottom. Medians over the coco-mini train2017 people
# with 10+ labelled body joints (the head sits above the shoulders, the feet below the ankles).
BODY_MARGINS = (0.15, 0.15, 0.26, 0.13)
_FACE = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
_BODY = tuple(i for i, name in enumerate(load_metainfo("coco").keypoint_names) if name not in _FACE)


@dataclass
class MergedLabel:
    keypoints: np.ndarray      # [K, 2] float32 image pixels
    labelled: np.ndarray       # [K] bool: has a target (ground truth or a confident teacher)
    scores: np.ndarray         # [K] float32: 1 for ground truth, the teacher's score otherwise
    from_teacher: np.ndarray   # [K] bool
    swapped: bool              # the labels' left/right pairs were swapped back
    pairs_checked: int         # pairs on which the left/right check could decide
    pairs_swapped: int = 0     # single pairs exchanged by rule 4


def crossed_pairs(gt: np.ndarray, gt_labelled: np.ndarray, teacher: np.ndarray,
                  teacher_scores: np.ndarray, flip_pairs: Sequence[tuple[int, int]],
                  kpt_thr: float, margin: float) -> tuple[list[tuple[int, int]],
                                                          list[tuple[int, int]]]:
    """``(straight, crossed)``: the pairs on which the labels match the teacher straight, and those
    on which they match it only with left and right exchanged. A pair counts when both joints are
    labelled, the teacher scores both above ``kpt_thr``, and one assignment beats the other by more
    than ``margin`` pixels (left and right close together decide nothing)."""
    straight_pairs: list[tuple[int, int]] = []
    crossed_list: list[tuple[int, int]] = []
    for a, b in flip_pairs:
        if not (gt_labelled[a] and gt_labelled[b]):
            continue
        if teacher_scores[a] < kpt_thr or teacher_scores[b] < kpt_thr:
            continue
        straight = np.linalg.norm(gt[a] - teacher[a]) + np.linalg.norm(gt[b] - teacher[b])
        crossed = np.linalg.norm(gt[a] - teacher[b]) + np.linalg.norm(gt[b] - teacher[a])
        if abs(straight - crossed) <= margin:
            continue
        (crossed_list if crossed < straight else straight_pairs).append((a, b))
    return straight_pairs, crossed_list


def lr_agreement(gt: np.ndarray, gt_labelled: np.ndarray, teacher: np.ndarray,
                 teacher_scores: np.ndarray, flip_pairs: Sequence[tuple[int, int]],
                 kpt_thr: float, margin: float) -> tuple[int, int]:
    """``(agree, swapped)``: how many pairs :func:`crossed_pairs` finds straight and crossed."""
    straight, crossed = crossed_pairs(gt, gt_labelled, teacher, teacher_scores, flip_pairs,
                                      kpt_thr, margin)
    return len(straight), len(crossed)


def merge_labels(gt: np.ndarray | None, gt_labelled: np.ndarray | None, teacher: np.ndarray,
                 teacher_scores: np.ndarray, flip_pairs: Sequence[tuple[int, int]],
                 kpt_thr: float = KPT_THR, min_pairs: int = 2, size: float = 100.0,
                 fix_pairs: bool = False, pair_thr: float = 0.4) -> MergedLabel:
    """Merge as the module docstring says. ``size`` (the person's box size in pixels) scales the
    left/right decision margin (5% of it); rule 4 needs the teacher at ``pair_thr`` or above on
    both joints of the pair."""
    teacher = np.asarray(teacher, np.float32)
    teacher_scores = np.asarray(teacher_scores, np.float32)
    k = teacher.shape[0]
    if gt is None:
        gt = np.zeros((k, 2), np.float32)
        gt_labelled = np.zeros(k, bool)
    gt = np.asarray(gt, np.float32).copy()
    gt_labelled = np.asarray(gt_labelled).astype(bool).copy()
    straight, crossed = crossed_pairs(gt, gt_labelled, teacher, teacher_scores, flip_pairs,
                                      kpt_thr, 0.05 * size)
    swapped = len(crossed) >= min_pairs and not straight
    if swapped:
        order = np.arange(k)
        for a, b in flip_pairs:
            order[a], order[b] = b, a
        gt, gt_labelled = gt[order], gt_labelled[order]
    pairs_swapped = 0
    if fix_pairs:
        _, crossed_now = crossed_pairs(gt, gt_labelled, teacher, teacher_scores, flip_pairs,
                                       max(kpt_thr, pair_thr), 0.05 * size)
        for a, b in crossed_now:
            gt[[a, b]] = gt[[b, a]]
        pairs_swapped = len(crossed_now)
    confident = teacher_scores >= kpt_thr
    from_teacher = ~gt_labelled & confident
    keypoints = np.where(gt_labelled[:, None], gt, teacher).astype(np.float32)
    scores = np.where(gt_labelled, 1.0, teacher_scores).astype(np.float32)
    labelled = gt_labelled | from_teacher
    keypoints[~labelled] = 0.0
    return MergedLabel(keypoints, labelled, scores, from_teacher, bool(swapped),
                       len(straight) + len(crossed), pairs_swapped)


def share_on_box(keypoints: np.ndarray, labelled: np.ndarray, box, margin: float = 0.1) -> float:
    """The share of the labelled keypoints that lie inside ``box`` ``[x, y, w, h]`` grown by
    ``margin`` of its width / height on each side (1.0 when none is labelled)."""
    keypoints = np.asarray(keypoints, np.float32).reshape(-1, 2)
    labelled = np.asarray(labelled).astype(bool).reshape(-1)
    if not labelled.any():
        return 1.0
    x, y, w, h = (float(v) for v in box)
    pts = keypoints[labelled]
    inside = ((pts[:, 0] >= x - margin * w) & (pts[:, 0] <= x + (1 + margin) * w)
              & (pts[:, 1] >= y - margin * h) & (pts[:, 1] <= y + (1 + margin) * h))
    return float(inside.mean())


def box_from_keypoints(keypoints: np.ndarray, labelled: np.ndarray,
                       image_size: tuple[int, int] | None = None,
                       margins: Sequence[float] = BODY_MARGINS) -> np.ndarray | None:
    """A COCO-like person box ``[x, y, w, h]`` from labelled keypoints: the extent of the body
    joints (all labelled joints when fewer than 4 body joints are) grown by ``margins``, clipped
    to ``image_size=(H, W)``. None when fewer than 2 joints are labelled."""
    keypoints = np.asarray(keypoints, np.float32)
    labelled = np.asarray(labelled).astype(bool)
    body = [i for i in _BODY if i < len(labelled) and labelled[i]]
    ids = body if len(body) >= 4 else list(np.nonzero(labelled)[0])
    if len(ids) < 2:
        return None
    pts = keypoints[ids]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    # a person lying down or seen from the side has a thin extent: grow by the longer side
    w, h = max(x1 - x0, 0.25 * (y1 - y0)), max(y1 - y0, 0.25 * (x1 - x0))
    left, right, top, bottom = margins
    bx0, bx1 = x0 - left * w, x1 + right * w
    by0, by1 = y0 - top * h, y1 + bottom * h
    if image_size is not None:
        ih, iw = image_size
        bx0, by0 = max(bx0, 0.0), max(by0, 0.0)
        bx1, by1 = min(bx1, iw - 1.0), min(by1, ih - 1.0)
    if bx1 <= bx0 or by1 <= by0:
        return None
    return np.array([bx0, by0, bx1 - bx0, by1 - by0], np.float32)
