"""Growing a trained LGM-Pose: the grown network computes what the checkpoint did, its new parts
learn, and growth that could not preserve the function is refused."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from lgmpose.engine.config import load_config
from lgmpose.engine.config_types import replace
from lgmpose.engine.train import train
from lgmpose.errors import LgmposeError
from lgmpose.models import create_model
from lgmpose.models.grow import grow_lgm_pose

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_coco import write_config, write_dataset  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

SIZE = (128, 96)
GROWN = dict(mv2_blocks=[1, 2, 3, 2], expand_ratio=[2, 2, 3, 3], vim_depths=[0, 0, 5, 4])


def _trained_like(**overrides) -> torch.nn.Module:
    """A model whose BatchNorm statistics and scales are not the defaults, as after training."""
    torch.manual_seed(0)
    model = create_model("lgm_pose", input_size=SIZE, heatmap_norm="softmax", **overrides)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
    return model


def _grown(source: torch.nn.Module, **overrides) -> torch.nn.Module:
    model = create_model("lgm_pose", input_size=SIZE, heatmap_norm="softmax", **overrides)
    grow_lgm_pose(model, source.state_dict(), source.model_config)
    return model


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_grown_model_computes_what_the_checkpoint_did(mode):
    source = _trained_like()
    grown = _grown(source, **GROWN)
    n_source = sum(p.numel() for p in source.parameters())
    n_grown = sum(p.numel() for p in grown.parameters())
    assert n_grown > 1.5 * n_source
    x = torch.randn(3, 3, *SIZE)
    getattr(source, mode)()
    getattr(grown, mode)()
    with torch.no_grad():
        expected, got = source(x), grown(x)
    assert expected.abs().max() > 0.01
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_the_new_parts_receive_gradients():
    grown = _grown(_trained_like(), **GROWN).train()
    grown(torch.randn(2, 3, *SIZE)).square().mean().backward()
    new_block = grown.stages[3][2]                  # a stride-1 MV2 block stride 32 did not have
    assert new_block.conv[-1].bn.weight.abs().max() == 0
    assert new_block.conv[-1].bn.weight.grad.abs().max() > 0
    widened = grown.stages[2][1].conv[-1].conv      # projection of a widened block: 192 -> 288
    assert widened.in_channels == 288
    assert widened.weight[:, 192:].abs().max() == 0
    assert widened.weight.grad[:, 192:].abs().max() > 0
    new_larm = grown.stages[2][-1].mixer.blocks[4]
    assert new_larm.between.fc2.weight.grad.abs().max() > 0


def test_a_new_block_scale_starts_the_new_blocks_slightly_on():
    source = _trained_like()
    x = torch.randn(2, 3, *SIZE)
    exact, nudged = _grown(source, **GROWN), _grown(source, **GROWN)
    grow_lgm_pose(nudged, source.state_dict(), source.model_config, new_block_scale=0.05)
    new_block = nudged.stages[3][2]
    assert torch.all(new_block.conv[-1].bn.weight == 0.05)
    for model in (exact, nudged):
        model.eval()
    with torch.no_grad():
        change = (nudged(x) - exact(x)).abs().max()
        size = exact(x).abs().max()
    assert 0 < change < 0.2 * size                  # near the checkpoint's function, not on it
    nudged.train()
    nudged(x).square().mean().backward()
    inner = new_block.conv[0].conv.weight.grad      # zero at scale 0: the branch is cut off
    assert inner.abs().max() > 0
    exact.train()
    exact(x).square().mean().backward()
    assert exact.stages[3][2].conv[0].conv.weight.grad.abs().max() == 0
    for bad in (-0.1, 2.0, "big"):
        with pytest.raises(LgmposeError, match="init_grow_scale"):
            grow_lgm_pose(_grown(source, **GROWN), source.state_dict(), source.model_config,
                          new_block_scale=bad)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
@pytest.mark.parametrize("overrides, message", [
    (dict(mv2_blocks=[1, 1, 1, 0]), "mv2_blocks .* smaller"),
    (dict(expand_ratio=[2, 2, 1.5, 2]), "expand_ratio .* smaller"),
    (dict(channels=[24, 48, 96, 160]), "channels differs"),
    (dict(vim_depths=[0, 2, 4, 3], vim_dims=[0, 64, 128, 160]), "vim_dims differs"),
    (dict(vim_depths=[0, 2, 4, 3]), "MobileViM block cannot be added"),
])
def test_growth_that_would_change_the_function_is_refused(overrides, message):
    with pytest.raises(LgmposeError, match=message):
        _grown(_trained_like(), **overrides)


def test_a_transformer_mixer_is_copied_but_cannot_gain_depth():
    source = _trained_like(mixer="transformer")
    grown = _grown(source, mixer="transformer", mv2_blocks=[1, 2, 2, 1])
    x = torch.randn(2, 3, *SIZE)
    source.eval(), grown.eval()
    with torch.no_grad():
        torch.testing.assert_close(grown(x), source(x), rtol=1e-4, atol=1e-5)
    with pytest.raises(LgmposeError, match="only LARM mixers can gain depth"):
        _grown(source, mixer="transformer", vim_depths=[0, 0, 5, 3])


def test_a_value_written_out_equal_to_its_default_is_not_a_change():
    source = _trained_like()
    _grown(source, channels=[24, 48, 96, 128], mv2_blocks=(1, 2, 1, 0))


def test_training_starts_from_a_grown_checkpoint(tmp_path):
    data = write_dataset(tmp_path / "data")
    first = train(load_config(write_config(tmp_path / "a.yaml", data, epochs=1, val_interval=0)),
                  tmp_path / "a", progress=False)
    cfg = load_config(write_config(tmp_path / "b.yaml", data, epochs=1, val_interval=0, lr=0.0,
                                   warmup_iters=0, init_from=str(tmp_path / "a" / "last.pt"),
                                   init_grow=True),
                      ["model.mv2_blocks=[1,3,2,1]"])
    second = train(cfg, tmp_path / "b", progress=False)
    assert second["model"].model_config["mv2_blocks"] == [1, 3, 2, 1]
    # lr 0: the grown network still computes the first run's function (batch statistics)
    x = torch.randn(2, 3, 64, 64)
    a, b = first["model"].train(), second["model"].train()
    with torch.no_grad():
        torch.testing.assert_close(b(x), a(x), rtol=1e-4, atol=1e-5)
    cfg = replace(cfg, train=replace(cfg.train, init_grow=False))
    with pytest.raises(LgmposeError, match="weights do not fit.*init_grow: true"):
        train(cfg, tmp_path / "c", progress=False)
