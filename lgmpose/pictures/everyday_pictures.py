"""Write the "everyday pictures" training folders and their person-box files from the public
datasets they come from: Stanford 40 Actions, a CC BY 4.0 person-detection export and MPII Human
Pose pictures.

Run it as ``python -m lgmpose.pictures.everyday_pictures stanford40 --source SRC --out DIR`` (or
``make everyday-pictures``). ``SRC`` is either

* a folder holding the official Stanford 40 download unpacked (``JPEGImages/``,
  ``XMLAnnotations/``, ``ImageSplits/``; http://vision.stanford.edu/Datasets/40actions.html), or
* a bare git snapshot of a public repository that carries those three folders (e.g.
  ``Mehranai/stanford40_pose`` at commit ``STANFORD40_COMMIT``).

and ``python -m lgmpose.pictures.everyday_pictures person_tracker --source GIT_DIR --out DIR`` for
the Roboflow "Capston2" v11 export (CC BY 4.0) kept in ``ahsanirfan961/Person-Tracker`` at commit
``PERSON_TRACKER_COMMIT`` (later deleted from that repository).

and ``python -m lgmpose.pictures.everyday_pictures mpii --source SRC --out DIR`` for the MPII
Human Pose pictures that ``labels/mpii_train*.json.gz`` label: ``SRC`` is the official download
unpacked (its ``images/`` folder; http://human-pose.mpi-inf.mpg.de) or a bare git snapshot of a
repository that carries a subset of it in ``images/`` (``DomChey/ORIU_Project`` at commit
``MPII_COMMIT``: 1,576 pictures of ten sports, 1,287 of them with train-split people).

What is written (pictures byte for byte as published; nothing is re-encoded):

* ``DIR/stanford40/train`` — the official train split plus the official test split's pictures
  not held out; ``DIR/stanford40/val`` — every 10th picture of the sorted official test split
  (553 pictures), held out for validation. ``DIR/stanford40/{train,val}_boxes.json``: COCO files
  with each picture's acting-person box (the dataset's XML ``bndbox``), no keypoints.
* ``DIR/person_tracker/{train,valid,test}`` and ``..._boxes.json``: the export's pictures with its
  YOLO person boxes in pixels. Pictures named after a COCO image id (``000000NNNNNN_jpg...``) are
  left out: COCO val2017 pictures are for evaluation only, and the export does not say which
  COCO split a picture is from. ``DIR/person_tracker/boxes_once_h15.json``: what
  ``labels/capston2.json.gz`` labels, one version of each source picture in each subset (the
  subsets share some sources), its boxes at least 15% of the picture's height.
* ``DIR/mpii/images``: the MPII pictures named by the label files (``--names``); their people's
  joints come from MPII's own annotations (``lgmpose pseudo-label --mpii``).

The box files are what ``lgmpose pseudo-label --boxes-of`` reads; the label files in ``labels/``
name the same pictures. Terms: Stanford 40 Actions is a research dataset (cite Yao et al., ICCV
2011); train on it, do not redistribute the pictures. The Capston2 export is CC BY 4.0 (Roboflow
user siwookim). MPII Human Pose: annotations under the Simplified BSD licence, pictures from
YouTube videos for research use (cite Andriluka et al., CVPR 2014). No set of pictures is
committed or shipped.
"""
from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from pathlib import Path

from lgmpose.errors import LgmposeError
from lgmpose.utils.atomic import atomic_path, atomic_write_text

STANFORD40_COMMIT = "7346ba4d10a779c6bec9571431f714281bbc3760"
PERSON_TRACKER_COMMIT = "49473929cfd908d54becb8a0c8d9e9f7709f5aa1"
PERSON_TRACKER_ROOT = "Capston2-11"
MPII_COMMIT = "aaee82f03c63e2a76f99ce9b69dad09d625a38f7"
MPII_NAMES = ("labels/mpii_train.json.gz", "labels/mpii_train_others.json.gz")
VAL_EVERY = 10          # every 10th picture of Stanford 40's official test split is held out
COCO_NAMED = re.compile(r"^\d{12}_(jpg|jpeg|png)\.rf\.", re.IGNORECASE)
STRETCHED_SIZE = 640    # the export resized every picture to 640x640 (stretch)
ROBOFLOW_COPY = re.compile(r"\.rf\.[0-9a-f]+\.(jpg|jpeg|png)$", re.IGNORECASE)
MIN_HEIGHT = 0.15       # of the picture's height: smaller people are too small for the teacher


# ---------------------------------------------------------------------------------------------
# Reading a source: an unpacked folder or a bare git snapshot.

class _Source:
    """Files of a dataset, from a plain folder or from one commit of a bare git repository."""

    def __init__(self, path: str | Path, commit: str | None = None):
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise LgmposeError(f"source '{self.path}': no such folder")
        self.git = (self.path / "HEAD").is_file() and (self.path / "objects").is_dir()
        self.commit = commit or "HEAD"
        if self.git:
            self._run("cat-file", "-e", f"{self.commit}^{{commit}}",
                      error=f"commit {self.commit} is not in the snapshot")

    def _run(self, *args: str, error: str = "") -> bytes:
        result = subprocess.run(["git", f"--git-dir={self.path}", *args], capture_output=True)
        if result.returncode:
            raise LgmposeError(f"source '{self.path}': {error or 'git ' + args[0] + ' failed'} "
                               f"({result.stderr.decode(errors='replace').strip()[:200]})")
        return result.stdout

    def read_text(self, rel: str) -> str:
        if self.git:
            return self._run("show", f"{self.commit}:{rel}", error=f"no file {rel}").decode()
        file = self.path / rel
        if not file.is_file():
            raise LgmposeError(f"source '{self.path}': no file {rel}")
        return file.read_text()

    def files(self, folder: str) -> Iterator[tuple[str, bytes]]:
        """(name relative to ``folder``, bytes) of every file under ``folder``."""
        if not self.git:
            root = self.path / folder
            if not root.is_dir():
                raise LgmposeError(f"source '{self.path}': no folder {folder}/")
            for file in sorted(root.rglob("*")):
                if file.is_file():
                    yield file.relative_to(root).as_posix(), file.read_bytes()
            return
        # git's complaints about files outside ``folder`` that a snapshot lacks (its largest)
        # are kept out of the output; they are shown only if reading ``folder`` fails.
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(["git", f"--git-dir={self.path}", "archive", "--format=tar",
                                     self.commit, folder], stdout=subprocess.PIPE, stderr=errors)
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                for member in tar:
                    if member.isfile():
                        data = tar.extractfile(member).read()
                        yield member.name[len(folder) + 1:], data
            if proc.wait():
                errors.seek(0)
                raise LgmposeError(f"source '{self.path}': cannot read {folder}/ at {self.commit} "
                                   f"({errors.read().decode(errors='replace').strip()[:200]})")


def _write_bytes(path: Path, data: bytes) -> bool:
    if path.is_file() and path.stat().st_size == len(data):
        return False
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return True


def _box_file(images: list[dict], boxes: dict[str, list[list[float]]], description: str) -> dict:
    """A COCO person file with boxes only (``num_keypoints`` 0), ids in name order."""
    annotations = []
    for image in images:
        for box in boxes.get(image["file_name"], []):
            annotations.append({"id": len(annotations) + 1, "image_id": image["id"],
                                "category_id": 1, "iscrowd": 0, "num_keypoints": 0,
                                "bbox": [round(v, 2) for v in box],
                                "area": round(box[2] * box[3], 2), "keypoints": [0] * 51})
    return {"info": {"description": description}, "images": images,
            "annotations": annotations,
            "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}


# ---------------------------------------------------------------------------------------------
# Stanford 40 Actions.

def stanford40_box(xml_text: str) -> tuple[int, int, list[list[float]]]:
    """(width, height, [[x, y, w, h], ...]) of a Stanford 40 XML annotation (the acting people)."""
    root = ET.fromstring(xml_text)
    width, height = int(root.findtext("size/width")), int(root.findtext("size/height"))
    boxes = []
    for obj in root.iter("object"):
        b = obj.find("bndbox")
        x1, y1 = float(b.findtext("xmin")), float(b.findtext("ymin"))
        x2, y2 = float(b.findtext("xmax")), float(b.findtext("ymax"))
        if x2 > x1 and y2 > y1:
            boxes.append([x1, y1, x2 - x1, y2 - y1])
    return width, height, boxes


def stanford40_split(train_list: str, test_list: str) -> dict[str, str]:
    """Picture name -> "train" or "val": every VAL_EVERY-th of the sorted test split is "val"."""
    split = {name: "train" for name in train_list.split()}
    for i, name in enumerate(sorted(test_list.split())):
        split[name] = "val" if i % VAL_EVERY == 0 else "train"
    return split


def build_stanford40(source: _Source, out: Path) -> dict[str, int]:
    split = stanford40_split(source.read_text("ImageSplits/train.txt"),
                             source.read_text("ImageSplits/test.txt"))
    sizes, boxes = {}, {}
    for rel, data in source.files("XMLAnnotations"):
        name = Path(rel).with_suffix(".jpg").name
        width, height, found = stanford40_box(data.decode())
        sizes[name], boxes[name] = (width, height), found
    written = seen = 0
    for rel, data in source.files("JPEGImages"):
        name = Path(rel).name
        if name not in split:
            continue
        seen += 1
        written += _write_bytes(out / split[name] / name, data)
    counts = {"pictures": seen, "written": written}
    for subset in ("train", "val"):
        names = sorted(n for n, s in split.items() if s == subset and n in sizes)
        images = [{"id": i, "file_name": n, "width": sizes[n][0], "height": sizes[n][1]}
                  for i, n in enumerate(names, 1)]
        data = _box_file(images, boxes, f"Stanford 40 Actions {subset} pictures ("
                         f"val: every {VAL_EVERY}th of the official test split), acting-person "
                         "boxes from the dataset's XML annotations")
        atomic_write_text(out / f"{subset}_boxes.json", json.dumps(data))
        counts[subset] = len(images)
    if seen != len(split):
        raise LgmposeError(f"source '{source.path}': {len(split)} pictures in the splits, "
                           f"{seen} found in JPEGImages/")
    return counts


# ---------------------------------------------------------------------------------------------
# The Capston2 person-detection export (stretched to 640x640).

def yolo_boxes(text: str, width: int, height: int) -> list[list[float]]:
    """YOLO lines ``class cx cy w h`` (fractions) -> [[x, y, w, h], ...] pixels, class 0 only."""
    boxes = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 5 or parts[0] != "0":
            continue
        cx, cy, w, h = (float(v) for v in parts[1:])
        boxes.append([(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height])
    return boxes


def build_person_tracker(source: _Source, out: Path) -> dict[str, int]:
    counts: dict[str, int] = {"coco_named_left_out": 0, "written": 0}
    once: list[tuple[str, list[list[float]]]] = []
    for subset in ("train", "valid", "test"):
        labels = {Path(rel).stem: data.decode() for rel, data in
                  source.files(f"{PERSON_TRACKER_ROOT}/{subset}/labels") if rel.endswith(".txt")}
        names = []
        for rel, data in source.files(f"{PERSON_TRACKER_ROOT}/{subset}/images"):
            name = Path(rel).name
            if COCO_NAMED.match(name):
                counts["coco_named_left_out"] += 1
                continue
            names.append(name)
            counts["written"] += _write_bytes(out / subset / name, data)
        names.sort()
        images = [{"id": i, "file_name": n, "width": STRETCHED_SIZE, "height": STRETCHED_SIZE}
                  for i, n in enumerate(names, 1)]
        boxes = {n: yolo_boxes(labels.get(Path(n).stem, ""), STRETCHED_SIZE, STRETCHED_SIZE)
                 for n in names}
        data = _box_file(images, boxes, f"Capston2 v11 export ({subset}), person boxes; "
                         "pictures stretched to 640x640; COCO-named pictures left out")
        atomic_write_text(out / f"{subset}_boxes.json", json.dumps(data))
        counts[subset] = len(images)
        once.extend(one_version_each([(f"{subset}/{n}", boxes[n]) for n in names],
                                     MIN_HEIGHT * STRETCHED_SIZE))
    images = [{"id": i, "file_name": n, "width": STRETCHED_SIZE, "height": STRETCHED_SIZE}
              for i, (n, _) in enumerate(once, 1)]
    data = _box_file(images, dict(once), "Capston2 v11 export, one version of each source "
                     f"picture in each subset, person boxes at least {MIN_HEIGHT:.0%} of its "
                     "height")
    atomic_write_text(out / "boxes_once_h15.json", json.dumps(data))
    counts["once_h15"] = len(images)
    return counts


def one_version_each(pictures: list[tuple[str, list[list[float]]]], min_height: float
                     ) -> list[tuple[str, list[list[float]]]]:
    """The first (by name) version of each source picture that keeps a box ``min_height`` pixels
    tall or more, with those boxes only. The export holds up to 8 cropped or sheared copies of a
    source picture, named ``<source>_jpg.rf.<hash>.jpg``: the same people, nothing to learn twice."""
    seen: set[str] = set()
    out = []
    for name, boxes in sorted(pictures):
        tall = [b for b in boxes if b[3] >= min_height]
        source = ROBOFLOW_COPY.sub("", name.split("/")[-1])
        if tall and source not in seen:
            seen.add(source)
            out.append((name, tall))
    return out


# ---------------------------------------------------------------------------------------------
# MPII Human Pose pictures (a subset, the ones the label files name).

def label_file_names(files: Sequence[str | Path]) -> set[str]:
    """The picture names of COCO keypoint files (plain or .gz)."""
    from lgmpose.data.coco import load_coco_json

    names: set[str] = set()
    for file in files:
        try:
            names.update(str(im["file_name"]) for im in load_coco_json(Path(file))["images"])
        except (KeyError, TypeError) as error:
            raise LgmposeError(f"label file '{file}': no picture list ({error!r})") from None
    return names


def build_mpii(source: _Source, out: Path, names: set[str]) -> dict[str, int]:
    written = seen = 0
    for rel, data in source.files("images"):
        name = Path(rel).name
        if name in names:
            seen += 1
            written += _write_bytes(out / "images" / name, data)
    if seen != len(names):
        raise LgmposeError(f"source '{source.path}': the label files name {len(names)} pictures, "
                           f"{seen} found in images/")
    return {"pictures": seen, "written": written}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["stanford40", "person_tracker", "mpii"])
    parser.add_argument("--source", required=True, type=Path,
                        help="unpacked official download, or a bare git snapshot")
    parser.add_argument("--commit", default=None,
                        help="snapshot commit (default: the pinned one for the dataset)")
    parser.add_argument("--out", required=True, type=Path, help="writes OUT/<dataset>/...")
    parser.add_argument("--names", nargs="+", default=list(MPII_NAMES), metavar="LABELS",
                        help="mpii: write the pictures these label files name (default: "
                        f"{' '.join(MPII_NAMES)})")
    args = parser.parse_args(argv)
    pinned = {"stanford40": STANFORD40_COMMIT, "person_tracker": PERSON_TRACKER_COMMIT,
              "mpii": MPII_COMMIT}
    try:
        source = _Source(args.source, args.commit or pinned[args.dataset])
        if not source.git and args.dataset == "person_tracker":
            source = _Source(args.source)
        target = args.out.expanduser() / args.dataset
        if args.dataset == "mpii":
            counts = build_mpii(source, target, label_file_names(args.names))
        elif args.dataset == "stanford40":
            counts = build_stanford40(source, target)
        else:
            counts = build_person_tracker(source, target)
    except (LgmposeError, OSError, ET.ParseError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"dataset": args.dataset, "out": str(args.out / args.dataset), **counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
