"""Leeds Sports Pose (LSP, 2,000 images) and LSP Extended (LSPET, 10,000 images), as COCO-17.

Both ship a ``joints.mat`` holding one variable ``joints`` (14 joints per image, one person per
image) and ``images/im<number>.jpg`` (LSP: ``im0001.jpg``, LSPET: ``im00001.jpg``); entry ``i``
of the file (0-based) is image number ``i + 1``. The layout is told by the array's shape:

* LSPET: ``14 x 3 x N``; the third row is a *visible* flag (1/0). Joints flagged 0 carry no usable
  position (in the released file they are (0, 0) or negative junk), so they count as unlabelled.
* LSP: ``3 x 14 x N``; the third row is an *occlusion* flag (1 = occluded). Occluded joints still
  have valid positions, so every joint counts as labelled.

Joint order: right ankle, right knee, right hip, left hip, left knee, left ankle, right wrist,
right elbow, right shoulder, left shoulder, left elbow, left wrist, neck, head top. The twelve limb
joints map onto COCO-17 (:data:`LSP_TO_COCO`); neck and head top have no COCO counterpart and the
five COCO face points are absent from LSP, so those keypoints are unlabelled (target weight 0).
Neck and head top still count in the person box.

Coordinates are taken as 0-based image pixels, unshifted: in LSPET's labelled joints the values
span ``[0, width - 1]`` (none in ``(width - 1, width]``, a few in ``[0, 1)``), which fits 0-based
pixel centres, not 1-based MATLAB ones. The difference would be one pixel at most.

Person box: the extent of the labelled joints (all 14, neck and head top included), extended
past the head top by 20 % of the neck -> head-top vector when both are labelled (the head top is
where the skull ends; this works for upside-down gymnasts too), then enlarged by 15 % of its width
and height on each side (limb ends are joints, not the silhouette). The crop pads it by
``padding`` (1.25) and fixes it to the input aspect ratio, as for COCO ground-truth boxes.

Held-out split (``split="val"``): every entry whose image number is divisible by 20 (5 %);
``split="train"`` is the rest. The rule only looks at the number, so it is deterministic and does
not depend on which images are present. (LSP's own protocol, the first 1,000 images for training
and the last 1,000 for testing, can be had with ``indices``.)

Entries whose image file is absent are skipped and counted in one warning line (logger
``lgmpose.data.lsp``), e.g. ``LSPET: 1000 of 10000 entries have no image in DIR; skipped``.
"""
from __future__ import annotations

import json
import logging
import os
import struct
from pathlib import Path

import numpy as np

from lgmpose.data.base import TopDownDataset
from lgmpose.data.image_io import folder_names
from lgmpose.data.metainfo import load_metainfo
from lgmpose.data.transforms import box_to_center_scale
from lgmpose.defaults import BOX_PADDING, CODEC, INPUT_SIZE
from lgmpose.errors import LgmposeError

__all__ = ["LSP_JOINT_NAMES", "LSP_TO_COCO", "PCK_THR", "LspDataset", "LspRecords", "in_split",
           "load_lsp", "lsp_box", "lsp_pck", "lsp_to_coco", "read_lsp_joints"]

logger = logging.getLogger(__name__)

LSP_JOINT_NAMES = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
                   "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
                   "left_wrist", "neck", "head_top")
# LSP joint i -> its index in COCO's keypoint set, matched by name in the COCO metainfo (-1: not a
# COCO keypoint: neck, head top)
_COCO_NAMES = load_metainfo("coco").keypoint_names
LSP_TO_COCO = tuple(_COCO_NAMES.index(n) if n in _COCO_NAMES else -1 for n in LSP_JOINT_NAMES)
NECK, HEAD_TOP = 12, 13
VAL_EVERY = 20
PCK_THR = 0.2  # of the torso size: the usual LSP protocol
BOX_MARGIN = 0.15
HEAD_EXTENSION = 0.2
_DIGITS = {"lsp": (4, 5), "lspet": (5, 4)}
_NAMES = {"lsp": "LSP", "lspet": "LSPET"}


class LspRecords(list):
    """The list :func:`load_lsp` returns, with what was read: ``layout`` (``"lsp"`` | ``"lspet"``),
    ``total`` (entries in the file), ``missing`` (entries skipped for want of an image),
    ``mat_file`` and ``img_dir``."""

    layout: str
    total: int
    missing: int
    mat_file: str
    img_dir: str


def read_lsp_joints(mat_file) -> tuple[np.ndarray, str]:
    """``joints [N, 14, 3]`` (x, y, file flag) of an LSP or LSPET ``joints.mat``, and the layout
    (``"lsp"`` or ``"lspet"``). A missing or unreadable file, a file without ``joints`` or of
    another shape raises :class:`LgmposeError` naming the file."""
    path = os.fspath(mat_file)
    if not os.path.isfile(path):
        raise LgmposeError(f"LSP joints file {path!r} does not exist")
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except Exception as error:  # scipy raises several types (MatReadError, ValueError, ...)
        raise LgmposeError(f"LSP joints file {path!r}: not a readable MATLAB file "
                           f"({type(error).__name__}: {error})") from None
    if "joints" not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise LgmposeError(f"LSP joints file {path!r}: no variable 'joints' (found: "
                           f"{', '.join(found) or 'none'})")
    try:
        raw = np.asarray(mat["joints"], dtype=np.float64)
    except (TypeError, ValueError):
        raise LgmposeError(f"LSP joints file {path!r}: 'joints' is not a numeric array") from None
    if raw.ndim == 3 and raw.shape[:2] == (14, 3):
        joints, layout = raw.transpose(2, 0, 1), "lspet"
    elif raw.ndim == 3 and raw.shape[:2] == (3, 14):
        joints, layout = raw.transpose(2, 1, 0), "lsp"
    else:
        raise LgmposeError(f"LSP joints file {path!r}: 'joints' has shape {raw.shape}; expected "
                           "14 x 3 x N (LSPET) or 3 x 14 x N (LSP)")
    if joints.shape[0] == 0:
        raise LgmposeError(f"LSP joints file {path!r}: 'joints' holds no entries")
    return np.ascontiguousarray(joints), layout


def lsp_box(joints: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """The person box ``[x, y, w, h]`` of 14 joints (see the module doc); zeros if none is
    labelled."""
    labelled = np.asarray(labelled, bool)
    points = np.asarray(joints, np.float64)[:, :2]
    if not labelled.any():
        return np.zeros(4, np.float32)
    extent = points[labelled]
    if labelled[NECK] and labelled[HEAD_TOP]:
        head = points[HEAD_TOP] + HEAD_EXTENSION * (points[HEAD_TOP] - points[NECK])
        extent = np.vstack([extent, head])
    (x1, y1), (x2, y2) = extent.min(0), extent.max(0)
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    return np.array([x1 - BOX_MARGIN * w, y1 - BOX_MARGIN * h, w * (1 + 2 * BOX_MARGIN),
                     h * (1 + 2 * BOX_MARGIN)], dtype=np.float32)


def in_split(image_id: int, split: str | None) -> bool:
    """The held-out rule: ``val`` = image numbers divisible by 20, ``train`` = the others."""
    if split in (None, "all"):
        return True
    if split == "val":
        return image_id % VAL_EVERY == 0
    if split == "train":
        return image_id % VAL_EVERY != 0
    raise LgmposeError(f"LSP split must be 'train', 'val', 'all' or None, got {split!r}")


def load_lsp(mat_file, img_dir, split: str | None = None) -> LspRecords:
    """One record per entry of ``mat_file`` (of ``split``, see :func:`in_split`) whose image is
    in ``img_dir``, in file order:

    ``index`` (0-based entry of the file), ``image_file`` (Path), ``image_id`` (the file number),
    ``keypoints17 [17, 2]`` float32 (0 where unlabelled), ``visible17 [17]`` float32 (1 labelled,
    0 not; face points always 0), the same two arrays as ``keypoints`` / ``keypoints_visible``,
    ``bbox [4]`` float32 ``x, y, w, h``, ``joints [14, 3]`` float64 (x, y and the file's flag, as
    stored), ``labelled14 [14]`` bool and ``layout``.

    Entries without an image are skipped and counted in one warning; ``.missing`` and ``.total``
    of the returned :class:`LspRecords` hold the counts (over the entries of ``split``).
    """
    in_split(0, split)  # refuse a bad split name before reading anything
    joints, layout = read_lsp_joints(mat_file)
    img_dir = Path(img_dir)
    present = folder_names(img_dir, "LSP image folder")
    finite = np.isfinite(joints[:, :, :2]).all(axis=2)
    if layout == "lspet":
        labelled = finite & (joints[:, :, 2] > 0.5)
    else:
        labelled = finite
    coco = np.array(LSP_TO_COCO)
    mapped = coco >= 0
    records = LspRecords()
    total = 0
    for index in range(joints.shape[0]):
        number = index + 1
        if not in_split(number, split):
            continue
        total += 1
        name = next((n for n in (f"im{number:0{d}d}.jpg" for d in _DIGITS[layout]) if n in present),
                    None)
        if name is None:
            continue
        keypoints = np.zeros((17, 2), np.float32)
        visible = np.zeros(17, np.float32)
        ok = labelled[index] & mapped
        keypoints[coco[ok]] = joints[index, ok, :2]
        visible[coco[ok]] = 1.0
        records.append({
            "index": index, "image_file": img_dir / name, "image_id": number,
            "keypoints17": keypoints, "visible17": visible,
            "keypoints": keypoints, "keypoints_visible": visible,
            "bbox": lsp_box(joints[index], labelled[index]),
            "joints": joints[index].copy(), "labelled14": labelled[index].copy(), "layout": layout,
        })
    records.layout, records.total, records.missing = layout, total, total - len(records)
    records.mat_file, records.img_dir = os.fspath(mat_file), os.fspath(img_dir)
    if records.missing:
        what = _NAMES[layout] if split in (None, "all") else f"{_NAMES[layout]} ({split} split)"
        logger.warning("%s: %d of %d entries have no image in %s; skipped", what,
                       records.missing, records.total, img_dir)
    return records


class LspDataset(TopDownDataset):
    """Top-down crops of LSP / LSPET persons as COCO-17 (see the module doc for the box, the
    coordinates and the split). ``split``: None / ``"all"``, ``"train"`` or ``"val"`` (``val`` =
    the entries whose image number is divisible by 20). ``indices``: keep only these 0-based
    entries of the file (combined with ``split``). ``metainfo`` must have COCO's 17 keypoints.

    Besides the common record keys, each record keeps ``index`` (entry of the file),
    ``joints [14, 3]`` and ``labelled14``. ``num_missing``: entries of the split skipped for want
    of an image (reported in one warning).
    """

    def __init__(self, mat_file, img_dir, metainfo="coco", input_size=INPUT_SIZE, codec=CODEC,
                 train: bool = False, aug: dict | None = None, seed: int = 0,
                 padding: float = BOX_PADDING, indices=None, split: str | None = None,
                 use_joint_weights: bool = False):
        super().__init__(metainfo, input_size, codec, train, aug, seed, use_joint_weights)
        if self.metainfo.num_keypoints != 17:
            raise LgmposeError(f"LSP is mapped to COCO-17 keypoints; metainfo "
                               f"{self.metainfo.name!r} has {self.metainfo.num_keypoints}")
        self.mat_file = os.fspath(mat_file)
        self.img_dir = Path(img_dir)
        self.padding = padding
        self.split = None if split == "all" else split
        entries = load_lsp(self.mat_file, self.img_dir, split)
        self.layout, self.num_missing = entries.layout, entries.missing
        keep = None if indices is None else {int(i) for i in indices}
        self.records = []
        unlabelled = 0
        for entry in entries:
            if keep is not None and entry["index"] not in keep:
                continue
            box = entry["bbox"]
            if not entry["visible17"].any() or box[2] <= 0 or box[3] <= 0:
                unlabelled += 1
                continue
            center, scale = box_to_center_scale(box, self.pipeline.aspect_ratio, padding)
            self.records.append({
                "image_file": entry["image_file"], "image_id": entry["image_id"],
                "ann_id": entry["image_id"], "bbox": box, "bbox_score": 1.0,
                "center": center, "scale": scale, "keypoints": entry["keypoints17"],
                "keypoints_visible": entry["visible17"], "index": entry["index"],
                "joints": entry["joints"], "labelled14": entry["labelled14"],
            })
        if unlabelled:
            logger.warning("%s %s: %d entries have no labelled COCO keypoint; skipped",
                           _NAMES[self.layout], self.mat_file, unlabelled)


def _image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` from a JPEG or PNG header; other files are decoded."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError as error:
        raise LgmposeError(f"cannot read image '{path}': {error.strerror or error}") from None
    if head.startswith(b"\x89PNG") and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return int(width), int(height)
    if head.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(head):
            if head[i] != 0xFF:
                i += 1
                continue
            marker = head[i + 1]
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE,
                          0xCF):
                height, width = struct.unpack(">HH", head[i + 5:i + 9])
                return int(width), int(height)
            if marker in (0xD8, 0x01, 0xFF) or 0xD0 <= marker <= 0xD7:
                i += 2 if marker != 0xFF else 1
                continue
            i += 2 + struct.unpack(">H", head[i + 2:i + 4])[0]
    from lgmpose.data.image_io import read_image

    height, width = read_image(path).shape[:2]
    return int(width), int(height)


def lsp_to_coco(mat_file, img_dir, out_json, split: str | None = None) -> Path:
    """Write LSP / LSPET (entries with an image, ``split`` as in :class:`LspDataset`) as a COCO
    keypoint json: one image and one annotation per entry (``id`` = ``image_id`` = the file
    number), 17 x 3 keypoints with v = 2 labelled / 0 unlabelled, the box of :func:`lsp_box`,
    ``area`` = box area, ``num_keypoints``, and the COCO person category. ``file_name`` is the
    image's name inside ``img_dir``. Written atomically; returns the path."""
    from lgmpose.utils.atomic import atomic_write_text

    entries = load_lsp(mat_file, img_dir, split)
    coco = load_metainfo("coco")
    images, annotations = [], []
    for entry in entries:
        width, height = _image_size(entry["image_file"])
        images.append({"id": entry["image_id"], "file_name": entry["image_file"].name,
                       "width": width, "height": height})
        visible = entry["visible17"] > 0
        triplets = np.zeros((17, 3), np.float64)
        triplets[visible, :2] = entry["keypoints17"][visible]
        triplets[visible, 2] = 2
        box = [round(float(v), 2) for v in entry["bbox"]]
        annotations.append({
            "id": entry["image_id"], "image_id": entry["image_id"], "category_id": 1,
            "iscrowd": 0, "bbox": box, "area": round(box[2] * box[3], 2),
            "num_keypoints": int(visible.sum()),
            "keypoints": [round(float(v), 2) if i % 3 != 2 else int(v)
                          for i, v in enumerate(triplets.reshape(-1))],
        })
    data = {
        "info": {"description": f"{_NAMES[entries.layout]} as COCO-17 keypoints (lgmpose)",
                 "source": os.fspath(mat_file), "split": split or "all"},
        "images": images, "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "supercategory": "person",
                        "keypoints": list(coco.keypoint_names),
                        "skeleton": [[int(a) + 1, int(b) + 1] for a, b in coco.skeleton]}],
    }
    out = Path(out_json)
    atomic_write_text(out, json.dumps(data))
    return out


# COCO indices of the joints LSP has, by group (left, right), and the torso's diagonals and sides.
PCK_GROUPS = {group.capitalize(): (_COCO_NAMES.index(f"left_{group}"),
                                   _COCO_NAMES.index(f"right_{group}"))
              for group in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")}
(_L_SHOULDER, _R_SHOULDER), (_L_HIP, _R_HIP) = PCK_GROUPS["Shoulder"], PCK_GROUPS["Hip"]
TORSO_DIAGONALS = ((_L_SHOULDER, _R_HIP), (_R_SHOULDER, _L_HIP))
TORSO_SIDES = ((_L_SHOULDER, _L_HIP), (_R_SHOULDER, _R_HIP))


def lsp_pck(preds, records, threshold: float = PCK_THR) -> dict:
    """PCK@``threshold`` of the torso size, in percent, over the labelled LSP joints.

    ``preds [N, 17, 2]`` in image pixels; ``records``: the dataset records of the same persons
    (``keypoints`` and ``keypoints_visible``, COCO-17). Torso size = the mean length of the
    labelled shoulder-to-opposite-hip diagonals (the usual LSP torso); a person with neither
    diagonal labelled (frequent in LSPET) falls back to the mean labelled shoulder-to-same-side-hip
    length; persons with none of these are left out (counted in ``excluded``).
    Returns ``Shoulder, Elbow, Wrist, Hip, Knee, Ankle`` (left and right pooled), ``PCK`` (all
    twelve joints pooled), ``persons`` and ``excluded``.
    """
    preds = np.asarray(preds, np.float64)
    if preds.ndim != 3 or preds.shape[0] != len(records) or preds.shape[1:] != (17, 2):
        raise LgmposeError(f"LSP PCK needs predictions of shape ({len(records)}, 17, 2), "
                           f"got {preds.shape}")
    gt = np.stack([np.asarray(r["keypoints"], np.float64) for r in records]) if records else \
        np.zeros((0, 17, 2))
    labelled = np.stack([np.asarray(r["keypoints_visible"]) > 0 for r in records]) if records \
        else np.zeros((0, 17), bool)
    torso = np.zeros(len(records))
    for pairs in (TORSO_DIAGONALS, TORSO_SIDES):
        lengths, counted = np.zeros(len(records)), np.zeros(len(records))
        for a, b in pairs:
            ok = labelled[:, a] & labelled[:, b]
            lengths += np.where(ok, np.linalg.norm(gt[:, a] - gt[:, b], axis=1), 0.0)
            counted += ok
        torso = np.where(torso > 0, torso, lengths / np.maximum(counted, 1))
    usable = torso > 0
    torso = np.where(usable, torso, 1.0)
    hit = np.linalg.norm(preds - gt, axis=2) <= threshold * torso[:, None]
    mask = labelled & usable[:, None]
    result = {}
    for name, ids in PCK_GROUPS.items():
        ids = list(ids)
        result[name] = float(100.0 * (hit[:, ids] & mask[:, ids]).sum()
                             / max(mask[:, ids].sum(), 1))
    joints = [i for ids in PCK_GROUPS.values() for i in ids]
    result["PCK"] = float(100.0 * (hit[:, joints] & mask[:, joints]).sum()
                          / max(mask[:, joints].sum(), 1))
    result["persons"] = int(usable.sum())
    result["excluded"] = int((~usable).sum())
    return result
