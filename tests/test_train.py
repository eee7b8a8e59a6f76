"""The training engine on a tiny synthetic COCO-format set: outputs, exact resume after a kill,
corrupt images, NaN loss, the lr schedule."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lgmpose.engine import train as train_module
from lgmpose.engine.config import load_config
from lgmpose.engine.config_types import replace
from lgmpose.engine.schedule import lr_factor
from lgmpose.engine.train import train
from lgmpose.errors import LgmposeError
from lgmpose.models.checkpoint import load_checkpoint, load_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_coco import write_config, write_dataset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _epochs(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_lr_schedule_warmup_and_steps():
    f = lambda it: lr_factor(it, iters_per_epoch=10, warmup_iters=5, warmup_ratio=0.001,  # noqa
                             steps=[2, 3], gamma=0.1)
    assert f(0) == pytest.approx(0.001)
    assert f(5) == pytest.approx(1.0) and f(19) == pytest.approx(1.0)
    assert f(20) == pytest.approx(0.1) and f(29) == pytest.approx(0.1)
    assert f(30) == pytest.approx(0.01)
    assert f(0) < f(2) < f(4) < 1.0


def test_train_writes_checkpoints_logs_and_config(tmp_path, capsys):
    data = write_dataset(tmp_path / "data")
    cfg = load_config(write_config(tmp_path / "cfg.yaml", data))
    summary = train(cfg, tmp_path / "run", progress=False)
    work = tmp_path / "run"
    for name in ("last.pt", "best.pt", "config.yaml", "log.jsonl"):
        assert (work / name).is_file(), name
    records = _epochs(work / "log.jsonl")
    assert [r["epoch"] for r in records] == [1, 2]
    for r in records:
        assert r["loss"] > 0 and r["lr"] > 0 and r["samples_per_s"] > 0
        assert r["val/boxes"] == "GT boxes" and r["val/flip_test"] is True
        assert 0.0 <= r["val/AP"] <= 1.0
    assert summary["epochs"] == 2 and summary["boxes"] == "GT boxes"
    err = capsys.readouterr().err
    assert "val (GT boxes): AP" in err
    state = load_checkpoint(work / "last.pt")
    assert state["epoch"] == 2 and state["iter_in_epoch"] == 0
    assert state["meta"]["keypoint_names"][0] == "nose"
    model = load_model(work / "last.pt")
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 17, 16, 16)
    assert load_config(work / "config.yaml").train.epochs == 2
    # the checkpoint keeps the config as the plain dict config.yaml holds
    assert state["config"] == {**cfg.to_dict(), "meta": {"config_file": "cfg.yaml"}}
    assert state["config"]["data"]["input_size"] == [64, 64]


def _run_cli(args: list[str], prelude: str = "", **kwargs) -> subprocess.Popen:
    """``lgmpose train ARGS`` in a fresh interpreter; ``prelude`` is Python run before the CLI."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO)}
    code = prelude + "\nimport sys\nfrom lgmpose.cli import main\nsys.exit(main())\n"
    return subprocess.Popen([sys.executable, "-c", code, "train", *args, "--no-progress",
                             "--device", "cpu"], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


# The killed run SIGKILLs itself when it is about to write its first checkpoint after the one
# in the middle of epoch 2: the work of two iterations is lost, as in a crash, at the same point
# however loaded the machine is (a kill timed from outside raced the run on a slow machine).
_KILL_AFTER_MID_EPOCH_2 = """
import os, signal
import lgmpose.models.checkpoint as _ckpt
_save, _seen = _ckpt.save_checkpoint, []
def _save_then_die(path, model, meta=None, **state):
    if _seen:
        os.kill(os.getpid(), signal.SIGKILL)
    if (state["epoch"], state["iter_in_epoch"]) == (1, 2):
        _seen.append(True)
    return _save(path, model, meta, **state)
_ckpt.save_checkpoint = _save_then_die
"""


@pytest.mark.parametrize("ema_decay", [0.0, 0.9], ids=["plain", "weight-average"])
def test_killed_run_resumes_exactly(tmp_path, ema_decay):
    data = write_dataset(tmp_path / "data", num_images=8)
    # 16 persons / batch 4 = 4 iterations per epoch; a checkpoint every 2 iterations; 1 worker
    cfg = write_config(tmp_path / "cfg.yaml", data, epochs=3, checkpoint_interval=2,
                       val_interval=0, ema_decay=ema_decay)
    extra = ["--set", "data.workers=1"]
    whole = _run_cli([str(cfg), "--work-dir", str(tmp_path / "whole"), *extra])

    killed = _run_cli([str(cfg), "--work-dir", str(tmp_path / "killed"), *extra],
                      prelude=_KILL_AFTER_MID_EPOCH_2)
    out_killed, _ = killed.communicate(timeout=300)
    assert killed.returncode == -signal.SIGKILL, out_killed
    last = tmp_path / "killed" / "last.pt"
    state = load_checkpoint(last)
    assert (state["epoch"], state["iter_in_epoch"]) == (1, 2), "killed at the wrong point"

    resumed = _run_cli([str(cfg), "--work-dir", str(tmp_path / "killed"), "--resume", *extra])
    out_resumed, _ = resumed.communicate(timeout=300)
    out_whole, _ = whole.communicate(timeout=300)
    assert resumed.returncode == 0, out_resumed
    assert whole.returncode == 0, out_whole
    assert "resumed from" in out_resumed

    a = load_checkpoint(tmp_path / "whole" / "last.pt")
    b = load_checkpoint(last)
    assert a["epoch"] == b["epoch"] == 3
    weights = ("state_dict", "raw_state_dict") if ema_decay else ("state_dict",)
    assert all(("raw_state_dict" in state) == bool(ema_decay) for state in (a, b))
    for name in weights:
        assert a[name].keys() == b[name].keys()
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), (name, key)
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == 12


@pytest.mark.parametrize("cpu_bf16", [False, True], ids=["fp32", "bf16"])
def test_cpu_bf16_autocasts_the_network_and_keeps_fp32_weights(tmp_path, cpu_bf16):
    data = write_dataset(tmp_path / "data")
    cfg = load_config(write_config(tmp_path / "cfg.yaml", data, epochs=1, val_interval=0,
                                   cpu_bf16=cpu_bf16))
    conv_dtypes: set[torch.dtype] = set()

    def record(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d) and module.training:
            conv_dtypes.add(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        train(cfg, tmp_path / "run", progress=False)
    finally:
        handle.remove()
    assert conv_dtypes == ({torch.bfloat16} if cpu_bf16 else {torch.float32})
    record_ = _epochs(tmp_path / "run" / "log.jsonl")[0]
    assert record_["loss"] > 0 and record_["loss"] < float("inf")
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert {v.dtype for v in state["state_dict"].values() if v.is_floating_point()} \
        == {torch.float32}


def test_corrupt_image_is_reported_once_and_skipped(tmp_path, capsys):
    data = write_dataset(tmp_path / "data", corrupt=1)
    cfg = load_config(write_config(tmp_path / "cfg.yaml", data, val_interval=0))
    train(cfg, tmp_path / "run", progress=False)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "skipping a sample" in line]
    assert len(lines) == 1, err
    assert "000002.png" in lines[0]
    assert len(_epochs(tmp_path / "run" / "log.jsonl")) == 2


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    data = write_dataset(tmp_path / "data")
    cfg = load_config(write_config(tmp_path / "cfg.yaml", data, epochs=3, val_interval=0))
    real = train_module.build_loss("mse")
    calls = {"n": 0}

    def poisoned(*args):
        calls["n"] += 1
        loss = real(*args)
        return loss * float("nan") if calls["n"] > 4 else loss   # NaN in epoch 2

    monkeypatch.setattr(train_module, "build_loss", lambda spec: poisoned)
    with pytest.raises(LgmposeError, match=r"loss became nan at epoch 2.*last\.pt"):
        train(cfg, tmp_path / "run", progress=False)
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values()
               if v.is_floating_point())


def test_missing_annotation_file_is_a_clear_error(tmp_path):
    data = write_dataset(tmp_path / "data")
    cfg = load_config(write_config(tmp_path / "cfg.yaml", data),
                      ["data.root=" + str(tmp_path / "nowhere")])
    with pytest.raises(LgmposeError, match="annotation file .* does not exist"):
        train(cfg, tmp_path / "run", progress=False)


def _earlier_run(work: Path) -> None:
    (work / "tensorboard").mkdir(parents=True)
    for name in ("last.pt", "best.pt", "log.jsonl"):
        (work / name).write_text("earlier run")


def test_earlier_run_is_refused_without_resume_or_overwrite(tmp_path, capsys):
    from lgmpose.cli import main

    data = write_dataset(tmp_path / "data", num_images=1, persons_per_image=1)
    cfg_path = write_config(tmp_path / "cfg.yaml", data)
    work = tmp_path / "run"
    _earlier_run(work)
    with pytest.raises(LgmposeError, match=r"holds an earlier run \(last.pt, best.pt, log.jsonl\)"
                                           r".*--resume.*--overwrite.*--work-dir"):
        train(load_config(cfg_path), work, progress=False)
    assert main(["train", str(cfg_path), "--work-dir", str(work), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("lgmpose train: error: work dir")
    assert all((work / n).read_text() == "earlier run" for n in ("last.pt", "best.pt", "log.jsonl"))
    assert not (work / "config.yaml").exists()
    with pytest.raises(SystemExit) as exited:
        main(["train", str(cfg_path), "--work-dir", str(work), "--resume", "--overwrite"])
    assert exited.value.code == 2
    (tmp_path / "file").write_text("")
    with pytest.raises(LgmposeError, match="is a file, not a folder"):
        train(load_config(cfg_path), tmp_path / "file", progress=False)


def test_overwrite_starts_afresh(tmp_path, monkeypatch):
    data = write_dataset(tmp_path / "data", num_images=1, persons_per_image=1)
    cfg = load_config(write_config(tmp_path / "cfg.yaml", data))
    work = tmp_path / "run"
    _earlier_run(work)
    seen = {}

    def no_epochs(run):  # everything up to the first step, then stop
        seen["files"] = sorted(p.name for p in work.iterdir())
        return {}

    monkeypatch.setattr(train_module, "_loop", no_epochs)
    train(cfg, work, progress=False, overwrite=True)
    assert seen["files"] == ["config.yaml"]


@pytest.mark.parametrize("override, message", [
    ("data.val.ann_file=annotations/absent.json",
     r"annotation file '.*absent.json' does not exist \(data.val"),
    ("data.val.img_dir=no_images", r"image folder '.*no_images' does not exist \(data.val"),
    ("data.train.img_dir=no_images", r"image folder '.*no_images' does not exist \(data.train"),
    ("data.boxes=absent_dets.json", "detection-box file 'absent_dets.json' does not exist"),
])
def test_missing_inputs_are_found_before_the_first_step(tmp_path, monkeypatch, override,
                                                        message):
    data = write_dataset(tmp_path / "data", num_images=1, persons_per_image=1)
    cfg = load_config(write_config(tmp_path / "cfg.yaml", data), [override])

    def never(self):
        raise AssertionError("trained before checking the inputs")

    monkeypatch.setattr(train_module._Run, "build", never)
    with pytest.raises(LgmposeError, match=message):
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_validation_inputs_are_not_needed_without_validation(tmp_path, monkeypatch):
    data = write_dataset(tmp_path / "data", num_images=1, persons_per_image=1)
    cfg = load_config(write_config(tmp_path / "cfg.yaml", data, val_interval=0),
                      ["data.val.ann_file=annotations/absent.json"])
    monkeypatch.setattr(train_module, "_loop", lambda run: {"epochs": 0})
    assert train(cfg, tmp_path / "run", progress=False) == {"epochs": 0}


def test_init_from_starts_from_a_checkpoints_weights(tmp_path):
    data = write_dataset(tmp_path / "data")
    first = train(load_config(write_config(tmp_path / "a.yaml", data, epochs=1, val_interval=0)),
                  tmp_path / "a", progress=False)
    cfg = load_config(write_config(tmp_path / "b.yaml", data, epochs=1, val_interval=0, lr=0.0,
                                   warmup_iters=0, init_from=str(tmp_path / "a" / "last.pt")))
    second = train(cfg, tmp_path / "b", progress=False)
    # lr 0: the second run's weights are the first run's (BatchNorm statistics aside)
    for name, value in first["model"].state_dict().items():
        if "running" not in name and "num_batches" not in name:
            assert torch.equal(value, second["model"].state_dict()[name]), name
    cfg = replace(cfg, train=replace(cfg.train, init_from=str(tmp_path / "missing.pt")))
    with pytest.raises(LgmposeError, match="init_from.*not found"):
        train(cfg, tmp_path / "c", progress=False)
