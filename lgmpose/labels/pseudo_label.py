"""Run a teacher over people and write a COCO keypoint file whose missing keypoints it filled.

The output is a standard COCO person-keypoints json (so every COCO-format loader trains on it): a
keypoint is ``v=2`` when it has a target (ground truth, or the teacher above ``kpt_thr``) and
``v=0`` otherwise. Each annotation also carries ``keypoint_scores`` (1 for ground truth, the
teacher's score otherwise), ``teacher_keypoints`` (the teacher's own 17 x 3 answer) and
``lr_swapped`` (the labels' left/right pairs were swapped back) and ``pairs_swapped`` (single
pairs exchanged), see :mod:`lgmpose.labels.merge`. :func:`remerge` applies today's merge rules to
a file written earlier, from the ground truth and teacher answers it stores, without the teacher;
it can also redraw the file's boxes to another convention (:func:`rescale_box`).

Long runs resume: every finished image is appended to ``OUT.partial.jsonl``, which a rerun with
``resume=True`` reads back; the final file is written atomically and the partial file removed.
Unreadable images are skipped and counted.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from lgmpose.data.image_io import read_image
from lgmpose.defaults import KPT_THR, LABEL_DET_THR
from lgmpose.errors import LgmposeError
from lgmpose.labels.entries import Entry, Person
from lgmpose.labels.merge import (MergedLabel, box_from_keypoints, merge_labels,
                                  share_on_box)
from lgmpose.utils.atomic import atomic_write_text

__all__ = ["pseudo_label", "remerge", "rescale_box"]

Teacher = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
Detector = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
# a detection overlapping a person labelled already by this much is that person; so is one whose
# keypoints lie on theirs (median distance under KNOWN_DISTANCE of their box's longer side), which
# catches a box around only part of them (the upper body, say)
KNOWN_IOU = 0.4
KNOWN_DISTANCE = 0.1
# On a detector's box around a person partly hidden or cut off, the teacher (which sees a square
# crop wider than the box) often answers with a neighbour who is more visible: its keypoints then
# fall outside the box. A teacher-only label needs this share of its keypoints on its box (grown by
# ON_BOX_MARGIN per side); below it the person is dropped.
ON_BOX_SHARE = 0.8
ON_BOX_MARGIN = 0.1


def _people(entry: Entry, image: np.ndarray, detector: Detector | None, det_thr: float,
            min_height: float) -> tuple[list[Person], list[Person]]:
    """(the people given by the source, the people a detector found besides them)."""
    given = list(entry.persons or [])
    if entry.persons is not None and not (entry.find_others and detector is not None):
        return given, []
    h, w = image.shape[:2]
    if detector is None:
        return [], [Person(np.array([0, 0, w, h], np.float32), keep_box=False)]
    boxes, scores = detector(image)
    keep = [np.asarray(b, np.float32) for b, s in zip(boxes, scores)
            if s >= det_thr and b[3] >= min_height * h]
    known = [p.box for p in (entry.known or []) + given]
    if keep and known:
        from lgmpose.detectors.boxes import box_iou, xywh_to_xyxy

        overlap = box_iou(xywh_to_xyxy(np.stack(keep)), xywh_to_xyxy(np.stack(known))).max(axis=1)
        keep = [b for b, iou in zip(keep, overlap) if iou < KNOWN_IOU]
    return given, [Person(b) for b in keep]


def _as_known(ann: dict[str, Any]) -> Person:
    kps = np.asarray(ann["keypoints"], np.float32).reshape(-1, 3)
    return Person(np.asarray(ann["bbox"], np.float32), kps[:, :2], kps[:, 2] > 0)


def _off_box(merged: MergedLabel, box, has_truth: bool) -> bool:
    """Whether a teacher-only label is about someone other than its box's person (ON_BOX_SHARE);
    a label with ground truth never is."""
    return not has_truth and \
        share_on_box(merged.keypoints, merged.labelled, box, ON_BOX_MARGIN) < ON_BOX_SHARE


def _repeats_known(ann: dict[str, Any], known: list[Person] | None) -> bool:
    """Whether a new annotation's keypoints land on those of a person labelled already (at least
    4 keypoints labelled in both)."""
    kps = np.asarray(ann["keypoints"], np.float32).reshape(-1, 3)
    for person in known or []:
        if person.keypoints is None or len(person.keypoints) != len(kps):
            continue
        both = (kps[:, 2] > 0) & person.labelled
        if both.sum() < 4:
            continue
        distance = np.median(np.linalg.norm(kps[both, :2] - person.keypoints[both], axis=1))
        if distance < KNOWN_DISTANCE * float(max(person.box[2], person.box[3])):
            return True
    return False


def _label_fields(merged: MergedLabel) -> dict[str, Any]:
    """The keys of an annotation that come from a merge (both labelling and re-merging write them)."""
    triples = np.concatenate([merged.keypoints, 2.0 * merged.labelled[:, None]], axis=1)
    return {
        "num_keypoints": int(merged.labelled.sum()),
        "keypoints": [round(float(v), 2) for v in triples.reshape(-1)],
        "keypoint_scores": [round(float(v), 3) for v in merged.scores],
        "from_ground_truth": int((merged.labelled & ~merged.from_teacher).sum()),
        "lr_swapped": merged.swapped,
        "pairs_swapped": merged.pairs_swapped,
    }


def _annotation(person: Person, image: np.ndarray, teacher: Teacher, metainfo, kpt_thr: float,
                min_keypoints: int, fix_pairs: bool = False) -> dict[str, Any] | None:
    keypoints, scores = teacher(image, person.box)
    size = float(max(person.box[2], person.box[3]))
    merged = merge_labels(person.keypoints, person.labelled, keypoints, scores,
                          metainfo.flip_pairs, kpt_thr=kpt_thr, size=size, fix_pairs=fix_pairs)
    if int(merged.labelled.sum()) < min_keypoints:
        return None
    box = person.box if person.keep_box else box_from_keypoints(
        merged.keypoints, merged.labelled, image.shape[:2])
    has_truth = person.labelled is not None and bool(np.any(person.labelled))
    if box is None or _off_box(merged, box, has_truth):
        return None
    teacher_triples = np.concatenate([keypoints, scores[:, None]], axis=1)
    return {
        "category_id": 1, "iscrowd": 0,
        "bbox": [round(float(v), 2) for v in box],
        "area": round(float(box[2] * box[3]), 2),
        **_label_fields(merged),
        "teacher_keypoints": [round(float(v), 3) for v in teacher_triples.reshape(-1)],
    }


def _read_partial(path: Path) -> list[dict[str, Any]]:
    done = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                done.append(json.loads(line))
            except ValueError:
                break  # a line cut by an interruption: redo from there
    return done


def pseudo_label(entries: Iterable[Entry], teacher: Teacher, out: str | os.PathLike,
                 metainfo="coco", kpt_thr: float = KPT_THR, min_keypoints: int = 6,
                 detector: Detector | None = None, det_thr: float = LABEL_DET_THR, min_height: float = 0.2,
                 resume: bool = False, progress: bool = True, total: int | None = None,
                 description: str = "", fix_pairs: bool = False) -> dict[str, Any]:
    """Label every entry; returns a summary (counts) that is also stored in the file's ``info``.
    ``fix_pairs`` turns on the per-pair left/right rule (for crowd-sourced labels)."""
    from lgmpose.data.metainfo import load_metainfo

    metainfo = load_metainfo(metainfo)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial.jsonl")
    records = _read_partial(partial) if resume else []
    if not resume and partial.exists():
        partial.unlink()
    done = {r["image"]["id"] for r in records}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="pseudo-label", unit="img", dynamic_ncols=True,
                   initial=len(done))
    with open(partial, "a") as sink:
        for entry in entries:
            if entry.image_id in done:
                continue
            record: dict[str, Any] = {"image": {"id": entry.image_id,
                                                "file_name": entry.file_name}}
            try:
                image = read_image(entry.image_file)
            except LgmposeError as error:
                record["skipped"] = str(error)
            else:
                record["image"].update(height=int(image.shape[0]), width=int(image.shape[1]))
                given, found = _people(entry, image, detector, det_thr, min_height)
                anns = [_annotation(p, image, teacher, metainfo, kpt_thr, min_keypoints,
                                    fix_pairs) for p in given]
                kept = [a for a in anns if a is not None and not _repeats_known(a, entry.known)]
                # a detection is a new person only if its answer does not repeat a given one's
                known = list(entry.known or []) + [_as_known(a) for a in kept]
                found_anns = [_annotation(p, image, teacher, metainfo, kpt_thr, min_keypoints,
                                          fix_pairs) for p in found]
                kept += [a for a in found_anns if a is not None and not _repeats_known(a, known)]
                record["annotations"] = kept
                record["dropped"] = len(anns) + len(found_anns) - len(kept)
            sink.write(json.dumps(record) + "\n")
            sink.flush()
            records.append(record)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return _write(records, out, partial, metainfo, kpt_thr, description)


def _write(records: list[dict[str, Any]], out: Path, partial: Path, metainfo, kpt_thr: float,
           description: str) -> dict[str, Any]:
    images, annotations, skipped = [], [], []
    for record in records:
        if "skipped" in record:
            skipped.append(record["skipped"])
            continue
        images.append(record["image"])
        for ann in record["annotations"]:
            annotations.append({"id": len(annotations) + 1, "image_id": record["image"]["id"],
                                **ann})
    labelled = np.array([a["num_keypoints"] for a in annotations]) if annotations else np.zeros(1)
    summary = {
        "images": len(images), "persons": len(annotations), "skipped_images": len(skipped),
        "dropped_persons": int(sum(r.get("dropped", 0) for r in records)),
        "lr_swapped": int(sum(a["lr_swapped"] for a in annotations)),
        "pairs_swapped": int(sum(a.get("pairs_swapped", 0) for a in annotations)),
        "mean_labelled_keypoints": round(float(labelled.mean()), 2),
        "teacher_filled_keypoints": int(sum(a["num_keypoints"] - a["from_ground_truth"]
                                            for a in annotations)),
        "kpt_thr": kpt_thr,
    }
    categories = [{"id": 1, "name": "person", "supercategory": "person",
                   "keypoints": list(metainfo.keypoint_names),
                   "skeleton": [[a + 1, b + 1] for a, b in metainfo.skeleton]}]
    data = {"info": {"description": description or "lgmpose pseudo-labels", **summary},
            "images": images, "annotations": annotations, "categories": categories}
    atomic_write_text(out, json.dumps(data, separators=(",", ":")))
    partial.unlink(missing_ok=True)
    summary["skipped_files"] = skipped[:20]
    return summary


def rescale_box(box, width_factor: float, height_factor: float, shift_down: float) -> list[float]:
    """``[x, y, w, h]`` resized about its centre to ``w * width_factor`` and ``h * height_factor``,
    the centre moved down by ``shift_down * h`` (``h`` the original height; negative moves it up).

    For sources whose boxes follow another convention than the one the model meets at test time:
    LSP's boxes, drawn from the joints with the head top extended, are about 1.34x the keypoint
    extent in height and sit 5% of it higher than COCO's (about 1.2x, centred), so
    ``(0.945, 0.908, 0.039)`` turns them into COCO-like boxes."""
    x, y, w, h = (float(v) for v in box)
    if min(width_factor, height_factor) <= 0:
        raise LgmposeError(f"box rescale factors must be positive, got {width_factor}, "
                           f"{height_factor}")
    cx, cy = x + w / 2, y + h / 2 + shift_down * h
    w, h = w * width_factor, h * height_factor
    return [round(cx - w / 2, 2), round(cy - h / 2, 2), round(w, 2), round(h, 2)]


def remerge(in_file: str | os.PathLike, out: str | os.PathLike, metainfo="coco",
            kpt_thr: float = KPT_THR, min_keypoints: int = 6,
            fix_pairs: bool = False,
            box_rescale: tuple[float, float, float] | None = None) -> dict[str, Any]:
    """Re-apply :func:`merge_labels` to a pseudo-label file (plain or ``.gz``) written by
    :func:`pseudo_label`: its ground truth (keypoints with ``keypoint_scores`` 1) and its
    ``teacher_keypoints`` are merged again, so rules added since take effect without the teacher.
    Merging a file twice changes nothing the second time. ``box_rescale``: ``(width_factor,
    height_factor, shift_down)`` for :func:`rescale_box`, applied to every box after the merge
    (whose rules see the original box); ``area``, the person's size for OKS, is kept."""
    from lgmpose.data.coco import load_coco_json
    from lgmpose.data.metainfo import load_metainfo

    metainfo = load_metainfo(metainfo)
    data = load_coco_json(in_file)
    records: dict[Any, dict[str, Any]] = {}
    for image in data.get("images", []):
        records[image["id"]] = {"image": image, "annotations": [], "dropped": 0}
    for ann in data.get("annotations", []):
        if "teacher_keypoints" not in ann or "keypoint_scores" not in ann:
            raise LgmposeError(f"{in_file}: annotation {ann.get('id')} has no teacher_keypoints/"
                               "keypoint_scores: not a file written by `lgmpose pseudo-label`")
        record = records.get(ann["image_id"])
        if record is None:
            continue
        triples = np.asarray(ann["keypoints"], np.float32).reshape(-1, 3)
        teacher = np.asarray(ann["teacher_keypoints"], np.float32).reshape(-1, 3)
        gt_labelled = (np.asarray(ann["keypoint_scores"]) >= 1.0) & (triples[:, 2] > 0)
        box = np.asarray(ann["bbox"], np.float32)
        merged = merge_labels(triples[:, :2], gt_labelled, teacher[:, :2], teacher[:, 2],
                              metainfo.flip_pairs, kpt_thr=kpt_thr, size=float(box[2:].max()),
                              fix_pairs=fix_pairs)
        if int(merged.labelled.sum()) < min_keypoints or \
                _off_box(merged, box, bool(gt_labelled.any())):
            record["dropped"] += 1
            continue
        new = {k: v for k, v in ann.items() if k not in ("id", "image_id")}
        new.update(_label_fields(merged))
        # what earlier merges corrected stays counted
        new["lr_swapped"] = bool(ann.get("lr_swapped", False) or merged.swapped)
        new["pairs_swapped"] = int(ann.get("pairs_swapped", 0)) + merged.pairs_swapped
        if box_rescale is not None:
            new["bbox"] = rescale_box(box, *box_rescale)
        record["annotations"].append(new)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    description = str(data.get("info", {}).get("description", "lgmpose pseudo-labels"))
    return _write(list(records.values()), out, out.with_name(out.name + ".partial.jsonl"),
                  metainfo, kpt_thr, description + "; re-merged"
                  + (f"; boxes rescaled {tuple(box_rescale)}" if box_rescale is not None else ""))
