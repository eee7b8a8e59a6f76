"""The everyday-pictures training set: the tool that writes its folders, and the stored labels."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from lgmpose.data.coco import CocoKeypointDataset, load_coco_json
from lgmpose.pictures import everyday_pictures as ep

REPO = Path(__file__).resolve().parents[1]
LABELS = REPO / "labels"
PICTURES = REPO / "work_dirs" / "everyday" / "stanford40"
STANFORD_NAME = re.compile(r"^[a-z_A-Z]+_\d{3}\.jpg$")

XML = """<annotation><filename>{name}</filename><object><name>person</name><bndbox>
<xmax>{x2}</xmax><xmin>{x1}</xmin><ymax>{y2}</ymax><ymin>{y1}</ymin></bndbox></object>
<size><depth>3</depth><height>{h}</height><width>{w}</width></size></annotation>"""


def test_stanford40_box_reads_the_acting_persons_box():
    width, height, boxes = ep.stanford40_box(XML.format(name="a_001.jpg", x1=28, y1=57, x2=258,
                                                        y2=400, w=300, h=400))
    assert (width, height) == (300, 400) and boxes == [[28.0, 57.0, 230.0, 343.0]]


def test_every_tenth_test_picture_is_held_out_and_train_keeps_the_rest():
    test = " ".join(f"b_{i:03d}.jpg" for i in range(25, 0, -1))
    split = ep.stanford40_split("a_001.jpg a_002.jpg", test)
    val = sorted(n for n, s in split.items() if s == "val")
    assert val == ["b_001.jpg", "b_011.jpg", "b_021.jpg"]
    assert split["a_001.jpg"] == "train" and sum(s == "train" for s in split.values()) == 24


def test_yolo_boxes_to_pixels_person_class_only():
    boxes = ep.yolo_boxes("0 0.5 0.5 0.25 0.5\n1 0.5 0.5 0.1 0.1\nbad line\n", 640, 640)
    assert boxes == [[240.0, 160.0, 160.0, 320.0]]


def test_coco_named_pictures_are_recognised():
    assert ep.COCO_NAMED.match("000000010142_jpg.rf.bac8496ad3104ae570eea6f19f43123c.jpg")
    assert not ep.COCO_NAMED.match("youtube-99_jpg.rf.e18d879dd102c0585c9b89d6e9ad6512.jpg")
    assert not ep.COCO_NAMED.match("-1-771x514_jpg.rf.4a7c61c61b38f126ef2871e9d6932533.jpg")


def test_one_version_of_each_source_picture_with_its_tall_boxes():
    tall, short = [0, 0, 50, 200], [0, 0, 20, 60]
    pictures = [("train/b_jpg.rf.22.jpg", [tall]), ("train/a_jpg.rf.11.jpg", [short, tall]),
                ("valid/a_jpg.rf.33.jpg", [tall]), ("test/c_jpg.rf.44.jpg", [short])]
    once = ep.one_version_each(pictures, min_height=96)
    assert once == [("train/a_jpg.rf.11.jpg", [tall]), ("train/b_jpg.rf.22.jpg", [tall])]


def _stanford_tree(root: Path) -> None:
    (root / "JPEGImages").mkdir(parents=True)
    (root / "XMLAnnotations").mkdir()
    (root / "ImageSplits").mkdir()
    names = [f"cooking_{i:03d}.jpg" for i in range(1, 13)]
    for name in names:
        cv2.imwrite(str(root / "JPEGImages" / name), np.full((40, 30, 3), 100, np.uint8))
        (root / "XMLAnnotations" / name.replace(".jpg", ".xml")).write_text(
            XML.format(name=name, x1=2, y1=3, x2=20, y2=35, w=30, h=40))
    (root / "ImageSplits" / "train.txt").write_text("\n".join(names[:4]) + "\n")
    (root / "ImageSplits" / "test.txt").write_text("\n".join(names[4:]) + "\n")


def _check_stanford_output(out: Path, source: Path) -> None:
    train = json.loads((out / "train_boxes.json").read_text())
    val = json.loads((out / "val_boxes.json").read_text())
    assert [im["file_name"] for im in val["images"]] == ["cooking_005.jpg"]
    assert len(train["images"]) == 11 and len(train["annotations"]) == 11
    assert train["annotations"][0]["bbox"] == [2.0, 3.0, 18.0, 32.0]
    written = sorted(p.name for p in (out / "train").iterdir())
    assert written == sorted(im["file_name"] for im in train["images"])
    assert (out / "val" / "cooking_005.jpg").read_bytes() == \
        (source / "JPEGImages" / "cooking_005.jpg").read_bytes()


def test_builds_from_the_unpacked_official_download(tmp_path):
    _stanford_tree(tmp_path / "src")
    assert ep.main(["stanford40", "--source", str(tmp_path / "src"),
                    "--out", str(tmp_path / "out")]) == 0
    _check_stanford_output(tmp_path / "out" / "stanford40", tmp_path / "src")


def test_builds_from_a_git_snapshot_at_a_given_commit(tmp_path):
    src = tmp_path / "src"
    _stanford_tree(src)
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(git + ["init", "-q", str(src)], check=True)
    subprocess.run(git + ["-C", str(src), "add", "."], check=True)
    subprocess.run(git + ["-C", str(src), "commit", "-qm", "x"], check=True)
    commit = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(bare)], check=True)
    assert ep.main(["stanford40", "--source", str(bare), "--commit", commit,
                    "--out", str(tmp_path / "out")]) == 0
    _check_stanford_output(tmp_path / "out" / "stanford40", src)


def test_a_missing_source_or_commit_is_one_clear_line(tmp_path, capsys):
    assert ep.main(["stanford40", "--source", str(tmp_path / "nothing"),
                    "--out", str(tmp_path)]) == 2
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "src").mkdir()
    assert ep.main(["stanford40", "--source", str(tmp_path / "src"),
                    "--out", str(tmp_path / "out")]) == 2
    assert "ImageSplits/train.txt" in capsys.readouterr().err


# --- the stored label files ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["stanford40_train", "stanford40_val"])
def test_stored_labels_load_and_name_each_picture_once(name):
    data = load_coco_json(LABELS / f"{name}.json.gz")
    names = [im["file_name"] for im in data["images"]]
    assert len(names) == len(set(names)) and all(STANFORD_NAME.match(n) for n in names)
    ids = {im["id"] for im in data["images"]}
    assert all(a["image_id"] in ids for a in data["annotations"])
    for ann in data["annotations"][:200]:
        kps = np.asarray(ann["keypoints"]).reshape(17, 3)
        assert ann["num_keypoints"] == int((kps[:, 2] > 0).sum()) >= 6
        assert len(ann["teacher_keypoints"]) == 51 and ann["bbox"][2] > 0
    dataset = CocoKeypointDataset(LABELS / f"{name}.json.gz", PICTURES / name.split("_")[1])
    assert len(dataset) > len(names) * 0.9      # most pictures hold a labelled person or more


def test_held_out_and_training_pictures_are_apart():
    train = {im["file_name"] for im in load_coco_json(LABELS / "stanford40_train.json.gz")["images"]}
    val = {im["file_name"] for im in load_coco_json(LABELS / "stanford40_val.json.gz")["images"]}
    assert not train & val and len(val) == 554 and len(train) > 8900


def test_stored_labels_cover_the_fetched_pictures():
    if not (PICTURES / "train").is_dir():
        pytest.skip("Stanford 40 pictures not fetched (make everyday-pictures)")
    for subset in ("train", "val"):
        data = load_coco_json(LABELS / f"stanford40_{subset}.json.gz")
        present = {p.name for p in (PICTURES / subset).iterdir()}
        named = {im["file_name"] for im in data["images"]}
        assert named <= present and len(present - named) <= 5


def test_capston2_labels_leave_out_coco_pictures_and_name_each_source_once():
    data = load_coco_json(LABELS / "capston2.json.gz")
    names = [im["file_name"] for im in data["images"]]
    assert len(names) == len(set(names)) == 2380
    assert not any(ep.COCO_NAMED.match(n.split("/")[-1]) for n in names)
    sources = {re.sub(r"\.rf\.[0-9a-f]+\.jpg$", "", n) for n in names}
    assert len(sources) == len(names)           # one version of each source picture
    ids = {im["id"] for im in data["images"]}
    assert all(a["image_id"] in ids for a in data["annotations"])
    for ann in data["annotations"]:
        kps = np.asarray(ann["keypoints"]).reshape(17, 3)
        assert ann["num_keypoints"] == int((kps[:, 2] > 0).sum()) >= 6
        assert ann["bbox"][3] >= 0.15 * 640 - 1e-6


def _mpii_labels(path: Path, names: list[str]) -> Path:
    path.write_text(json.dumps({"images": [{"id": i, "file_name": n} for i, n in
                                           enumerate(names, 1)], "annotations": []}))
    return path


def test_mpii_writes_the_pictures_the_label_files_name_byte_for_byte(tmp_path, capsys):
    src = tmp_path / "src" / "images"
    src.mkdir(parents=True)
    for i in range(1, 5):
        cv2.imwrite(str(src / f"00000000{i}.jpg"), np.full((30, 40, 3), 20 * i, np.uint8))
    labels = _mpii_labels(tmp_path / "a.json", ["000000001.jpg", "000000003.jpg"])
    others = _mpii_labels(tmp_path / "b.json", ["000000003.jpg", "000000004.jpg"])
    assert ep.main(["mpii", "--source", str(tmp_path / "src"), "--out", str(tmp_path / "out"),
                    "--names", str(labels), str(others)]) == 0
    written = sorted(p.name for p in (tmp_path / "out" / "mpii" / "images").iterdir())
    assert written == ["000000001.jpg", "000000003.jpg", "000000004.jpg"]
    assert (tmp_path / "out" / "mpii" / "images" / "000000004.jpg").read_bytes() == \
        (src / "000000004.jpg").read_bytes()
    assert json.loads(capsys.readouterr().out.strip())["written"] == 3
    missing = _mpii_labels(tmp_path / "c.json", ["000000009.jpg"])
    assert ep.main(["mpii", "--source", str(tmp_path / "src"), "--out", str(tmp_path / "out"),
                    "--names", str(missing)]) == 2
    assert "name 1 pictures, 0 found in images/" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["mpii_train", "mpii_train_others"])
def test_stored_mpii_labels_name_train_split_pictures_only(name, shared_data):
    import gzip

    data = load_coco_json(LABELS / f"{name}.json.gz")
    names = [im["file_name"] for im in data["images"]]
    assert len(names) == len(set(names)) == 1287
    records = json.load(gzip.open(shared_data / "mpii" / "mpii_annotations.json.gz"))
    val = {r["img_paths"] for r in records if r["isValidation"]}
    train = {r["img_paths"] for r in records if not r["isValidation"]}
    assert set(names) <= train and not set(names) & val
    ids = {im["id"] for im in data["images"]}
    assert all(a["image_id"] in ids for a in data["annotations"])
    from_truth = [a["from_ground_truth"] for a in data["annotations"]]   # GT keypoints kept
    assert all(1 <= n <= 12 for n in from_truth) if name == "mpii_train" else not any(from_truth)


def test_stored_mpii_labels_cover_the_fetched_pictures():
    pictures = REPO / "work_dirs" / "mpii" / "images"
    if not pictures.is_dir():
        pytest.skip("MPII pictures not fetched (make mpii-pictures)")
    present = {p.name for p in pictures.iterdir()}
    assert ep.label_file_names([LABELS / "mpii_train.json.gz"]) <= present
