"""`lgmpose accuracy --breakdown`: per-person OKS grouped by what makes people hard."""
from __future__ import annotations

import numpy as np
import pytest

from lgmpose.data.facing import AWAY, TOWARDS, UNDECIDED, facing
from lgmpose.data.metainfo import load_metainfo
from lgmpose.evaluation.breakdown import breakdown_rows, group_people, max_overlap, person_oks


def _upright_facing_camera() -> np.ndarray:
    """A person standing upright, facing the camera: their left side is on the image's right."""
    k = np.zeros((17, 3))
    k[:, 2] = 2
    k[5, :2], k[6, :2] = (120, 100), (80, 100)      # left / right shoulder
    k[11, :2], k[12, :2] = (115, 200), (85, 200)    # left / right hip
    return k


def _rotate(k: np.ndarray, degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    out = k.copy()
    out[:, :2] = (k[:, :2] - 100) @ rotation.T + 100
    return out


def test_facing_follows_the_body_not_the_image():
    front = _upright_facing_camera()
    back = front.copy()
    back[:, 0] = 200 - back[:, 0]                    # mirrored: left side now on the image's left
    assert facing(front) == TOWARDS and facing(back) == AWAY
    # upside down, or lying, a person facing the camera still faces it
    for angle in (90, 180, 270, 135):
        assert facing(_rotate(front, angle)) == TOWARDS
        assert facing(_rotate(back, angle)) == AWAY
    side = front.copy()
    side[[5, 11], 0] = side[[6, 12], 0] + 2          # shoulders and hips nearly in line: a side view
    assert facing(side) == UNDECIDED
    labelled = np.ones(17, bool)
    labelled[12] = False                             # no right hip: undecided
    assert facing(front, labelled) == UNDECIDED
    batch = np.stack([front, back, side])
    np.testing.assert_array_equal(facing(batch), [TOWARDS, AWAY, UNDECIDED])


def test_person_oks_is_cocoeval_oks():
    COCO = pytest.importorskip("pycocotools.coco").COCO
    COCOeval = pytest.importorskip("pycocotools.cocoeval").COCOeval
    rng = np.random.default_rng(0)
    sigmas = load_metainfo("coco").sigmas
    truth = np.zeros((3, 17, 3))
    truth[..., :2] = rng.uniform(50, 250, (3, 17, 2))
    truth[..., 2] = rng.choice([0, 1, 2], (3, 17), p=[0.3, 0.2, 0.5])
    truth[:, 0, 2] = 2                               # at least one labelled keypoint each
    predicted = truth[..., :2] + rng.normal(0, 6, (3, 17, 2))
    areas = np.array([9000.0, 2500.0, 40000.0])
    ours = person_oks(predicted, truth, areas, sigmas)

    gt = COCO()
    gt.dataset = {"images": [{"id": i} for i in range(3)], "categories": [{"id": 1}],
                  "annotations": [{"id": i + 1, "image_id": i, "category_id": 1, "iscrowd": 0,
                                   "area": float(areas[i]), "bbox": [40, 40, 220, 220],
                                   "num_keypoints": int((truth[i, :, 2] > 0).sum()),
                                   "keypoints": truth[i].ravel().tolist()} for i in range(3)]}
    gt.createIndex()
    dt = gt.loadRes([{"image_id": i, "category_id": 1, "score": 1.0,
                      "keypoints": np.concatenate([predicted[i], np.ones((17, 1))], 1)
                      .ravel().tolist()} for i in range(3)])
    evaluator = COCOeval(gt, dt, "keypoints")
    evaluator.params.kpt_oks_sigmas = np.asarray(sigmas)
    evaluator.evaluate()
    for i in range(3):
        assert ours[i] == pytest.approx(float(evaluator.ious[(i, 1)][0, 0]), abs=1e-6)
    assert 0.0 < ours.min() and ours.max() < 1.0
    none_labelled = truth[:1].copy()
    none_labelled[..., 2] = 0
    assert np.isnan(person_oks(predicted[:1], none_labelled, areas[:1], sigmas)[0])


def test_max_overlap_skips_the_person_itself():
    boxes = np.array([[0, 0, 10, 10], [100, 100, 10, 10]], float)
    others = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [100, 100, 10, 10]], float)
    overlap = max_overlap(boxes, others, [0, 2])
    # box 0 against its half-shifted neighbour: 50 / 150; box 1 has no neighbour
    np.testing.assert_allclose(overlap, [50 / 150, 0.0])
    # a person whose own box is not in the list meets its twin: IoU 1
    assert max_overlap(boxes[:1], others, [-1])[0] == pytest.approx(1.0)
    assert max_overlap(boxes, np.zeros((0, 4)), []).tolist() == [0.0, 0.0]


def test_groups_and_rows():
    areas = np.array([500.0, 5000.0, 20000.0, 20000.0])
    labelled = np.array([3, 10, 17, 13])
    overlaps = np.array([0.0, 0.05, 0.2, 0.5])
    truth_facing = np.array([UNDECIDED, TOWARDS, AWAY, AWAY])
    groups = group_people(areas, labelled, overlaps, truth_facing)
    for parts in groups.values():                    # the buckets of a group never overlap
        assert (np.sum(list(parts.values()), axis=0) <= 1).all()
    for group in ("size", "labelled keypoints", "overlap (IoU with a neighbour)"):
        assert np.sum(list(groups[group].values()), axis=0).tolist() == [1, 1, 1, 1]
    oks = [np.array([0.1, 0.2, 0.3, 0.5]), np.array([0.9, 0.8, 0.7, 0.6])]
    predicted = [np.array([TOWARDS, AWAY, AWAY, TOWARDS]), np.array([AWAY, TOWARDS, AWAY, AWAY])]
    rows = breakdown_rows(groups, oks, truth_facing, predicted)
    by_name = {(b["group"], b["bucket"]): b for b in rows["buckets"]}
    large = by_name[("size", "large (> 96^2)")]
    assert large["persons"] == 2 and large["mean_oks"] == [0.4, 0.65]
    away = by_name[("facing", "away from the camera")]
    assert away["persons"] == 2 and away["mean_oks"] == [0.4, 0.65]
    assert by_name[("overlap (IoU with a neighbour)", ">= 0.3")]["mean_oks"] == [0.5, 0.6]
    assert rows["facing_persons"] == {"towards": 1, "away": 2}
    # model 0 turned the person facing us away and one of the two facing away towards us
    assert rows["turned"] == [{"towards": 1, "away": 1}, {"towards": 0, "away": 0}]
    empty = group_people(areas[:0], labelled[:0], overlaps[:0], truth_facing[:0])
    assert all(b["mean_oks"] == [None] for b in
               breakdown_rows(empty, [np.zeros(0)], truth_facing[:0], [np.zeros(0)])["buckets"])
