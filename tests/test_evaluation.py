import contextlib
import copy
import io
import json

import numpy as np
import pytest

from lgmpose.evaluation import (coco_keypoint_ap, make_coco_results, mpii_pckh, oks_iou, oks_nms,
                                rescore)

COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87,
                        .89, .89]) / 10.0


def _perturbed_results(ann_file, seed=0):
    """GT keypoints with noise scaled to each person, 10 % of persons dropped, extra false persons."""
    rng = np.random.default_rng(seed)
    data = json.loads(open(ann_file).read())
    results = []
    for ann in data["annotations"]:
        if ann["num_keypoints"] == 0 or ann.get("iscrowd", 0):
            continue
        if rng.random() < 0.1:
            continue
        kps = np.array(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        noise = rng.normal(0, 0.04 * np.sqrt(ann["area"]) + 1.0, size=(kps.shape[0], 2))
        kps[:, :2] += noise
        kps[:, 2] = rng.uniform(0.3, 1.0, size=kps.shape[0])
        results.append({"image_id": ann["image_id"], "category_id": 1,
                        "keypoints": kps.reshape(-1).tolist(), "score": float(rng.uniform(0.5, 1))})
        if rng.random() < 0.15:
            fake = kps.copy()
            fake[:, :2] += rng.uniform(-80, 80, size=2)
            results.append({"image_id": ann["image_id"], "category_id": 1,
                            "keypoints": fake.reshape(-1).tolist(), "score": float(rng.uniform(0, 1))})
    return results


def _pycocotools_direct(results, ann_file):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann_file))
        dt = gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(gt, dt, "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def test_coco_ap_equals_pycocotools_on_the_val_subset(shared_data):
    ann_file = shared_data / "coco-val2017-subset" / "person_keypoints_val2017_subset.json"
    results = _perturbed_results(ann_file)
    ours = coco_keypoint_ap(copy.deepcopy(results), str(ann_file))
    reference = _pycocotools_direct(results, ann_file)
    assert list(ours) == ["AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL"]
    assert list(ours.values()) == [float(v) for v in reference]
    assert 0.3 < ours["AP"] < 0.95  # the perturbation is neither trivial nor destructive


def test_coco_ap_results_file_and_sigmas(shared_data, tmp_path):
    ann_file = shared_data / "coco-mini" / "annotations" / "person_keypoints_val2017.json"
    results = _perturbed_results(ann_file, seed=1)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    a = coco_keypoint_ap(str(path), str(ann_file))
    b = coco_keypoint_ap(results, str(ann_file), sigmas=COCO_SIGMAS)
    assert a == b == {k: float(v) for k, v in zip(a, _pycocotools_direct(results, ann_file))}
    assert coco_keypoint_ap(results, json.loads(ann_file.read_text())) == a  # a dict in memory
    wide = coco_keypoint_ap(results, str(ann_file), sigmas=COCO_SIGMAS * 2)
    assert wide["AP"] > a["AP"]
    assert coco_keypoint_ap([], str(ann_file))["AP"] == 0.0


def test_oks_nms_and_rescoring():
    rng = np.random.default_rng(0)
    pose = np.concatenate([rng.uniform(0, 100, (17, 2)), np.ones((17, 1))], axis=1)
    near = pose.copy()
    near[:, :2] += 0.5
    far = pose.copy()
    far[:, :2] += 60
    poses = np.stack([near, pose, far])
    areas = np.full(3, 100.0 * 100.0)
    assert oks_iou(pose, poses, areas[0], areas, COCO_SIGMAS)[1] == pytest.approx(1.0)
    assert oks_nms(poses, [0.8, 0.9, 0.5], areas, COCO_SIGMAS, 0.9) == [1, 2]
    assert oks_nms(poses, [0.8, 0.9, 0.5], areas, COCO_SIGMAS, 1.0) == [1, 0, 2]
    scores = rescore([[0.1, 0.5, 0.9], [0.1, 0.1, 0.1]], [0.5, 1.0], rescore_thr=0.2)
    np.testing.assert_allclose(scores, [0.35, 0.0])
    results = make_coco_results([7, 7, 7], poses[..., :2], poses[..., 2] * [[0.8], [0.9], [0.5]],
                                [1, 1, 1], areas, COCO_SIGMAS)
    assert len(results) == 2 and results[0]["image_id"] == 7 and len(results[0]["keypoints"]) == 51
    assert results[0]["score"] == pytest.approx(0.9)


def _reference_pckh(preds, gt_file, thr):
    """A plain loop over persons and joints, written from the definition."""
    from scipy.io import loadmat

    mat = loadmat(str(gt_file))
    missing, pos, boxes = mat["jnt_missing"], mat["pos_gt_src"], mat["headboxes_src"]
    hits, totals = np.zeros(16), np.zeros(16)
    for n in range(preds.shape[0]):
        (x1, y1), (x2, y2) = boxes[0, :, n], boxes[1, :, n]
        head = 0.6 * np.hypot(x2 - x1, y2 - y1)
        for j in range(16):
            if missing[j, n]:
                continue
            gx, gy = pos[j, 0, n] - 1, pos[j, 1, n] - 1  # 1-based -> 0-based
            px, py = preds[n, j]
            totals[j] += 1
            hits[j] += np.hypot(px - gx, py - gy) <= thr * head
    pck = 100 * hits / totals
    used = [j for j in range(16) if j not in (6, 7)]
    return pck, sum(pck[j] * totals[j] for j in used) / sum(totals[j] for j in used)


def test_mpii_pckh_against_a_direct_computation(shared_data):
    from scipy.io import loadmat

    gt_file = shared_data / "mpii" / "mpii_gt_val.mat"
    gt = np.transpose(loadmat(str(gt_file))["pos_gt_src"], (2, 0, 1)) - 1.0
    perfect = mpii_pckh(gt, gt_file)
    assert perfect["Mean"] == 100.0 and perfect["Mean@0.1"] == 100.0
    rng = np.random.default_rng(0)
    preds = gt + rng.normal(0, 6, gt.shape) * rng.uniform(0.2, 2.5, (gt.shape[0], 16, 1))
    ours = mpii_pckh(preds, gt_file)
    pck, mean = _reference_pckh(preds, gt_file, 0.5)
    assert ours["Mean"] == pytest.approx(mean, abs=1e-9)
    assert ours["Head"] == pytest.approx(pck[9], abs=1e-9)
    assert ours["Wrist"] == pytest.approx((pck[10] + pck[15]) / 2, abs=1e-9)
    assert ours["Ankle"] == pytest.approx((pck[0] + pck[5]) / 2, abs=1e-9)
    assert ours["Mean@0.1"] == pytest.approx(_reference_pckh(preds, gt_file, 0.11)[1], abs=1e-9)
    assert 50 < ours["Mean"] < 99
    assert set(ours) >= {"Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean",
                         "Mean@0.1"}
    with pytest.raises(Exception, match="shape"):
        mpii_pckh(preds[:10], gt_file)


def test_keypoint_similarity_averages_to_pycocotools_oks():
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from lgmpose.evaluation.coco import keypoint_similarity

    rng = np.random.default_rng(3)
    n = 12
    truth = np.concatenate([rng.uniform(20, 300, (n, 17, 2)),
                            rng.choice([0, 1, 2], (n, 17, 1), p=[0.2, 0.3, 0.5])], axis=2)
    truth[:, 5:7, 2] = 2                      # every person has its shoulders labelled
    truth[:, :, :2] *= truth[:, :, 2:] > 0    # COCO writes unlabelled keypoints as 0, 0, 0
    areas = rng.uniform(2000, 40000, n)
    pred = truth[..., :2] + rng.normal(0, 1, (n, 17, 2)) * np.sqrt(areas)[:, None, None] * 0.05
    dataset = {"images": [{"id": i, "width": 400, "height": 400} for i in range(n)],
               "categories": [{"id": 1, "name": "person"}],
               "annotations": [{"id": i + 1, "image_id": i, "category_id": 1, "iscrowd": 0,
                                "area": float(areas[i]), "bbox": [0, 0, 320, 320],
                                "num_keypoints": int((truth[i, :, 2] > 0).sum()),
                                "keypoints": truth[i].reshape(-1).tolist()} for i in range(n)]}
    results = [{"image_id": i, "category_id": 1, "score": 1.0,
                "keypoints": np.concatenate([pred[i], np.ones((17, 1))], 1).reshape(-1).tolist()}
               for i in range(n)]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(results), "keypoints")
        ev.params.imgIds = list(range(n))
        ev.evaluate()
    for i in range(n):
        mean, count = keypoint_similarity(pred[i:i + 1], truth[i:i + 1], areas[i:i + 1],
                                          COCO_SIGMAS)
        assert list(count) == list((truth[i, :, 2] > 0).astype(int))
        assert np.nanmean(mean) == pytest.approx(float(ev.ious[(i, 1)][0, 0]), rel=1e-9)
    mean, count = keypoint_similarity(pred, truth, areas, COCO_SIGMAS)
    assert count[5] == n and 0.0 < np.nanmin(mean) < np.nanmax(mean) < 1.0
    # the face points (smallest sigmas) suffer most from errors of the same relative size
    assert mean[:3].mean() < mean[11:13].mean()
