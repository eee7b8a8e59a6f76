"""Fine-tuning the bundled model: the word ``bundled`` names the shipped checkpoint wherever a
checkpoint is read, and ``configs/finetune_256x192.yaml`` builds exactly the bundled network, with
its codec, and starts from its weights."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from lgmpose.engine.average import average_checkpoints
from lgmpose.engine.config import load_config
from lgmpose.engine.config_types import replace
from lgmpose.engine.train import train
from lgmpose.inference.estimator import bundled_weights
from lgmpose.models.checkpoint import load_checkpoint, resolve_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_coco import write_dataset  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _trained_tensors(state: dict) -> dict:
    return {k: v for k, v in state.items() if "running" not in k and "num_batches" not in k}


def test_bundled_names_the_shipped_checkpoint():
    assert resolve_checkpoint("bundled") == bundled_weights("torch")
    assert resolve_checkpoint("bundled").is_file()
    assert resolve_checkpoint("runs/bundled.pt") == Path("runs/bundled.pt")
    assert load_checkpoint("bundled")["model_config"]["name"] == "lgm_pose"


def test_average_accepts_bundled(tmp_path):
    out = average_checkpoints(["bundled", bundled_weights("torch")], tmp_path / "soup.pt")
    soup, bundled = load_checkpoint(out), load_checkpoint("bundled")
    for key, value in bundled["state_dict"].items():
        assert torch.allclose(soup["state_dict"][key].float(), value.float()), key
    assert soup["meta"]["averaged_from"][0]["file"] == bundled_weights("torch").name


def test_bundled_recipe_builds_the_shipped_network_from_its_sources():
    """``configs/bundled_256x192.yaml``, the flat recipe of the bundled model's last stage, builds
    the shipped network and codec and names the sources its checkpoint says it learnt from."""
    from lgmpose.engine import builders

    cfg, bundled = load_config("bundled_256x192"), load_checkpoint("bundled")
    model = builders.build_model(cfg, builders.build_metainfo(cfg))
    assert model.model_config == bundled["model_config"]
    assert builders.build_codec(cfg).config() == bundled["meta"]["codec"]
    assert {src["ann_file"] for src in cfg.data.train} == set(bundled["meta"]["train_sources"])
    meta = bundled["meta"]
    stages = ([meta["config_file"]] if "config_file" in meta else
              [src["config_file"] for src in meta["averaged_from"] if src["config_file"]])
    assert stages == ["everyday_256x192_stage29.yaml"]


def test_finetune_config_starts_from_the_bundled_network_and_weights(tmp_path):
    data = write_dataset(tmp_path / "data", num_images=3)
    cfg = load_config("finetune_256x192")
    assert cfg.train.init_from == "bundled"
    cfg = replace(cfg, data=replace(
        cfg.data, root=str(data), workers=0,
        train={"ann_file": "annotations/train.json", "img_dir": "images"},
        val={"ann_file": "annotations/val.json", "img_dir": "images"}))
    # lr 0: the run's weights must be the bundled ones (BatchNorm statistics aside)
    cfg = replace(cfg, train=replace(cfg.train, epochs=1, batch_size=3, lr=0.0, warmup_iters=0,
                                     ema_decay=0.0, val_interval=0, checkpoint_interval=0,
                                     tensorboard=False))
    train(cfg, tmp_path / "run", progress=False)
    tuned, bundled = load_checkpoint(tmp_path / "run" / "last.pt"), load_checkpoint("bundled")
    assert tuned["model_config"] == bundled["model_config"]
    assert tuned["meta"]["codec"] == bundled["meta"]["codec"]
    assert tuned["meta"]["keypoint_names"] == bundled["meta"]["keypoint_names"]
    expected = _trained_tensors(bundled["state_dict"])
    got = _trained_tensors(tuned["state_dict"])
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(got[key], value), key
