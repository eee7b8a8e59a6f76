"""The moving average of the weights (``train.ema_decay``): its arithmetic, what a run with it
validates and saves, and that a checkpoint of it starts, exports and resumes from the right
weights."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from lgmpose.engine.config import load_config
from lgmpose.engine.ema import WeightEma, check_decay
from lgmpose.engine.train import train
from lgmpose.errors import LgmposeError
from lgmpose.models.checkpoint import load_checkpoint, load_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_coco import write_config, write_dataset  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _tiny() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))


def test_average_follows_the_formula_with_its_warm_up():
    model = _tiny()
    ema = WeightEma(model, decay=0.9)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    expected = {k: v.clone().float() for k, v in start.items()}
    for step in range(1, 30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
            model.train()(torch.randn(4, 1, 3, 3))     # moves the BatchNorm statistics
        d = min(0.9, (1 + step) / (10 + step))
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                expected[key] = d * expected[key] + (1 - d) * value
            else:
                expected[key] = value.clone()
        ema.update(model)
    assert ema.current_decay() == pytest.approx(30 / 39)      # still warming up
    for key, value in ema.model.state_dict().items():
        torch.testing.assert_close(value.float(), expected[key].float(), rtol=1e-5, atol=1e-6)
    assert ema.model.state_dict()["1.num_batches_tracked"] == 29
    # the average is a copy: training the model never touches it directly
    assert not any(p.requires_grad for p in ema.model.parameters())
    assert not torch.equal(ema.model[0].weight, model[0].weight)
    ema.updates = 1000
    assert ema.current_decay() == pytest.approx(0.9)


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, "fast"])
def test_decay_outside_zero_one_is_refused(bad):
    with pytest.raises(LgmposeError, match="train.ema_decay"):
        check_decay(bad)


def test_decay_zero_or_unset_means_off():
    assert check_decay(None) == 0.0 and check_decay(0) == 0.0 and check_decay("0.999") == 0.999


def test_run_with_average_validates_and_saves_the_average(tmp_path):
    data = write_dataset(tmp_path / "data")
    cfg = load_config(write_config(tmp_path / "cfg.yaml", data, ema_decay=0.9))
    summary = train(cfg, tmp_path / "run", progress=False)
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["ema"]["decay"] == 0.9
    assert state["ema"]["updates"] == state["scheduler"]["last_epoch"]
    assert state["state_dict"].keys() == state["raw_state_dict"].keys()
    differs = [k for k in state["state_dict"]
               if state["state_dict"][k].is_floating_point()
               and not torch.equal(state["state_dict"][k], state["raw_state_dict"][k])]
    assert differs, "the saved average equals the trained weights"
    # what the run returns, what load_model rebuilds (export, eval) and what was validated agree
    averaged = summary["model"].state_dict()
    for key, value in load_model(tmp_path / "run" / "last.pt").state_dict().items():
        assert torch.equal(value, averaged[key]), key
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert "raw_state_dict" in best and best["metrics"]["AP"] == pytest.approx(summary["best"])


def test_init_from_an_averaged_run_starts_from_the_average(tmp_path):
    data = write_dataset(tmp_path / "data")
    first = train(load_config(write_config(tmp_path / "a.yaml", data, ema_decay=0.9,
                                           val_interval=0)), tmp_path / "a", progress=False)
    cfg = load_config(write_config(tmp_path / "b.yaml", data, epochs=1, lr=0.0, val_interval=0,
                                   warmup_iters=0, init_from=str(tmp_path / "a" / "last.pt")))
    second = train(cfg, tmp_path / "b", progress=False)
    averaged = first["model"].state_dict()
    for key, value in second["model"].state_dict().items():
        if "running" not in key and "num_batches" not in key:   # lr 0 still moves BN statistics
            assert torch.equal(value, averaged[key]), key
