"""Soft targets from a teacher's heatmaps: the loss, the resampling into a crop, the stored folder."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lgmpose.codecs import build_codec
from lgmpose.data.crops import crop_matrix
from lgmpose.data.metainfo import load_metainfo
from lgmpose.data.pipeline import TopDownPipeline
from lgmpose.data.soft_targets import TeacherHeatmaps, resample_soft_targets
from lgmpose.engine.losses import build_soft_loss, soft_target_ce_loss, softmax_ce_loss
from lgmpose.errors import LgmposeError

COCO = load_metainfo("coco")


def _gaussian(h, w, x, y, sigma=2.0):
    ys, xs = np.mgrid[0:h, 0:w]
    return np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma ** 2)).astype(np.float32)


def _batch(seed=0, b=3, k=5, h=16, w=12):
    rng = np.random.default_rng(seed)
    logits = torch.tensor(rng.normal(size=(b, k, h, w)), dtype=torch.float32)
    target = np.zeros((b, k, h, w), np.float32)
    weight = np.ones((b, k), np.float32)
    for i in range(b):
        for j in range(k):
            target[i, j] = _gaussian(h, w, rng.uniform(2, w - 2), rng.uniform(2, h - 2))
    weight[0, 1] = 0.0
    target[0, 1] = 0.0
    return logits, torch.from_numpy(target), torch.from_numpy(weight)


def test_soft_loss_equals_hard_loss_when_the_teacher_map_is_the_gaussian_target():
    logits, target, weight = _batch()
    hard = softmax_ce_loss(logits, target, weight)
    soft_weight = torch.ones_like(weight)
    for mix in (0.0, 0.5, 1.0):
        soft = soft_target_ce_loss(logits, target, weight, 3.0 * target, soft_weight, mix, 0.0)
        assert soft.item() == pytest.approx(hard.item(), rel=1e-6)


def test_mix_zero_without_unlabelled_weight_is_the_hard_loss_whatever_the_teacher_says():
    logits, target, weight = _batch(1)
    teacher = torch.rand_like(target)
    loss = build_soft_loss({"mix": 0.0, "unlabelled_weight": 0.0})
    assert loss(logits, target, weight, teacher, torch.ones_like(weight)).item() == \
        pytest.approx(softmax_ce_loss(logits, target, weight).item(), rel=1e-6)


def test_soft_targets_change_the_loss_and_teach_unlabelled_keypoints():
    logits, target, weight = _batch(2)
    teacher = torch.rand_like(target)
    ones = torch.ones_like(weight)
    hard = softmax_ce_loss(logits, target, weight).item()
    assert soft_target_ce_loss(logits, target, weight, teacher, ones, 1.0, 0.0).item() != \
        pytest.approx(hard, rel=1e-3)
    # the unlabelled keypoint (0, 1) counts only with unlabelled_weight > 0
    only_unlabelled = torch.zeros_like(weight)
    only_unlabelled[0, 1] = 1.0
    no_hard = torch.zeros_like(weight)
    assert soft_target_ce_loss(logits, target, no_hard, teacher, only_unlabelled, 0.5,
                               0.0).item() == 0.0
    value = soft_target_ce_loss(logits, target, no_hard, teacher, only_unlabelled, 0.5, 1.0)
    log_probs = torch.log_softmax(logits[0, 1].reshape(-1), 0)
    dist = teacher[0, 1].reshape(-1) / teacher[0, 1].sum()
    assert value.item() == pytest.approx(-(dist * log_probs).sum().item(), rel=1e-5)


def test_bad_soft_target_settings_are_clear_errors():
    for spec in ({"mix": 2.0}, {"unlabelled_weight": -1}, {"temperature": 1}, "yes"):
        with pytest.raises(LgmposeError, match="soft_targets"):
            build_soft_loss(spec)


def _teacher_maps_at(points, matrix, side=64):
    """uint8 teacher maps [17, side, side] with a Gaussian at each image point's cell."""
    cells = points @ matrix[:, :2].T + matrix[:, 2]
    return np.stack([np.clip(_gaussian(side, side, x, y) * 255, 0, 255).astype(np.uint8)
                     for x, y in cells])


@pytest.mark.parametrize("flip,rot", [(False, 0.0), (True, 0.0), (False, 25.0), (True, -40.0)])
def test_resampled_maps_peak_where_the_crop_puts_the_keypoints(flip, rot):
    rng = np.random.default_rng(3)
    points = rng.uniform([215, 185], [285, 315], size=(17, 2))
    teacher_matrix = np.array([[0.25, 0, -40.0], [0, 0.25, -30.0]])   # image -> teacher cells
    maps = _teacher_maps_at(points, teacher_matrix)
    codec = build_codec("udp", input_size=(256, 192))
    center, scale = np.array([250.0, 250.0]), np.array([180.0, 240.0])
    matrix = crop_matrix(center, scale, (256, 192), udp=True, rot=rot, flip=flip)
    to_cells = matrix * codec.to_heatmap(np.ones((1, 2)))[0][:, None]
    out, weight = resample_soft_targets(maps, teacher_matrix, to_cells, (64, 48),
                                        COCO.flip_indices if flip else None)
    expected = codec.to_heatmap((points @ matrix[:, :2].T + matrix[:, 2]))
    if flip:
        expected = expected[np.asarray(COCO.flip_indices)]
    for j in range(17):
        y, x = np.unravel_index(out[j].argmax(), out[j].shape)
        assert abs(x - expected[j, 0]) <= 1.0 and abs(y - expected[j, 1]) <= 1.0, j
    assert weight.tolist() == [1.0] * 17


def test_a_map_that_leaves_the_crop_gets_weight_zero():
    teacher_matrix = np.array([[0.25, 0, 0.0], [0, 0.25, 0.0]])
    points = np.tile([[120.0, 120.0]], (17, 1))
    points[4] = [10.0, 10.0]                  # far outside the crop below
    maps = _teacher_maps_at(points, teacher_matrix)
    matrix = crop_matrix(np.array([120.0, 120.0]), np.array([60.0, 80.0]), (256, 192), udp=True)
    to_cells = matrix * build_codec("udp").to_heatmap(np.ones((1, 2)))[0][:, None]
    _, weight = resample_soft_targets(maps, teacher_matrix, to_cells, (64, 48))
    assert weight[4] == 0.0 and weight.sum() == 16


def test_pipeline_emits_soft_keys_for_every_sample_once_switched_on():
    image = np.full((400, 300, 3), 128, np.uint8)
    pipe = TopDownPipeline(codec={"name": "udp", "sigma": 2.0}, train=True, truncation_prob=0.0)
    pipe.soft_targets = True
    sample = pipe(image, (150, 200), (150, 200), np.full((17, 2), 150.0), np.ones(17),
                  rng=np.random.default_rng(0))
    assert sample["soft_heatmaps"].shape == (17, 64, 48) and sample["soft_weight"].sum() == 0
    points = np.random.default_rng(1).uniform(100, 200, size=(17, 2))
    teacher_matrix = np.array([[0.25, 0, 0.0], [0, 0.25, 0.0]])
    sample = pipe(image, (150, 200), (150, 200), points, np.ones(17),
                  rng=np.random.default_rng(0), soft=(_teacher_maps_at(points, teacher_matrix),
                                                      teacher_matrix))
    assert sample["soft_weight"].sum() == 17
    peaks = [np.unravel_index(m.argmax(), m.shape)[::-1] for m in sample["soft_heatmaps"]]
    hard = [np.unravel_index(m.argmax(), m.shape)[::-1] for m in sample["heatmaps"]]
    assert np.abs(np.array(peaks) - np.array(hard)).max() <= 1


def test_teacher_heatmap_folder_reads_back_and_bad_folders_are_errors(tmp_path):
    maps = np.random.default_rng(0).integers(0, 255, (3, 17, 64, 64), dtype=np.uint8)
    np.save(tmp_path / "heatmaps.npy", maps)
    matrices = np.tile(np.array([[0.25, 0, 1], [0, 0.25, 2]], np.float32), (3, 1, 1))
    np.savez(tmp_path / "index.npz", ann_id=np.array([7, 9, 11]), matrix=matrices)
    store = TeacherHeatmaps(tmp_path)
    got, matrix = store.get(9)
    assert np.array_equal(got, maps[1]) and matrix[0, 2] == 1
    assert store.get(8) is None and len(store) == 3
    np.savez(tmp_path / "index.npz", ann_id=np.array([7, 9]), matrix=matrices[:2])
    with pytest.raises(LgmposeError, match="2 people"):
        TeacherHeatmaps(tmp_path)
    with pytest.raises(LgmposeError, match="cannot read"):
        TeacherHeatmaps(tmp_path / "missing")
