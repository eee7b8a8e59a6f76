"""Where the people to pseudo-label come from: a COCO keypoint file, LSP/LSPET, or a folder of
pictures (boxes from a person detector or the whole picture).

Each source yields :class:`Entry` objects (one per image); ``persons`` is None when a detector
must find them on the decoded image.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lgmpose.errors import LgmposeError

__all__ = ["Entry", "Person", "coco_entries", "folder_entries", "lsp_entries"]

@dataclass
class Person:
    box: np.ndarray | None                 # [x, y, w, h] the teacher's crop is built around
    keypoints: np.ndarray | None = None    # ground truth [K, 2] image pixels, or None
    labelled: np.ndarray | None = None     # [K] bool
    keep_box: bool = True                  # False: the training box comes from the keypoints


@dataclass
class Entry:
    image_file: Path
    file_name: str                         # as written into the output (relative to img_dir)
    image_id: int
    persons: list[Person] | None = field(default=None)


def coco_entries(ann_file: str | os.PathLike, img_dir: str | os.PathLike,
                 num_keypoints: int = 17) -> Iterator[Entry]:
    """Every image with at least one non-crowd person with labelled keypoints; the GT box and
    keypoints of each such person."""
    path = Path(ann_file)
    try:
        data = json.loads(path.read_text())
        images = {int(im["id"]): im for im in data["images"]}
        anns = data["annotations"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise LgmposeError(f"COCO annotation file '{path}': cannot read it ({error})") from None
    by_image: dict[int, list[Person]] = {}
    for ann in anns:
        if ann.get("iscrowd") or not ann.get("num_keypoints"):
            continue
        kps = np.asarray(ann["keypoints"], np.float32).reshape(num_keypoints, 3)
        by_image.setdefault(int(ann["image_id"]), []).append(
            Person(np.asarray(ann["bbox"], np.float32), kps[:, :2].copy(), kps[:, 2] > 0))
    for image_id in sorted(by_image):
        name = images[image_id]["file_name"]
        yield Entry(Path(img_dir) / name, name, image_id, by_image[image_id])


def lsp_entries(mat_file: str | os.PathLike, img_dir: str | os.PathLike,
                split: str | None = None) -> Iterator[Entry]:
    """LSP/LSPET people (one per image), their joints mapped to COCO-17; the training box is
    rebuilt from the merged keypoints (LSP has no boxes)."""
    from lgmpose.data.lsp import load_lsp
    from lgmpose.labels.merge import box_from_keypoints

    for rec in load_lsp(mat_file, img_dir, split=split):
        kps = np.asarray(rec["keypoints"], np.float32)
        labelled = np.asarray(rec["keypoints_visible"]) > 0
        box = np.asarray(rec["bbox"], np.float32)
        body_box = box_from_keypoints(kps, labelled)
        yield Entry(Path(rec["image_file"]), Path(rec["image_file"]).name, int(rec["image_id"]),
                    [Person(body_box if body_box is not None else box, kps, labelled,
                            keep_box=False)])


def folder_entries(img_dir: str | os.PathLike) -> Iterator[Entry]:
    """Every picture in ``img_dir`` (sorted), ids 1, 2, ...; persons found later by a detector."""
    from lgmpose.data.image_io import list_images

    for i, path in enumerate(list_images(img_dir), start=1):
        yield Entry(path, path.name, i, None)
