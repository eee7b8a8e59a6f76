"""The bootstrap intervals of ``lgmpose accuracy --bootstrap``: resampled pictures keep their own
ground truth and results, and the paired differences compare models on the same draws."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lgmpose.evaluation.bootstrap import bootstrap_ap
from lgmpose.evaluation.coco import coco_keypoint_ap
from synthetic_coco import write_dataset


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    root = write_dataset(tmp_path_factory.mktemp("boot"), num_images=8, persons_per_image=2)
    return json.loads((root / "annotations" / "val.json").read_text())


def _results(truth, shift=0.0, skip=()):
    """Every person's own keypoints, moved ``shift`` pixels, except on pictures ``skip``."""
    out = []
    for ann in truth["annotations"]:
        if ann["image_id"] in skip:
            continue
        points = np.asarray(ann["keypoints"], float).reshape(17, 3)
        points[:, :2] += shift
        points[:, 2] = 1.0
        out.append({"image_id": ann["image_id"], "category_id": 1, "score": 1.0,
                    "keypoints": points.reshape(-1).tolist()})
    return out


def test_exact_results_score_1_on_every_resampling(truth):
    boot = bootstrap_ap(truth, [_results(truth)], replicates=20)
    assert boot["ap"] == [[1.0, 1.0]] and boot["pictures"] == 8 and boot["difference"] == [None]


def test_the_same_results_twice_differ_by_nothing(truth):
    results = _results(truth, shift=3.0)
    boot = bootstrap_ap(truth, [results, list(results)], replicates=30)
    assert boot["difference"][1] == [0.0, 0.0]
    assert boot["ap"][0] == boot["ap"][1]


def test_the_interval_holds_the_full_sets_ap_and_the_paired_difference_its_sign(truth):
    good, worse = _results(truth, shift=1.5), _results(truth, shift=1.5, skip={1, 2, 3})
    full = coco_keypoint_ap(good, truth)["AP"]
    boot = bootstrap_ap(truth, [good, worse], replicates=200, seed=1)
    low, high = boot["ap"][0]
    assert low <= full <= high and low < high
    # missing a picture's people can only lose AP, on every draw
    assert boot["difference"][1][1] <= 0.0 and boot["difference"][1][0] < 0.0


def test_replicates_must_be_positive(truth):
    with pytest.raises(ValueError):
        bootstrap_ap(truth, [_results(truth)], replicates=0)
