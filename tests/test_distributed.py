"""DDP on CPU: two processes with gloo train a few iterations and end with identical weights."""
from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_coco import write_config, write_dataset  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, config: str, work_dir: str, out: str) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    from lgmpose.engine.config import load_config
    from lgmpose.engine.train import train

    summary = train(load_config(config), work_dir, device="cpu", progress=False)
    torch.save({"state_dict": summary["model"].state_dict(), "best": summary["best"]},
               f"{out}.{rank}")


def test_two_cpu_processes_agree_on_the_weights(tmp_path):
    data = write_dataset(tmp_path / "data", num_images=8)   # 16 persons
    # 2 processes x batch 4 -> 2 iterations per epoch, 2 epochs, validation gathered on rank 0
    config = write_config(tmp_path / "cfg.yaml", data, epochs=2, batch_size=4, val_interval=2)
    out = str(tmp_path / "weights")
    mp.spawn(_worker, args=(2, _free_port(), str(config), str(tmp_path / "run"), out), nprocs=2,
             join=True)
    a, b = torch.load(f"{out}.0"), torch.load(f"{out}.1")
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    # metrics are computed on rank 0 and shared
    assert a["best"] is not None and a["best"] == b["best"]
    from lgmpose.models.checkpoint import load_checkpoint

    saved = load_checkpoint(tmp_path / "run" / "last.pt")
    assert saved["epoch"] == 2 and saved["scheduler"]["last_epoch"] == 4
    for key, value in a["state_dict"].items():
        assert torch.equal(value, saved["state_dict"][key]), key
    lines = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    assert len(lines) == 2   # only rank 0 writes
