"""MPII Human Pose, from either of its two common files.

* the mmpose/HRNet json (``mpii_train.json`` / ``mpii_val.json``): a list of
  ``{"image", "center", "scale", "joints" [16, 2], "joints_vis" [16]}``;
* the per-person record file (``mpii_annotations.json[.gz]``): ``img_paths``, ``objpos``,
  ``scale_provided``, ``joint_self`` (16 x [x, y, is_visible]), ``isValidation``.

Both hold 1-based MATLAB pixels and the MPII person scale (box height / 200 px). The standard
crop (HRNet, MMPose): move the centre down by 15 x scale pixels, pad the scale by 1.25, then
subtract 1 from every coordinate. A joint counts as labelled when it is annotated at all
(occluded joints included, as in the json's ``joints_vis``); missing joints are stored as (0, 0).
"""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np

from lgmpose.data.base import TopDownDataset
from lgmpose.data.transforms import fix_aspect_ratio
from lgmpose.defaults import BOX_PADDING, CODEC, MPII_INPUT_SIZE
from lgmpose.errors import LgmposeError

__all__ = ["MpiiDataset", "mpii_center_scale", "read_mpii_json"]

PIXEL_STD = 200.0


def mpii_center_scale(center, person_scale, aspect_ratio: float = 1.0):
    """MPII ``center`` (1-based) and person scale -> 0-based ``center``, ``scale (w, h)`` in pixels."""
    center = np.asarray(center, dtype=np.float32).copy()
    size = float(person_scale) * PIXEL_STD
    if center[0] != -1:
        center[1] += 15.0 / PIXEL_STD * size
    size *= BOX_PADDING
    scale = fix_aspect_ratio(np.array([size, size], dtype=np.float32), aspect_ratio)
    return center - 1.0, scale


def read_mpii_json(path: str):
    """An MPII annotation file (json, or json.gz), its errors naming the file."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt") as handle:
            return json.load(handle)
    except OSError as error:
        raise LgmposeError(f"cannot read MPII annotation file {path!r}: {error.strerror or error}") from None
    except ValueError as error:
        raise LgmposeError(f"MPII annotation file {path!r}: not valid json ({error})") from None


class MpiiDataset(TopDownDataset):
    """Top-down crops of MPII persons, in the order of the file (the order of ``mpii_gt_val.mat``
    for the validation split). ``split`` (``train``, ``val`` or None = all) selects records of the
    record format by ``isValidation``; the json format is already split."""

    def __init__(self, ann_file, img_dir, metainfo="mpii", input_size=MPII_INPUT_SIZE, codec=CODEC,
                 train: bool = False, split: str | None = None, aug: dict | None = None,
                 seed: int = 0, use_joint_weights: bool = False):
        super().__init__(metainfo, input_size, codec, train, aug, seed, use_joint_weights)
        self.ann_file = os.fspath(ann_file)
        self.img_dir = Path(img_dir)
        if split not in (None, "train", "val"):
            raise LgmposeError(f"MPII split must be 'train', 'val' or None, got {split!r}")
        entries = read_mpii_json(self.ann_file)
        if isinstance(entries, dict) and "root" in entries:
            entries = entries["root"]
        if not isinstance(entries, list):
            raise LgmposeError(f"MPII annotation file {self.ann_file!r}: expected a list of persons")
        if self.metainfo.num_keypoints != 16:
            raise LgmposeError(f"MPII has 16 keypoints; metainfo {self.metainfo.name!r} has "
                               f"{self.metainfo.num_keypoints}")
        self.records = []
        for number, entry in enumerate(entries):
            try:
                record = self._parse(entry, split)
            except (KeyError, TypeError, ValueError, IndexError) as error:
                raise LgmposeError(f"MPII annotation file {self.ann_file!r}: entry {number} is "
                                   f"neither the json nor the record format ({error!r})") from None
            if record is not None:
                self.records.append(record)

    def _parse(self, entry: dict, split: str | None):
        aspect = self.pipeline.aspect_ratio
        if "joint_self" in entry:
            if split is not None and bool(entry.get("isValidation", 0)) != (split == "val"):
                return None
            name = entry["img_paths"]
            raw = np.asarray(entry["joint_self"], dtype=np.float32).reshape(16, 3)
            joints = raw[:, :2]
            labelled = ~((joints[:, 0] == 0) & (joints[:, 1] == 0))
            center, scale = mpii_center_scale(entry["objpos"], entry["scale_provided"], aspect)
        else:
            name = entry["image"]
            joints = np.asarray(entry["joints"], dtype=np.float32).reshape(16, 2)
            labelled = np.asarray(entry.get("joints_vis", [1] * 16)).reshape(16) > 0
            center, scale = mpii_center_scale(entry["center"], entry["scale"], aspect)
        stem = Path(name).stem
        box_wh = scale / BOX_PADDING
        return {
            "image_file": self.img_dir / name,
            "image_id": int(stem) if stem.isdigit() else -1,
            "ann_id": -1,
            "bbox": np.concatenate([center - box_wh / 2, box_wh]).astype(np.float32),
            "bbox_score": 1.0, "center": center, "scale": scale,
            "keypoints": (joints - 1.0).astype(np.float32),
            "keypoints_visible": labelled.astype(np.float32),
        }
