"""COCO keypoints (and any COCO-format dataset described by a metainfo file).

Standard layout: ``annotations/person_keypoints_{train,val}2017.json`` and ``{train,val}2017/*.jpg``.
Persons are taken as the field does (HRNet, MMPose): non-crowd annotations of the person category
with at least one labelled keypoint and a box of positive size, clipped to the image. Evaluation
can instead use a detection file (``[{"image_id", "category_id", "bbox", "score"}, ...]``, e.g.
``COCO_val2017_detections_AP_H_56_person.json``) with a score threshold.
"""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np

from lgmpose.data.base import TopDownDataset
from lgmpose.data.transforms import box_to_center_scale
from lgmpose.defaults import BOX_PADDING, CODEC, INPUT_SIZE
from lgmpose.errors import LgmposeError

__all__ = ["CocoKeypointDataset", "load_coco_json"]


def load_coco_json(path) -> dict:
    """A COCO json file (``.json`` or gzip-compressed ``.json.gz``) as a dict."""
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt") as handle:
            data = json.load(handle)
    except OSError as error:
        raise LgmposeError(f"cannot read annotation file {path!r}: {error.strerror or error}") from None
    except (ValueError, EOFError, gzip.BadGzipFile) as error:
        raise LgmposeError(f"annotation file {path!r}: not valid json ({error})") from None
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise LgmposeError(f"annotation file {path!r}: not COCO json (needs 'images' and 'annotations')")
    return data


class CocoKeypointDataset(TopDownDataset):
    """Top-down person crops of a COCO-format keypoint file.

    ``boxes``: ``"gt"`` (ground-truth boxes) or the path of a detection-box json; with detections,
    boxes scoring below ``det_thr`` are dropped. ``aug``: the ``data.aug`` options of
    :class:`~lgmpose.data.pipeline.TopDownPipeline` (used when ``train``).
    """

    def __init__(self, ann_file, img_dir, metainfo="coco", input_size=INPUT_SIZE, codec=CODEC,
                 train: bool = False, boxes: str = "gt", det_thr: float = 0.0,
                 padding: float = BOX_PADDING, aug: dict | None = None, seed: int = 0,
                 use_joint_weights: bool = False, category_id: int | None = None):
        super().__init__(metainfo, input_size, codec, train, aug, seed, use_joint_weights)
        self.ann_file = os.fspath(ann_file)
        self.img_dir = Path(img_dir)
        self.padding = padding
        data = load_coco_json(self.ann_file)
        try:
            self.category_id = (category_id if category_id is not None
                                else self._person_category(data))
            self.images = {int(img["id"]): img for img in data["images"]}
            if boxes in (None, "gt"):
                self.records = self._gt_records(data)
            else:
                self.records = self._det_records(boxes, det_thr)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
            # A hand-made or damaged file: name it, not the line of this parser that tripped.
            raise LgmposeError(f"annotation file {self.ann_file!r}: malformed COCO keypoint "
                               f"entry ({type(error).__name__}: {error})") from None
        self.boxes = "gt" if boxes in (None, "gt") else os.fspath(boxes)

    def _person_category(self, data: dict) -> int:
        for category in data.get("categories", []):
            if category.get("name") == "person" or category.get("keypoints"):
                names = category.get("keypoints")
                if names and len(names) != self.metainfo.num_keypoints:
                    raise LgmposeError(
                        f"annotation file {self.ann_file!r} has {len(names)} keypoints per person "
                        f"but metainfo {self.metainfo.name!r} has {self.metainfo.num_keypoints}")
                return int(category["id"])
        return 1

    def _crop(self, box):
        center, scale = box_to_center_scale(box, self.pipeline.aspect_ratio, self.padding)
        return center, scale

    def _gt_records(self, data: dict) -> list[dict]:
        k = self.metainfo.num_keypoints
        records = []
        for ann in data["annotations"]:
            if ann.get("category_id", self.category_id) != self.category_id or ann.get("iscrowd", 0):
                continue
            keypoints = np.asarray(ann.get("keypoints") or [], dtype=np.float32)
            if keypoints.size != 3 * k:
                if keypoints.size:
                    raise LgmposeError(f"annotation file {self.ann_file!r}: annotation {ann.get('id')} "
                                       f"has {keypoints.size // 3} keypoints, metainfo "
                                       f"{self.metainfo.name!r} has {k}")
                continue
            keypoints = keypoints.reshape(k, 3)
            if not np.any(keypoints[:, 2] > 0):
                continue
            image = self.images.get(int(ann["image_id"]))
            if image is None:
                continue
            x, y, w, h = (float(v) for v in ann["bbox"])
            width, height = float(image.get("width", 1e9)), float(image.get("height", 1e9))
            x1, y1 = np.clip(x, 0, width - 1), np.clip(y, 0, height - 1)
            x2, y2 = np.clip(x + w, 0, width - 1), np.clip(y + h, 0, height - 1)
            if ann.get("area", 1) <= 0 or x2 <= x1 or y2 <= y1:
                continue
            box = np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float32)
            center, scale = self._crop(box)
            records.append({
                "image_file": self.img_dir / image["file_name"], "image_id": int(ann["image_id"]),
                "ann_id": int(ann.get("id", -1)), "bbox": box, "bbox_score": 1.0,
                "center": center, "scale": scale, "keypoints": keypoints[:, :2].copy(),
                "keypoints_visible": (keypoints[:, 2] > 0).astype(np.float32),
            })
        return records

    def _det_records(self, det_file, det_thr: float) -> list[dict]:
        det_file = os.fspath(det_file)
        try:
            with open(det_file) as handle:
                detections = json.load(handle)
        except OSError as error:
            raise LgmposeError(f"cannot read detection file {det_file!r}: "
                               f"{error.strerror or error}") from None
        except ValueError as error:
            raise LgmposeError(f"detection file {det_file!r}: not valid json ({error})") from None
        if not isinstance(detections, list):
            raise LgmposeError(f"detection file {det_file!r}: expected a list of "
                               "{image_id, category_id, bbox, score}")
        k = self.metainfo.num_keypoints
        records = []
        for det in detections:
            try:
                if det.get("category_id", 1) != 1 or float(det["score"]) < det_thr:
                    continue
                image = self.images.get(int(det["image_id"]))
                box = np.asarray(det["bbox"], dtype=np.float32).reshape(4)
            except (KeyError, TypeError, ValueError, AttributeError):
                raise LgmposeError(f"detection file {det_file!r}: malformed entry {det!r}") from None
            if image is None:
                raise LgmposeError(f"detection file {det_file!r}: image_id {det['image_id']} is not "
                                   f"in {self.ann_file!r}")
            if box[2] <= 0 or box[3] <= 0:
                continue
            center, scale = self._crop(box)
            records.append({
                "image_file": self.img_dir / image["file_name"], "image_id": int(det["image_id"]),
                "ann_id": -1, "bbox": box, "bbox_score": float(det["score"]),
                "center": center, "scale": scale, "keypoints": np.zeros((k, 2), np.float32),
                "keypoints_visible": np.zeros(k, np.float32),
            })
        return records
