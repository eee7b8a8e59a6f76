"""The pose quality (expected OKS by the heatmaps) that multiplies the instance score."""
from __future__ import annotations

import numpy as np
import pytest

from inference_fakes import bright_spot_pose_model, spot_image
from lgmpose import PoseEstimator
from lgmpose.codecs import build_codec
from lgmpose.codecs.quality import expected_oks, pose_quality
from lgmpose.defaults import BOX_PADDING
from lgmpose.data.metainfo import load_metainfo
from lgmpose.inference.estimator import Person
from lgmpose.scoring import rescore


def _gaussian(size: int, center: tuple[float, float], std: float) -> np.ndarray:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    return np.exp(-((xs - center[0]) ** 2 + (ys - center[1]) ** 2) / (2 * std ** 2))


def test_expected_oks_of_a_gaussian_map_has_its_closed_form():
    # a point drawn from an isotropic Gaussian of variance t^2 per axis lies at d from its centre
    # with E[exp(-d^2 / (2 v))] = v / (v + t^2), v = area * (2 sigma)^2
    grid = (np.arange(160.0), np.arange(160.0))
    sigma, area = 0.05, 2500.0
    v = area * (2 * sigma) ** 2                                  # 25
    for std in (1.0, 3.0, 8.0):
        heatmap = _gaussian(160, (80.0, 70.0), std)[None, None]
        got = expected_oks(heatmap, np.array([[[80.0, 70.0]]]), grid, [sigma], area)[0, 0]
        assert got == pytest.approx(v / (v + std ** 2), rel=1e-3)
    # half the mass on a far second peak (another knee) halves it; an empty map gives 0
    split = _gaussian(160, (40.0, 40.0), 2.0) + _gaussian(160, (120.0, 120.0), 2.0)
    one = expected_oks(_gaussian(160, (40.0, 40.0), 2.0)[None, None], np.array([[[40.0, 40.0]]]),
                       grid, [sigma], area)[0, 0]
    two = expected_oks(split[None, None], np.array([[[40.0, 40.0]]]), grid, [sigma], area)[0, 0]
    assert two == pytest.approx(one / 2, rel=1e-3)
    assert expected_oks(np.zeros((1, 1, 8, 8)), np.zeros((1, 1, 2)), (np.arange(8.0),) * 2,
                        [sigma], area)[0, 0] == 0.0
    # negative heatmap values (an MSE head's undershoot) are no mass
    negative = -_gaussian(160, (120.0, 120.0), 2.0) + _gaussian(160, (40.0, 40.0), 2.0)
    assert expected_oks(negative[None, None], np.array([[[40.0, 40.0]]]), grid, [sigma],
                        area)[0, 0] == pytest.approx(one, rel=1e-6)


def test_pose_quality_ranks_sharp_maps_above_spread_ones():
    codec = build_codec("udp", input_size=(256, 192))
    sigmas = load_metainfo("coco").sigmas
    sharp = np.stack([_gaussian(64, (24.0, 30.0), 1.0)[:, :48]] * 17)
    spread = np.stack([_gaussian(64, (24.0, 30.0), 6.0)[:, :48]] * 17)
    heatmaps = np.stack([sharp, spread]).astype(np.float32)
    keypoints, _ = codec.decode(heatmaps)
    quality = pose_quality(codec, heatmaps, keypoints, sigmas)
    assert quality.shape == (2,) and 0.0 < quality[1] < quality[0] <= 1.0
    # a box filling more of the crop is a larger person: the same spread costs less OKS
    larger = pose_quality(codec, heatmaps, keypoints, sigmas, box_share=np.array([0.9, 0.9]))
    assert (larger > quality).all()
    assert np.allclose(pose_quality(codec, heatmaps, keypoints, sigmas, 1 / BOX_PADDING ** 2),
                       quality)
    assert pose_quality(codec, heatmaps[:0], keypoints[:0], sigmas).shape == (0,)


def test_instance_score_includes_the_quality(tmp_path):
    scores = np.linspace(0.1, 0.9, 17).astype(np.float32)
    person = Person(np.array([0, 0, 10, 10], np.float32), np.zeros((17, 2), np.float32), scores,
                    box_score=0.8, quality=0.5)
    assert person.score == pytest.approx(float(rescore(scores, 0.8)) * 0.5)
    assert person.to_coco(1)["score"] == pytest.approx(person.score, abs=1e-5)
    est = PoseEstimator(bright_spot_pose_model(tmp_path / "spot.onnx"), detector="whole_image")
    image = spot_image(spot=(200, 80))
    boxes = np.array([[150, 30, 100, 100], [0, 0, 320, 240]], np.float32)
    kpts, kpt_scores, quality = est.estimate(image, boxes, quality=True)
    assert quality.shape == (2,) and ((quality > 0) & (quality <= 1)).all()
    plain = est.estimate(image, boxes)
    assert len(plain) == 2 and np.allclose(plain[0], kpts)
    people = est(image, boxes=boxes)
    for p, q in zip(people, quality):
        assert p.quality == pytest.approx(float(q))
        assert p.score == pytest.approx(float(rescore(p.scores, 1.0)) * float(q))
    empty = est.estimate(image, np.zeros((0, 4), np.float32), quality=True)
    assert [a.shape[0] for a in empty] == [0, 0, 0]
    # the published protocol's score, on request
    plain_est = PoseEstimator(bright_spot_pose_model(tmp_path / "spot2.onnx"),
                              detector="whole_image", pose_quality=False)
    assert (plain_est.estimate(image, boxes, quality=True)[2] == 1.0).all()
    for p in plain_est(image, boxes=boxes):
        assert p.quality == 1.0 and p.score == pytest.approx(float(rescore(p.scores, 1.0)))


def test_evaluation_keeps_the_published_score_unless_asked():
    from lgmpose.engine.config import load_config

    assert load_config("coco_256x192").test.pose_quality is False
    assert load_config("lite_hrnet_18_coco_256x192").test.pose_quality is False
    assert load_config("coco_256x192", ["test.pose_quality=true"]).test.pose_quality is True
