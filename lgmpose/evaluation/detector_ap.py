"""Person-box AP of a detector on a COCO-format keypoints file, by pycocotools (``bbox`` IoU).

Used to choose the default detector and its thresholds (``docs/inference.md``, ``lgmpose
detector-ap``); pycocotools comes with the ``torch`` extra, not the core install.

AP is measured on every box a detector gives above a low score threshold (``ap_thr``); the same
run also gives the AP and the precision/recall/F1 (IoU >= 0.5) at the detector's *default*
threshold: greedy NMS never lets a box below the threshold suppress one above it, so keeping the
results scoring at least that threshold is what a run at that threshold gives.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import time
from pathlib import Path

import numpy as np

from lgmpose.data.image_io import read_image
from lgmpose.errors import LgmposeError
from lgmpose.detectors import PersonDetector

__all__ = ["detect_coco", "person_box_ap", "detector_ap_rows", "format_ap_table",
           "precision_recall"]


def detect_coco(detector: PersonDetector, ann_file: str | os.PathLike,
                image_dir: str | os.PathLike) -> tuple[list[dict], float]:
    """COCO detection results of ``detector`` on every image of ``ann_file``; and ms per image."""
    images = json.loads(Path(ann_file).read_text())["images"]
    results, elapsed = [], 0.0
    for info in images:
        image = read_image(Path(image_dir) / info["file_name"])
        start = time.perf_counter()
        boxes, scores = detector(image)
        elapsed += time.perf_counter() - start
        results += [{"image_id": info["id"], "category_id": 1,
                     "bbox": [round(float(v), 2) for v in box], "score": float(score)}
                    for box, score in zip(boxes, scores)]
    return results, 1000 * elapsed / max(len(images), 1)


def person_box_ap(results: list[dict], ann_file: str | os.PathLike) -> dict[str, float]:
    """COCO box AP, AP50, AP75 and AR@100 of person detections against ``ann_file``."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise LgmposeError("person-box AP needs pycocotools: pip install pycocotools "
                           '(or "lgmpose[torch]")') from None

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


def precision_recall(results: list[dict], ann_file: str | os.PathLike,
                     iou_thr: float = 0.5) -> dict[str, float]:
    """Precision, recall and F1 of ``results`` (all of them) against the non-crowd people of
    ``ann_file``, matching greedily by score at IoU >= ``iou_thr``; a box matching a crowd
    region only is neither a hit nor a false alarm."""
    from lgmpose.detectors.boxes import box_iou, xywh_to_xyxy

    data = json.loads(Path(ann_file).read_text())
    people: dict[int, list] = {}
    crowds: dict[int, list] = {}
    for ann in data["annotations"]:
        if ann.get("category_id", 1) == 1:
            (crowds if ann.get("iscrowd") else people).setdefault(ann["image_id"], []).append(
                ann["bbox"])
    by_image: dict[int, list[dict]] = {}
    for r in results:
        by_image.setdefault(r["image_id"], []).append(r)
    hits = false_alarms = 0
    for image_id, dets in by_image.items():
        gt = xywh_to_xyxy(np.asarray(people.get(image_id, []), np.float32).reshape(-1, 4))
        crowd = xywh_to_xyxy(np.asarray(crowds.get(image_id, []), np.float32).reshape(-1, 4))
        used = np.zeros(len(gt), bool)
        for det in sorted(dets, key=lambda r: -r["score"]):
            box = xywh_to_xyxy(np.asarray(det["bbox"], np.float32))
            ious = np.where(used, -1.0, box_iou(box, gt)[0]) if len(gt) else np.zeros(0)
            if len(ious) and ious.max() >= iou_thr:
                used[int(ious.argmax())] = True
                hits += 1
            elif not (len(crowd) and box_iou(box, crowd)[0].max() >= iou_thr):
                false_alarms += 1
    total = sum(len(v) for v in people.values())
    precision = hits / max(hits + false_alarms, 1)
    recall = hits / max(total, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    return {"P": precision, "R": recall, "F1": f1}


def detector_ap_rows(specs: list[str], ann_file: str | os.PathLike, image_dir: str | os.PathLike,
                     ap_thr: float = 0.01, threads: int | None = None) -> list[dict]:
    """One row per detector: AP etc. at ``ap_thr``, and AP, P, R, F1 at its default threshold."""
    from lgmpose.detectors import build_detector, default_detector_name

    rows = []
    for spec in specs:
        name = f"auto ({default_detector_name()})" if spec == "auto" else spec
        default_thr = getattr(build_detector(spec, threads=threads), "det_thr", None)
        detector = build_detector(spec, det_thr=ap_thr, threads=threads)
        results, ms = detect_coco(detector, ann_file, image_dir)
        row = {"detector": name, "ap_thr": ap_thr, **person_box_ap(results, ann_file),
               "ms": ms, "default_thr": default_thr}
        kept = [r for r in results if default_thr is None or r["score"] >= default_thr]
        row["AP_default"] = person_box_ap(kept, ann_file)["AP"]
        row.update(precision_recall(kept, ann_file))
        rows.append(row)
    return rows


def format_ap_table(rows: list[dict]) -> str:
    """A Markdown table of :func:`detector_ap_rows` (AP in 0-1)."""
    lines = ["| detector | AP | AP50 | AP75 | AR@100 | ms / image | default thr | AP at it "
             "| P / R / F1 at it |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        thr = "-" if r["default_thr"] is None else f"{r['default_thr']:g}"
        lines.append(f"| {r['detector']} | {r['AP']:.3f} | {r['AP50']:.3f} | {r['AP75']:.3f} | "
                     f"{r['AR100']:.3f} | {r['ms']:.1f} | {thr} | {r['AP_default']:.3f} | "
                     f"{r['P']:.2f} / {r['R']:.2f} / {r['F1']:.2f} |")
    return "\n".join(lines)
