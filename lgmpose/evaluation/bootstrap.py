"""How far a COCO AP measured on a few people can be trusted: a bootstrap over the pictures.

On a small test set (68 people) AP moves by a few hundredths when a handful of people change, so a
figure alone says little. Here the pictures are drawn with replacement as many times as there are
pictures, the ground truth and every model's results of each drawn picture are copied under a new
picture id, and pycocotools scores each model on that set; ``replicates`` such sets give each
model's 2.5th and 97.5th percentile AP, and, because every model is scored on the same draws, the
same interval for each model's AP minus the first model's (a paired comparison: an interval that
excludes 0 is a difference this set can show).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lgmpose.evaluation.coco import coco_keypoint_ap

__all__ = ["bootstrap_ap"]


def _by_image(items: Sequence[dict]) -> dict[Any, list[dict]]:
    grouped: dict[Any, list[dict]] = {}
    for item in items:
        grouped.setdefault(item["image_id"], []).append(item)
    return grouped


def bootstrap_ap(ground_truth: dict, results: Sequence[Sequence[dict]], replicates: int = 1000,
                 seed: int = 0, sigmas=None, level: float = 0.95) -> dict[str, Any]:
    """Percentile intervals of each model's COCO AP over ``replicates`` resamplings of the pictures.

    ``ground_truth``: a COCO keypoint dataset dict; ``results``: one list of COCO result dicts per
    model. Returns ``{"replicates", "level", "pictures", "ap": [[low, high], ...] per model,
    "difference": [None, [low, high], ...]}`` (each model's AP minus the first's, paired).
    """
    if replicates < 1:
        raise ValueError("replicates must be at least 1")
    pictures = sorted({a["image_id"] for a in ground_truth["annotations"]
                       if a.get("num_keypoints", 0) and not a.get("iscrowd", 0)})
    truth_of = _by_image(ground_truth["annotations"])
    results_of = [_by_image(r) for r in results]
    rng = np.random.default_rng(seed)
    scores = np.empty((replicates, len(results)))
    for rep in range(replicates):
        drawn = rng.integers(0, len(pictures), size=len(pictures))
        images, annotations, model_results = [], [], [[] for _ in results]
        for slot, index in enumerate(drawn, start=1):
            picture = pictures[index]
            images.append({"id": slot})
            for ann in truth_of.get(picture, []):
                annotations.append({**ann, "image_id": slot, "id": len(annotations) + 1})
            for found, out in zip(results_of, model_results):
                out.extend({**r, "image_id": slot} for r in found.get(picture, []))
        dataset = {"images": images, "annotations": annotations,
                   "categories": ground_truth["categories"]}
        for m, out in enumerate(model_results):
            scores[rep, m] = coco_keypoint_ap(out, dataset, sigmas=sigmas)["AP"]
    tail = (1.0 - level) / 2 * 100
    bounds = [tail, 100 - tail]

    def interval(values: np.ndarray) -> list[float]:
        low, high = np.percentile(values, bounds)
        return [round(float(low), 4), round(float(high), 4)]

    return {"replicates": replicates, "level": level, "pictures": len(pictures),
            "ap": [interval(scores[:, m]) for m in range(len(results))],
            "difference": [None] + [interval(scores[:, m] - scores[:, 0])
                                    for m in range(1, len(results))]}
