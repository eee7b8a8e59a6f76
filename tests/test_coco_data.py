import json
import sys
from pathlib import Path

import numpy as np
import pytest

from lgmpose.data.coco import CocoKeypointDataset
from lgmpose.data.image_io import read_image
from lgmpose.data.transforms import get_affine_transform, transform_points
from lgmpose.errors import LgmposeError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_coco import write_dataset  # noqa: E402


def _mini(shared_data, split="val"):
    root = shared_data / "coco-mini"
    return root / "annotations" / f"person_keypoints_{split}2017.json", root / f"{split}2017"


def test_gt_persons_follow_the_standard_filter(shared_data):
    ann, images = _mini(shared_data)
    dataset = CocoKeypointDataset(ann, images)
    data = json.loads(ann.read_text())
    expected = [a for a in data["annotations"]
                if not a["iscrowd"] and a["num_keypoints"] > 0]
    assert len(dataset) == len(expected) == 68
    assert {r["ann_id"] for r in dataset.records} == {a["id"] for a in expected}


def test_eval_sample_dict_and_mapping_back(shared_data):
    ann, images = _mini(shared_data)
    dataset = CocoKeypointDataset(ann, images, input_size=(256, 192), codec="dark")
    sample = dataset[0]
    assert sample["image"].shape == (3, 256, 192) and sample["image"].dtype == np.float32
    assert sample["heatmaps"].shape == (17, 64, 48) and sample["target_weight"].shape == (17,)
    assert sample["keypoints"].shape == (17, 2) and sample["keypoints_visible"].shape == (17,)
    assert sample["center"].shape == (2,) and sample["scale"].shape == (2,)
    assert sample["scale"][0] / sample["scale"][1] == pytest.approx(0.75)
    assert isinstance(sample["image_id"], int) and sample["bbox_score"] == 1.0
    assert sample["area"] == pytest.approx(float(np.prod(sample["scale"])))
    # decoded targets mapped back with center/scale land on the GT keypoints
    decoded, _ = dataset.codec.decode(sample["heatmaps"])
    inverse = get_affine_transform(sample["center"], sample["scale"], 0, (256, 192), inv=True)
    back = transform_points(decoded, inverse)
    record = dataset.records[0]
    vis = record["keypoints_visible"] > 0
    assert np.abs(back[vis] - record["keypoints"][vis]).max() < 0.5


def test_training_samples_are_seeded(shared_data):
    ann, images = _mini(shared_data, "train")
    aug = {"flip_prob": 0.5, "half_body_prob": 0.3, "half_body_min_joints": 8,
           "scale_factor": 0.25, "rot_factor": 30.0, "rot_prob": 0.6}
    a = CocoKeypointDataset(ann, images, train=True, aug=aug, seed=3)
    b = CocoKeypointDataset(ann, images, train=True, aug=aug, seed=3)
    assert len(a) == 86
    for i in (0, 5, 17):
        x, y = a[i], b[i]
        np.testing.assert_array_equal(x["image"], y["image"])
        np.testing.assert_array_equal(x["heatmaps"], y["heatmaps"])
    rotations = {float(a.get_sample(0, np.random.default_rng(s))["rotation"]) for s in range(8)}
    assert len(rotations) > 2
    with pytest.raises(LgmposeError, match="unknown augmentation"):
        CocoKeypointDataset(ann, images, train=True, aug={"rotate": 3})


def test_detection_boxes_with_threshold(shared_data):
    root = shared_data / "mmpose-samples" / "coco"
    det = root / "test_coco_det_AP_H_56.json"
    everything = CocoKeypointDataset(root / "test_coco.json", root, boxes=det)
    confident = CocoKeypointDataset(root / "test_coco.json", root, boxes=det, det_thr=0.5)
    assert len(everything) == 118 and 0 < len(confident) < 118
    sample = confident[0]
    assert 0.5 <= sample["bbox_score"] <= 1.0 and sample["ann_id"] == -1
    assert sample["target_weight"].sum() == 0
    gt = CocoKeypointDataset(root / "test_coco.json", root)
    assert len(gt) == 12  # 14 persons, 2 without keypoints


def test_unreadable_image_names_the_file(shared_data, tmp_path):
    ann, images = _mini(shared_data)
    data = json.loads(ann.read_text())
    name = data["images"][0]["file_name"]
    good = (images / name).read_bytes()
    (tmp_path / name).write_bytes(good[: len(good) // 2])
    dataset = CocoKeypointDataset(ann, tmp_path)
    index = next(i for i, r in enumerate(dataset.records) if r["image_file"].name == name)
    with pytest.raises(LgmposeError, match=name):
        dataset[index]
    other = next(i for i, r in enumerate(dataset.records) if r["image_file"].name != name)
    with pytest.raises(LgmposeError, match="cannot read image"):
        dataset[other]
    (tmp_path / "x.jpg").write_bytes(b"not an image")
    with pytest.raises(LgmposeError, match="x.jpg"):
        read_image(tmp_path / "x.jpg")


def test_keypoint_count_must_match_metainfo(shared_data):
    ann, images = _mini(shared_data)
    with pytest.raises(LgmposeError, match="17 keypoints"):
        CocoKeypointDataset(ann, images, metainfo="mpii")


def test_person_occlusion_pastes_another_persons_picture(tmp_path):
    root = write_dataset(tmp_path / "d", num_images=4, persons_per_image=1)
    common = dict(ann_file=root / "annotations/train.json", img_dir=root / "images",
                  input_size=(64, 64), codec="udp", train=True, seed=3)
    still = {"flip_prob": 0.0, "rot_prob": 0.0, "scale_factor": 0.0, "half_body_prob": 0.0}
    plain = CocoKeypointDataset(**common, aug=still)
    occluded = CocoKeypointDataset(**common, aug={**still, "person_occlusion_prob": 1.0})
    changed = 0
    for i in range(len(plain)):
        a, b = plain[i], occluded[i]
        np.testing.assert_allclose(a["keypoints"], b["keypoints"])     # targets are kept
        np.testing.assert_array_equal(a["target_weight"], b["target_weight"])
        np.testing.assert_array_equal(b["image"], occluded[i]["image"])  # seeded
        changed += int(np.abs(a["image"] - b["image"]).max() > 0)
    assert changed >= len(plain) - 1
    # an unreadable picture of the other person is skipped, not raised: its own turn reports it
    (root / "images" / "000002.png").write_bytes(b"garbage")
    assert occluded[0]["image"].shape == (3, 64, 64)


def test_person_occlusion_is_a_known_augmentation_option(tmp_path):
    with pytest.raises(LgmposeError, match="unknown augmentation"):
        CocoKeypointDataset(tmp_path / "x.json", tmp_path, train=True, aug={"person_occlusion": 1})
