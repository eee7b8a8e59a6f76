"""Training losses, the spatial-softmax head, the cosine schedule and per-source sampling weights."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lgmpose.codecs import build_codec
from lgmpose.engine.loading import EpochSampler, weighted_epoch
from lgmpose.engine.losses import build_loss, foreground_mse_loss, softmax_ce_loss
from lgmpose.engine.schedule import lr_factor
from lgmpose.errors import LgmposeError
from lgmpose.models import create_model
from lgmpose.models.layers import SpatialSoftmax


def _target(points, visible=None):
    codec = build_codec("udp", input_size=(256, 192))
    visible = np.ones(len(points)) if visible is None else visible
    heatmaps, weight = codec.encode(np.asarray(points, np.float32), visible)
    return torch.from_numpy(heatmaps)[None], torch.from_numpy(weight)[None]


def test_empty_heatmaps_no_longer_score_almost_as_well_as_the_peak():
    target, weight = _target([[80.0, 120.0], [40.0, 48.0]])
    empty = torch.zeros_like(target)
    mse = build_loss("mse")
    # plain MSE averages over every pixel: an empty map costs almost nothing
    assert mse(empty, target, weight) < 0.01
    # the foreground weights make the same mistake several times dearer, relative to the pixels
    assert float(foreground_mse_loss(empty, target, weight)) > 4 * float(mse(empty, target, weight))
    assert float(foreground_mse_loss(target, target, weight)) == 0.0


def test_softmax_ce_is_lowest_at_the_target_and_ignores_unlabelled_keypoints():
    target, weight = _target([[80.0, 120.0], [40.0, 48.0]], visible=np.array([1, 0]))
    logits_at_target = torch.log(target.clamp_min(1e-8))
    shifted = torch.roll(logits_at_target, shifts=3, dims=-1)
    flat = torch.zeros_like(target)
    good = softmax_ce_loss(logits_at_target, target, weight)
    assert good < softmax_ce_loss(shifted, target, weight) < softmax_ce_loss(flat, target, weight)
    # the unlabelled keypoint's logits change nothing
    other = logits_at_target.clone()
    other[:, 1] = torch.randn_like(other[:, 1]) * 10
    assert torch.isclose(softmax_ce_loss(other, target, weight), good)
    # a uniform prediction gives a large gradient: no plateau to leave
    flat.requires_grad_(True)
    softmax_ce_loss(flat, target, weight).backward()
    assert flat.grad.abs().max() > 1e-2


def test_spatial_softmax_returns_logits_in_training_and_target_shaped_maps_in_eval():
    target, _ = _target([[80.0, 120.0]])
    layer = SpatialSoftmax(sigma=2.0)
    logits = torch.log(target.clamp_min(1e-12))
    assert torch.equal(layer.train()(logits), logits)
    out = layer.eval()(logits)
    assert torch.allclose(out.sum(dim=(-1, -2)), torch.tensor(layer.peak_scale), rtol=1e-5)
    # the peak of a target-shaped prediction is about 1, like an MSRA target
    assert abs(float(out.max()) - float(target.max())) < 0.05


def test_softmax_model_keeps_its_parameters_and_decodes_like_heatmaps():
    plain = create_model("lgm_pose")
    model = create_model("lgm_pose", heatmap_norm="softmax")
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in model.parameters())
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 256, 192))
    assert out.shape == (1, 17, 64, 48)
    assert torch.allclose(out.sum(dim=(-1, -2)), torch.full((1, 17), 8 * math.pi), rtol=1e-4)


def test_unknown_loss_and_heatmap_norm_are_clear_errors():
    with pytest.raises(LgmposeError, match="train.loss 'l1'"):
        build_loss("l1")
    with pytest.raises(LgmposeError, match="heatmap_norm"):
        create_model("lgm_pose", heatmap_norm="sigmoid")


def test_cosine_schedule_warms_up_then_decays_to_the_floor():
    kw = dict(iters_per_epoch=10, warmup_iters=5, warmup_ratio=0.1, steps=[], gamma=0.1,
              policy="cosine", total_iters=105, min_ratio=0.01)
    assert lr_factor(0, **kw) == pytest.approx(0.1)
    assert lr_factor(5, **kw) == pytest.approx(1.0)
    assert lr_factor(55, **kw) == pytest.approx(0.505)
    assert lr_factor(105, **kw) == pytest.approx(0.01)
    values = [lr_factor(i, **kw) for i in range(5, 106)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_weighted_epoch_draws_each_source_by_its_weight_with_distinct_repeats():
    picks = weighted_epoch([10, 4, 6], [1.0, 2.5, 0.5], seed=0, epoch=3)
    assert len(picks) == 10 + 10 + 3
    indices = [i for i, _ in picks]
    assert sorted(set(i for i in indices if i < 10)) == list(range(10))
    second = [p for p in picks if 10 <= p[0] < 14]
    assert len(second) == 10 and {d for _, d in second} == {0, 1, 2}
    assert len({p for p in second}) == 10                # a repeat is a distinct draw
    assert sum(1 for i in indices if i >= 14) == 3
    assert picks == weighted_epoch([10, 4, 6], [1.0, 2.5, 0.5], seed=0, epoch=3)
    assert picks != weighted_epoch([10, 4, 6], [1.0, 2.5, 0.5], seed=0, epoch=4)


def test_weighted_sampler_resumes_mid_epoch_and_shards_across_ranks():
    kw = dict(size=20, shuffle=True, seed=1, source_sizes=[10, 4, 6],
              source_weights=[1.0, 2.5, 0.5])
    sampler = EpochSampler(**kw)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.set_epoch(2, skip=7)
    assert list(sampler) == full[7:]
    ranks = [EpochSampler(rank=r, world_size=2, **kw) for r in range(2)]
    for r in ranks:
        r.set_epoch(2)
    both = list(ranks[0]) + list(ranks[1])
    assert sorted(both) == sorted(full + full[:len(both) - len(full)])
