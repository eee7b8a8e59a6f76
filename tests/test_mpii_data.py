import json

import numpy as np
import pytest
from scipy.io import loadmat

from lgmpose.data.mpii import MpiiDataset, mpii_center_scale
from lgmpose.evaluation import mpii_pckh


def test_center_scale_convention():
    center, scale = mpii_center_scale([101.0, 51.0], 2.0)
    np.testing.assert_allclose(center, [100.0, 50.0 + 30.0])
    np.testing.assert_allclose(scale, [500.0, 500.0])
    _, scale = mpii_center_scale([101.0, 51.0], 2.0, aspect_ratio=0.75)
    np.testing.assert_allclose(scale, [500.0, 500.0 / 0.75])


def test_json_format_on_the_mmpose_samples(shared_data):
    root = shared_data / "mmpose-samples" / "mpii"
    dataset = MpiiDataset(root / "test_mpii.json", root, input_size=(256, 256))
    assert len(dataset) == 5
    raw = json.loads((root / "test_mpii.json").read_text())
    np.testing.assert_allclose(dataset.records[0]["keypoints"], np.array(raw[0]["joints"]) - 1)
    sample = dataset[0]
    assert sample["image"].shape == (3, 256, 256) and sample["heatmaps"].shape == (16, 64, 64)
    assert sample["target_weight"].sum() == 16
    train = MpiiDataset(root / "test_mpii.json", root, train=True,
                        aug={"half_body_prob": 0.0, "flip_prob": 1.0})
    flipped = train[0]
    assert flipped["flipped"]


def test_record_format_matches_the_json_and_the_gt_file(shared_data):
    records = shared_data / "mpii" / "mpii_annotations.json.gz"
    val = MpiiDataset(records, shared_data / "mmpose-samples" / "mpii", split="val")
    train = MpiiDataset(records, shared_data / "mmpose-samples" / "mpii", split="train")
    assert len(val) == 2958 and len(train) == 22246
    # the same person as the first mmpose json sample
    root = shared_data / "mmpose-samples" / "mpii"
    sample_json = MpiiDataset(root / "test_mpii.json", root)
    first = sample_json.records[0]
    match = [r for r in val.records if r["image_file"].name == first["image_file"].name
             and np.allclose(r["keypoints"], first["keypoints"], atol=0.01)]
    assert match
    np.testing.assert_allclose(match[0]["center"], first["center"], atol=0.01)
    np.testing.assert_allclose(match[0]["scale"], first["scale"], rtol=1e-3)
    # in gt-file order: the GT keypoints score 100 % PCKh
    preds = np.stack([r["keypoints"] for r in val.records])
    gt = loadmat(str(shared_data / "mpii" / "mpii_gt_val.mat"))
    visible = np.stack([r["keypoints_visible"] for r in val.records]) > 0
    np.testing.assert_array_equal(visible, gt["jnt_missing"].T == 0)
    result = mpii_pckh(preds, shared_data / "mpii" / "mpii_gt_val.mat")
    assert result["Mean"] == pytest.approx(100.0, abs=0.05)
