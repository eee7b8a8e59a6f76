"""People cut off by the picture's border, made from fully pictured ones (``lgmpose accuracy
--truncate``).

COCO is full of people whose picture ends at their waist or chest (close-ups, people at the
frame's edge); sports photo sets such as LSPET hardly have any, so a model chosen on them is never
tested on such people. This cuts every person of a labelled set the way
:func:`lgmpose.data.transforms.random_truncation` cuts training crops: one side of the picture
(the bottom for 60% of the people, a side for 30%, the top for 10%) ends at a line keeping a random
fraction (25-85%) of the labelled keypoints' extent, the pixels beyond it become black (what a
crop sees beyond a picture's border), the keypoints beyond it are no longer labelled, and the box
ends at the line. People with too few labelled keypoints are left whole. The cuts depend only on
the seed and the person's position in the file, so every model and every run sees the same
people.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from lgmpose.data import transforms as T
from lgmpose.defaults import BOX_PADDING

__all__ = ["EVAL_KEEP", "truncate_person", "truncate_people", "blank_beyond"]

# down to the chest at the most (COCO's close-ups), at least some of the legs cut off
EVAL_KEEP = (0.25, 0.85)
Cut = tuple[int, float, bool]   # (axis: 0 x / 1 y, the line in pixels, kept side below the line)


def truncate_person(annotation: dict, rng: np.random.Generator,
                    keep: Sequence[float] = EVAL_KEEP) -> tuple[dict, Cut | None]:
    """A copy of a COCO person ``annotation`` cut off at a random picture border, and the cut.

    Returns ``(annotation, None)`` unchanged when the person has too few labelled keypoints to
    keep at least four after a cut (:func:`~lgmpose.data.transforms.random_truncation`'s rule).
    The copy's keypoints beyond the line are unlabelled, its box ends at the line, and its
    ``area`` (which scales OKS) shrinks with the box.
    """
    k = np.asarray(annotation["keypoints"], np.float64).reshape(-1, 3)
    x, y, w, h = (float(v) for v in annotation["bbox"])
    padding = BOX_PADDING
    center = np.array([x + w / 2.0, y + h / 2.0], np.float32)
    scale = np.array([w, h], np.float32) * padding
    _, _, visible, cut = T.random_truncation(k[:, :2], k[:, 2] > 0, center, scale,
                                             aspect_ratio=w / max(h, 1e-6), rng=rng, prob=1.0,
                                             keep=tuple(keep), padding=padding)
    if cut is None:
        return annotation, None
    box = [float(v) for v in T.cut_box([x, y, x + w, y + h], cut)]
    new_w, new_h = max(box[2] - box[0], 1.0), max(box[3] - box[1], 1.0)
    out = copy.deepcopy(annotation)
    k[visible <= 0] = 0.0
    out["keypoints"] = [round(float(v), 2) for v in k.ravel()]
    out["num_keypoints"] = int((k[:, 2] > 0).sum())
    out["bbox"] = [round(box[0], 2), round(box[1], 2), round(new_w, 2), round(new_h, 2)]
    area = float(annotation.get("area") or w * h)
    out["area"] = area * (new_w * new_h) / max(w * h, 1e-6)
    axis, value, keep_below = cut
    return out, (int(axis), float(value), bool(keep_below))


def truncate_people(annotations: Sequence[dict], seed: int,
                    keep: Sequence[float] = EVAL_KEEP) -> tuple[list[dict], list[Cut | None]]:
    """:func:`truncate_person` for every annotation, the n-th with the random stream
    ``(seed, n)``: the same people in the same order and the same seed give the same cuts."""
    people, cuts = [], []
    for n, annotation in enumerate(annotations):
        person, cut = truncate_person(annotation, np.random.default_rng([seed, n]), keep)
        people.append(person)
        cuts.append(cut)
    return people, cuts


def blank_beyond(image: np.ndarray, cut: Cut | None) -> np.ndarray:
    """A copy of ``image`` black beyond ``cut`` (``image`` itself when there is no cut)."""
    if cut is None:
        return image
    axis, value, keep_below = cut
    out = image.copy()
    size = out.shape[1 - axis]
    # pixel i is centred on coordinate i: black it when i lies beyond the line
    first = int(np.clip(np.floor(value) + 1, 0, size)) if keep_below else 0
    last = size if keep_below else int(np.clip(np.ceil(value), 0, size))
    index: list[Any] = [slice(None), slice(None)]
    index[1 - axis] = slice(first, last)
    out[tuple(index)] = 0
    return out
