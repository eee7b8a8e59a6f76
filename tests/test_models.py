"""Network shapes, configs, ablations, gradients, a short optimisation, and published sizes."""
from __future__ import annotations

import pytest
import torch

from lgmpose.benchmarks.flops import count_complexity
from lgmpose.errors import LgmposeError
from lgmpose.models import create_model, list_models

SIZES = [(256, 192), (384, 288), (256, 256)]
ABLATIONS = [{"mixer": "transformer"}, {"mixer": "none"}, {"fusion": "add"},
             {"fusion": "concat"}]


def test_registry_names():
    assert {"lgm_pose", "lite_hrnet_18", "lite_hrnet_30", "mobilenetv2_sb"} <= set(list_models())
    with pytest.raises(LgmposeError, match="unknown model 'nope'"):
        create_model("nope")
    with pytest.raises(LgmposeError, match="lgm_pose"):
        create_model("lgm_pose", mixer="attention")


def _shape_cases():
    # Every model at every size; the baselines' eager forward is slow on 2 cores, so all but
    # the cheapest of their cases run only in the full (slow-inclusive) suite.
    for name in ("lgm_pose", "lite_hrnet_18", "lite_hrnet_30", "mobilenetv2_sb"):
        for size in SIZES:
            fast = name == "lgm_pose" or (size == SIZES[0] and name != "lite_hrnet_30")
            yield pytest.param(name, size, id=f"{name}-{size[0]}x{size[1]}",
                               marks=() if fast else pytest.mark.slow)


@pytest.mark.parametrize("name,size", list(_shape_cases()))
def test_output_shape(name, size):
    model = create_model(name, num_keypoints=16, input_size=size).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, *size))
    assert out.shape == (1, 16, size[0] // 4, size[1] // 4)


@pytest.mark.parametrize("overrides", [{}, *ABLATIONS], ids=lambda o: str(o) or "default")
def test_model_config_rebuilds(overrides):
    model = create_model("lgm_pose", input_size=(256, 256), **overrides)
    config = model.model_config
    assert config["name"] == "lgm_pose" and config["input_size"] == [256, 256]
    rebuilt = create_model(**config)
    assert rebuilt.model_config == config
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == \
        {k: v.shape for k, v in model.state_dict().items()}


def _assert_all_parameters_get_gradients(model: torch.nn.Module, size=(256, 192),
                                         train: bool = True, nonzero: bool = True) -> None:
    model.train(train)
    model(torch.randn(2, 3, *size)).square().mean().backward()
    missing = [n for n, p in model.named_parameters()
               if p.grad is None or not torch.isfinite(p.grad).all()
               or (nonzero and p.grad.abs().sum() == 0)]
    assert not missing, f"no gradient reaches {missing[:5]}"


@pytest.mark.parametrize("overrides", [{}, *ABLATIONS], ids=lambda o: str(o) or "default")
def test_lgm_pose_variants_train(overrides):
    torch.manual_seed(0)
    _assert_all_parameters_get_gradients(create_model("lgm_pose", **overrides))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lite_hrnet_18", "mobilenetv2_sb"])
def test_baselines_get_gradients_everywhere(name):
    # Connectivity only: at random init a ReLU in Lite-HRNet's spatial weighting (5 hidden units
    # fed by pooled, batch-normalised maps) can be dead for a given seed, giving exact zeros.
    torch.manual_seed(0)
    _assert_all_parameters_get_gradients(create_model(name), size=(128, 96), nonzero=False)


def test_adam_steps_lower_the_loss():
    torch.manual_seed(0)
    model = create_model("lgm_pose", input_size=(96, 64)).train()
    images = torch.randn(2, 3, 96, 64)
    target = torch.rand(2, 17, 24, 16)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(6):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(images), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


# Published complexity at 256x192, K=17 (the "FLOPs" in these tables are multiply-accumulates):
# - Lite-HRNet-18 / -30: Yu et al., "Lite-HRNet: A Lightweight High-Resolution Network",
#   CVPR 2021 (arXiv 2104.06403), Table 1: 1.1M / 205.2M and 1.8M / 319.2M.
# - MobileNetV2 + SimpleBaseline head: MMPose 0.x docs/en/inference_speed_summary.md
#   (config mobilenetv2_coco_256x192): 9.57M params, 1.59 GFLOPs; the Lite-HRNet paper's Table 1
#   lists the same model as 9.6M / 1.48G. docs/models.md explains the 1.48 figure.
PUBLISHED = {
    "lite_hrnet_18": (1.1e6, 205.2e6),
    "lite_hrnet_30": (1.8e6, 319.2e6),
    "mobilenetv2_sb": (9.57e6, 1.59e9),
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "lite_hrnet_30"
                                  else n for n in sorted(PUBLISHED)])
def test_baselines_match_published_complexity(name):
    params, macs = PUBLISHED[name]
    c = count_complexity(create_model(name), (256, 192))
    assert abs(c.params - params) / params < 0.05, c
    assert abs(c.macs - macs) / macs < 0.05, c


def test_mobilenetv2_params_match_lite_hrnet_table():
    c = count_complexity(create_model("mobilenetv2_sb"), (256, 192))
    assert abs(c.params - 9.6e6) / 9.6e6 < 0.05


def test_lgm_pose_budget():
    c = count_complexity(create_model("lgm_pose"), (256, 192))
    assert c.params <= 1.1e6
    lite = count_complexity(create_model("lite_hrnet_18"), (256, 192))
    assert c.params < lite.params and c.macs < lite.macs
