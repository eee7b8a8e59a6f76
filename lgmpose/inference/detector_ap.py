"""Person-box AP of a detector on a COCO-format keypoints file, by pycocotools (``bbox`` IoU).

Used to choose the default detector (``docs/inference.md``); pycocotools comes with the
``torch`` extra, not the core install.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from lgmpose.errors import LgmposeError
from lgmpose.inference.detectors import PersonDetector

__all__ = ["detect_coco", "person_box_ap"]


def detect_coco(detector: PersonDetector, ann_file: str | os.PathLike,
                image_dir: str | os.PathLike) -> tuple[list[dict], float]:
    """COCO detection results of ``detector`` on every image of ``ann_file``; and ms per image."""
    images = json.loads(Path(ann_file).read_text())["images"]
    results, elapsed = [], 0.0
    for info in images:
        path = Path(image_dir) / info["file_name"]
        image = cv2.imread(str(path))
        if image is None:
            raise LgmposeError(f"cannot read image '{path}'")
        start = time.perf_counter()
        boxes, scores = detector(image)
        elapsed += time.perf_counter() - start
        results += [{"image_id": info["id"], "category_id": 1,
                     "bbox": [round(float(v), 2) for v in box], "score": float(score)}
                    for box, score in zip(boxes, scores)]
    return results, 1000 * elapsed / max(len(images), 1)


def person_box_ap(results: list[dict], ann_file: str | os.PathLike) -> dict[str, float]:
    """COCO box AP, AP50, AP75 and AR@100 of person detections against ``ann_file``."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann_file))
        if not results:
            return {"AP": 0.0, "AP50": 0.0, "AP75": 0.0, "AR100": 0.0}
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.params.catIds = [1]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    s = np.asarray(ev.stats)
    return {"AP": float(s[0]), "AP50": float(s[1]), "AP75": float(s[2]), "AR100": float(s[8])}
