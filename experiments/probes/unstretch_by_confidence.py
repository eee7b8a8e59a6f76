"""Probe: can the teacher's confidence recover the aspect of a picture stretched to a square?

Person-detection exports (Roboflow's "Capston2", "Human Dataset") stretch every picture to a
square and do not keep its original size, so their people are squeezed (stage 25 measured that the
teacher loses a quarter of its AP on such people). If the picture whose people MoveNet Thunder is
most sure of were the one with the right proportions, the pictures could be un-stretched before
labelling. This measures it on pictures whose aspect is known: each held-out Stanford 40 picture
is stretched to 416x416, then resized to 17 candidate aspects (w/h from 0.5 to 2, log-spaced, the
area kept), and the teacher runs on every labelled person's box mapped into each. The candidate
with the highest mean keypoint score is compared with the true aspect, with a square and with
fixed guesses; and the teacher's keypoints from the chosen candidate, mapped back, are compared
by OKS with its keypoints on the original picture (the labels the stretch would change).

    python experiments/probes/unstretch_by_confidence.py --out experiments/runs/unstretch_probe

Needs models/movenet_thunder.onnx (`make models`) and the held-out Stanford 40 pictures
(`make everyday-pictures`).
"""
from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import cv2
import numpy as np

from lgmpose.data.metainfo import load_metainfo
from lgmpose.inference.movenet import MoveNet

SIDE = 416
CANDIDATES = np.exp(np.linspace(np.log(0.5), np.log(2.0), 17))   # w / h
SIGMAS = load_metainfo("coco").sigmas
KPT_THR = 0.3


def teacher_on(teacher: MoveNet, image: np.ndarray, boxes) -> tuple[np.ndarray, np.ndarray]:
    keypoints, scores = zip(*(teacher(image, box) for box in boxes))
    return np.array(keypoints), np.array(scores)


def mean_oks(a: np.ndarray, b: np.ndarray, boxes, sure: np.ndarray) -> float:
    """Mean OKS of poses ``a`` against ``b`` over the keypoints ``b`` is sure of (box area x 0.53
    as a segment area, as COCO's people have)."""
    values = []
    for pa, pb, box, ok in zip(a, b, boxes, sure):
        if not ok.any():
            continue
        area = box[2] * box[3] * 0.53
        d2 = ((pa - pb) ** 2).sum(-1)
        values.append(np.exp(-d2 / (2 * area * (2 * SIGMAS) ** 2 + 1e-9))[ok].mean())
    return float(np.mean(values)) if values else float("nan")


def probe_picture(teacher: MoveNet, image: np.ndarray, boxes) -> dict:
    h, w = image.shape[:2]
    reference, ref_scores = teacher_on(teacher, image, boxes)
    square = cv2.resize(image, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    confidence, poses = [], []
    for aspect in CANDIDATES:
        cw, ch = int(round(SIDE * np.sqrt(aspect))), int(round(SIDE / np.sqrt(aspect)))
        candidate = cv2.resize(square, (cw, ch), interpolation=cv2.INTER_LINEAR)
        gx, gy = cw / w, ch / h
        mapped = [[b[0] * gx, b[1] * gy, b[2] * gx, b[3] * gy] for b in boxes]
        keypoints, scores = teacher_on(teacher, candidate, mapped)
        confidence.append(float(scores.mean()))
        poses.append(keypoints / np.array([gx, gy]))
    nearest = lambda a: int(np.argmin(np.abs(np.log(CANDIDATES / a))))  # noqa: E731
    chosen = int(np.argmax(confidence))
    sure = ref_scores >= KPT_THR
    return {"true": w / h, "chosen": float(CANDIDATES[chosen]),
            **{f"oks_{name}": mean_oks(poses[i], reference, boxes, sure)
               for name, i in (("square", nearest(1.0)), ("chosen", chosen),
                               ("true", nearest(w / h)))}}


def summary(rows: list[dict]) -> dict:
    true = np.array([r["true"] for r in rows])
    guesses = {"square": np.ones_like(true), "4:3": np.full_like(true, 4 / 3),
               "3:2": np.full_like(true, 1.5),
               "most confident": np.array([r["chosen"] for r in rows])}
    out = {"pictures": len(rows), "true_aspect_median": float(np.median(true)), "guesses": {}}
    for name, guess in guesses.items():
        error = np.abs(np.log(guess / true))
        out["guesses"][name] = {"median_log_error": round(float(np.median(error)), 3),
                                "within_10pct": round(float((error < np.log(1.1)).mean()), 3),
                                "within_20pct": round(float((error < np.log(1.2)).mean()), 3)}
    out["label_oks"] = {k: round(float(np.nanmean([r[f"oks_{k}"] for r in rows])), 3)
                        for k in ("square", "chosen", "true")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", default="labels/stanford40_val.json.gz")
    parser.add_argument("--images", default="work_dirs/everyday/stanford40/val")
    parser.add_argument("--teacher", default="models/movenet_thunder.onnx")
    parser.add_argument("--out", default="experiments/runs/unstretch_probe")
    args = parser.parse_args()
    data = json.load(gzip.open(args.labels))
    boxes: dict[int, list] = {}
    for person in data["annotations"]:
        boxes.setdefault(person["image_id"], []).append(person["bbox"])
    teacher = MoveNet(args.teacher, threads=2)
    rows, start = [], time.time()
    for picture in data["images"]:
        if picture["id"] in boxes:
            image = cv2.imread(str(Path(args.images) / picture["file_name"]))
            rows.append({"file": picture["file_name"],
                         **probe_picture(teacher, image, boxes[picture["id"]])})
    result = {"summary": summary(rows), "seconds": round(time.time() - start), "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "unstretch_by_confidence.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
