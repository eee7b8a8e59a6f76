"""Where a model loses OKS: each person's OKS, grouped by what makes people hard.

``lgmpose accuracy --coco ... --breakdown`` prints, for every model, the mean OKS of the people in
each group (ground-truth boxes, one prediction per person, so a person's OKS is COCOeval's OKS of
that pair):

* **size**: COCO's area ranges (small < 32^2, medium up to 96^2, large above; the annotation's
  ``area``, as COCOeval uses it);
* **labelled keypoints**: 1-7, 8-12, 13-17 (few labelled keypoints: a person cut off or hidden);
* **overlap**: the largest IoU of the person's box with any other person box of the image,
  crowd and keypoint-less annotations included (a neighbour in the crop);
* **facing**: towards the camera or away from it, told by the ground truth's shoulders and hips
  (:func:`lgmpose.data.facing.facing`); people seen from the side, or without both shoulders and
  both hips, are not grouped. For each model, the report also counts the people whose predicted
  pose faces the other way: a left/right mix-up of the whole body, which OKS punishes on every
  limb.

AP itself cannot be split this way (it ranks all people together); mean OKS can, and on the same
people it moves with AP.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lgmpose.data.facing import AWAY, TOWARDS
from lgmpose.data.metainfo import load_metainfo

__all__ = ["person_oks", "max_overlap", "group_people", "breakdown_rows", "GROUPS"]

GROUPS: dict[str, list[str]] = {
    "size": ["small (< 32^2)", "medium (32^2-96^2)", "large (> 96^2)"],
    "labelled keypoints": ["1-7", "8-12", f"13-{load_metainfo('coco').num_keypoints}"],
    "overlap (IoU with a neighbour)": ["none", "0-0.1", "0.1-0.3", ">= 0.3"],
    "facing": ["towards the camera", "away from the camera"],
}


def person_oks(keypoints: np.ndarray, truth: np.ndarray, areas: np.ndarray, sigmas: Sequence[float]
               ) -> np.ndarray:
    """COCOeval's OKS of each prediction ``keypoints [N, K, 2+]`` with its own ground-truth person
    ``truth [N, K, 3]`` (v > 0 labelled) of ``areas [N]``: the mean over the labelled keypoints
    of ``exp(-d^2 / (2 area (2 sigma)^2))``; NaN for a person with none labelled."""
    truth = np.asarray(truth, dtype=np.float64)
    d2 = ((np.asarray(keypoints, dtype=np.float64)[..., :2] - truth[..., :2]) ** 2).sum(axis=-1)
    variances = (2.0 * np.asarray(sigmas, dtype=np.float64)) ** 2
    similarity = np.exp(-d2 / variances[None] / (np.asarray(areas, np.float64)[:, None]
                                                 + np.spacing(1)) / 2.0)
    labelled = truth[..., 2] > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return (similarity * labelled).sum(axis=1) / labelled.sum(axis=1)


def max_overlap(boxes: np.ndarray, others: np.ndarray, self_index: Sequence[int]) -> np.ndarray:
    """For each box ``boxes [N, 4]`` (xywh), the largest IoU with any box of ``others [M, 4]`` of
    the same image except itself (``others[self_index[n]]`` is box n; -1 if it is not there)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    others = np.asarray(others, dtype=np.float64).reshape(-1, 4)
    if len(others) == 0:
        return np.zeros(len(boxes))
    x1 = np.maximum(boxes[:, None, 0], others[None, :, 0])
    y1 = np.maximum(boxes[:, None, 1], others[None, :, 1])
    x2 = np.minimum(boxes[:, None, 0] + boxes[:, None, 2], others[None, :, 0] + others[None, :, 2])
    y2 = np.minimum(boxes[:, None, 1] + boxes[:, None, 3], others[None, :, 1] + others[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = (boxes[:, 2] * boxes[:, 3])[:, None] + (others[:, 2] * others[:, 3])[None] - inter
    iou = inter / np.maximum(union, 1e-9)
    for n, own in enumerate(self_index):
        if own >= 0:
            iou[n, own] = 0.0
    return iou.max(axis=1)


def group_people(areas: np.ndarray, labelled: np.ndarray, overlaps: np.ndarray,
                 facings: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """``{group: {bucket: boolean mask [N]}}`` for the groups in :data:`GROUPS`, from each person's
    annotated area, number of labelled keypoints, largest IoU with a neighbour and facing."""
    areas, labelled = np.asarray(areas, np.float64), np.asarray(labelled)
    overlaps, facings = np.asarray(overlaps, np.float64), np.asarray(facings)
    masks = {
        "size": [areas < 32 ** 2, (areas >= 32 ** 2) & (areas <= 96 ** 2), areas > 96 ** 2],
        "labelled keypoints": [labelled <= 7, (labelled >= 8) & (labelled <= 12), labelled >= 13],
        "overlap (IoU with a neighbour)": [overlaps <= 0, (overlaps > 0) & (overlaps < 0.1),
                                           (overlaps >= 0.1) & (overlaps < 0.3), overlaps >= 0.3],
        "facing": [facings == TOWARDS, facings == AWAY],
    }
    return {group: dict(zip(GROUPS[group], masks[group])) for group in GROUPS}


def breakdown_rows(groups: dict[str, dict[str, np.ndarray]], oks: Sequence[np.ndarray],
                   truth_facing: np.ndarray, predicted_facing: Sequence[np.ndarray]
                   ) -> dict[str, Any]:
    """The report's ``breakdown``: for each group and bucket the number of people and every
    model's mean OKS (``None`` where the bucket is empty), and for every model how many people
    facing each way it turned the other way."""
    buckets = []
    for group, parts in groups.items():
        for bucket, mask in parts.items():
            count = int(mask.sum())
            buckets.append({"group": group, "bucket": bucket, "persons": count,
                            "mean_oks": [round(float(np.nanmean(o[mask])), 4) if count else None
                                         for o in oks]})
    truth_facing = np.asarray(truth_facing)
    turned = []
    for predicted in predicted_facing:
        predicted = np.asarray(predicted)
        turned.append({way: int(((truth_facing == sign) & (predicted == -sign)).sum())
                       for way, sign in (("towards", TOWARDS), ("away", AWAY))})
    return {"buckets": buckets, "facing_persons": {"towards": int((truth_facing == TOWARDS).sum()),
                                                   "away": int((truth_facing == AWAY).sum())},
            "turned": turned}
