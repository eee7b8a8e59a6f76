"""People in several pictures with one pose-network call for all their crops.

Each picture is detected on its own (detectors take one picture); the crops of all of them go
through the network together, so a group of pictures with a person or two each still gives the
network a full batch. The answers are those of ``PoseEstimator.__call__`` picture by picture.
"""
from __future__ import annotations

import numpy as np

from lgmpose.detectors.boxes import validate_boxes
from lgmpose.inference.estimator import Person, PoseEstimator

__all__ = ["people_in_pictures"]


def people_in_pictures(estimator: PoseEstimator, images: list[np.ndarray],
                       boxes: list | None = None) -> list[list[Person]]:
    """The people of each BGR picture; ``boxes[i]`` (``[N, 4]`` xywh) replaces the detector for
    picture ``i`` when given."""
    found = []
    for i, image in enumerate(images):
        given = None if boxes is None else boxes[i]
        if given is None:
            found.append(estimator.detect(image))
        else:
            h, w = image.shape[:2]
            valid = validate_boxes(given, w, h, source="boxes")
            found.append((valid, np.ones(len(valid), np.float32)))
    crops = [estimator.crops(image, b) if len(b) else None for image, (b, _) in zip(images, found)]
    inputs = [c[0] for c in crops if c is not None]
    if not inputs:
        return [[] for _ in images]
    heatmaps = estimator.heatmaps(np.concatenate(inputs))
    people: list[list[Person]] = []
    offset = 0
    for crop, (b, box_scores) in zip(crops, found):
        if crop is None:
            people.append([])
            continue
        n = len(b)
        kpts, scores, quality = estimator.poses(heatmaps[offset:offset + n], crop[1], b,
                                                quality=True)
        offset += n
        people.append([Person(bb.astype(np.float32), k, s, float(bs), quality=float(q))
                       for bb, k, s, bs, q in zip(b, kpts, scores, box_scores, quality)])
    return people
