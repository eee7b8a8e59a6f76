"""Where the people to pseudo-label come from: a COCO keypoint file, LSP/LSPET, MPII, a folder of
pictures or a video's frames (boxes from a person detector or the whole picture), or the people a
label file does not hold yet in its own pictures.

Each source yields :class:`Entry` objects (one per image); ``persons`` is None when a detector
must find them on the decoded image, and ``known`` holds the people labelled already (a
detection that overlaps one of them, or whose keypoints land on theirs, is not labelled again).
With ``find_others`` the given ``persons`` are labelled and a detector also looks for the people
they leave out (a dataset's own person boxes, which often miss bystanders).
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lgmpose.errors import LgmposeError

__all__ = ["Entry", "Person", "boxed_people_entries", "coco_entries", "folder_entries",
           "lsp_entries", "mpii_entries", "other_people_entries", "video_entries"]

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
    known: list[Person] | None = field(default=None)   # people labelled already
    find_others: bool = False              # a detector also looks beyond ``persons``


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


# MPII's 16 joints in LSP's order of 14 (upper neck as LSP's neck), so that LSP's joint mapping
# and person box serve both.
MPII_AS_LSP = (0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 8, 9)


def mpii_entries(ann_file: str | os.PathLike, img_dir: str | os.PathLike,
                 split: str | None = None) -> Iterator[Entry]:
    """MPII people (the per-person record file, ``mpii_annotations.json[.gz]``) whose picture is in
    ``img_dir``, grouped by picture; 12 of their 16 joints map onto COCO-17 (pelvis, thorax, upper
    neck and head top have no COCO counterpart) and the teacher's box is LSP's person box around
    the joints and the head top. ``split`` (train/val) selects by ``isValidation``. Pictures
    absent from ``img_dir`` are skipped and counted in one warning (a picture subset is common)."""
    import warnings

    from lgmpose.data.image_io import folder_names
    from lgmpose.data.lsp import LSP_TO_COCO, lsp_box
    from lgmpose.data.mpii import read_mpii_json

    if split not in (None, "all", "train", "val"):
        raise LgmposeError(f"MPII split must be 'train', 'val' or 'all', got {split!r}")
    path = Path(img_dir)
    present = folder_names(path, "MPII image folder")
    records = read_mpii_json(os.fspath(ann_file))
    if not isinstance(records, list):
        raise LgmposeError(f"MPII annotation file '{ann_file}': expected a list of person records")
    coco = np.array(LSP_TO_COCO)
    mapped = coco >= 0
    by_picture: dict[str, list[Person]] = {}
    absent = set()
    for number, rec in enumerate(records):
        try:
            if split in ("train", "val") and bool(rec["isValidation"]) != (split == "val"):
                continue
            name = str(rec["img_paths"])
            raw = np.asarray(rec["joint_self"], np.float64).reshape(16, 3)
        except (KeyError, TypeError, ValueError) as error:
            raise LgmposeError(f"MPII annotation file '{ann_file}': record {number} is not an MPII "
                               f"person record ({error!r})") from None
        if name not in present:
            absent.add(name)
            continue
        joints = raw[list(MPII_AS_LSP)]
        labelled = ~((joints[:, 0] == 0) & (joints[:, 1] == 0))  # unannotated joints are (0, 0)
        joints[:, :2] -= 1.0                                   # 1-based MATLAB pixels
        keypoints = np.zeros((17, 2), np.float32)
        visible = np.zeros(17, bool)
        ok = labelled & mapped
        keypoints[coco[ok]] = joints[ok, :2]
        visible[coco[ok]] = True
        if not visible.any():
            continue
        by_picture.setdefault(name, []).append(
            Person(lsp_box(joints, labelled), keypoints, visible, keep_box=False))
    if absent:
        warnings.warn(f"MPII: {len(absent)} pictures of {ann_file} are not in {path}; their "
                      "people are skipped", stacklevel=2)
    for i, name in enumerate(sorted(by_picture), start=1):
        stem = Path(name).stem                      # MPII's names are numbers: keep them as ids
        yield Entry(path / name, name, int(stem) if stem.isdigit() else i, by_picture[name])


def folder_entries(img_dir: str | os.PathLike) -> Iterator[Entry]:
    """Every picture in ``img_dir`` (sorted), ids 1, 2, ...; persons found later by a detector."""
    from lgmpose.data.image_io import list_images

    for i, path in enumerate(list_images(img_dir), start=1):
        yield Entry(path, path.name, i, None)


def other_people_entries(labels_file: str | os.PathLike,
                         img_dir: str | os.PathLike) -> Iterator[Entry]:
    """The pictures of a COCO keypoint file (plain or .gz), for a detector to find the people the
    file does not hold: its people are ``known``. Image ids and file names are the file's own, so
    the new labels can be trained on beside the old ones."""
    from lgmpose.data.coco import load_coco_json

    path = Path(labels_file)
    data = load_coco_json(path)
    try:
        images = sorted(data["images"], key=lambda im: int(im["id"]))
        people: dict[int, list[Person]] = {}
        for ann in data["annotations"]:
            kps = np.asarray(ann.get("keypoints") or [], np.float32).reshape(-1, 3)
            people.setdefault(int(ann["image_id"]), []).append(
                Person(np.asarray(ann["bbox"], np.float32), kps[:, :2].copy(), kps[:, 2] > 0))
    except (ValueError, KeyError, TypeError) as error:
        raise LgmposeError(f"label file '{path}': cannot read it ({error})") from None
    for im in images:
        yield Entry(Path(img_dir) / im["file_name"], im["file_name"], int(im["id"]), None,
                    people.get(int(im["id"]), []))


def boxed_people_entries(boxes_file: str | os.PathLike,
                         img_dir: str | os.PathLike) -> Iterator[Entry]:
    """The people boxed in a COCO file (plain or .gz; boxes are enough, keypoints are not read),
    every picture of the file included, with ``find_others`` set so that a detector also labels
    the people the file does not box. Image ids and file names are the file's own."""
    from lgmpose.data.coco import load_coco_json

    path = Path(boxes_file)
    data = load_coco_json(path)
    try:
        images = sorted(data["images"], key=lambda im: int(im["id"]))
        boxes: dict[int, list[Person]] = {}
        for ann in data["annotations"]:
            if ann.get("iscrowd"):
                continue
            box = np.asarray(ann["bbox"], np.float32)
            if box.shape != (4,) or not np.all(np.isfinite(box)) or min(box[2], box[3]) <= 1:
                continue
            boxes.setdefault(int(ann["image_id"]), []).append(Person(box))
        entries = [(im, boxes.get(int(im["id"]), [])) for im in images]
    except (ValueError, KeyError, TypeError) as error:
        raise LgmposeError(f"box file '{path}': cannot read it ({error})") from None
    for im, persons in entries:
        yield Entry(Path(img_dir) / im["file_name"], im["file_name"], int(im["id"]), persons,
                    find_others=True)


def video_entries(video: str | os.PathLike, frames_dir: str | os.PathLike,
                  every: int = 1) -> Iterator[Entry]:
    """Every ``every``-th frame of a video, written to ``frames_dir`` as
    ``<video name>_<frame number>.jpg`` (kept when it exists already, so an interrupted run
    resumes) so that the labels can be trained on; ids are the frame numbers plus one."""
    from lgmpose.inference.media import open_source
    from lgmpose.video.writers import write_image

    if every < 1:
        raise LgmposeError(f"video '{video}': --every must be at least 1, got {every}")
    source = open_source(video)
    if source.kind != "video":
        raise LgmposeError(f"'{video}': not a video file")
    frames_dir = Path(frames_dir)
    frames_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(video).stem
    for frame in source:
        if frame.index % every:
            continue
        name = f"{stem}_{frame.index:06d}.jpg"
        path = frames_dir / name
        if not path.is_file():
            write_image(path, frame.image)      # atomic; OpenCV's JPEG quality is 95
        yield Entry(path, name, frame.index + 1, None)
