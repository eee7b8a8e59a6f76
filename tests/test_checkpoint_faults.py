"""Fault injection on checkpoints: a write that fails (disk full) keeps the previous checkpoint and
a resumable run; a corrupt last checkpoint is named on --resume, which goes on from the one before."""
from __future__ import annotations

import errno

import pytest

torch = pytest.importorskip("torch")

from lgmpose.errors import LgmposeError  # noqa: E402
from lgmpose.models import checkpoint as ckpt  # noqa: E402
from lgmpose.models import create_model  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return create_model("lgm_pose", input_size=(64, 64))


def test_disk_full_while_saving_keeps_the_previous_checkpoint(model, tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    ckpt.save_checkpoint(path, model, epoch=1, keep_previous=True)
    before = path.read_bytes()
    real_save = torch.save

    def disk_full(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        with open(f, "r+b") as handle:     # half written, then the disk is full
            handle.truncate(len(before) // 2)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(LgmposeError, match="No space left on device.*intact"):
        ckpt.save_checkpoint(path, model, epoch=2, keep_previous=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary file
    monkeypatch.setattr(torch, "save", real_save)
    state, used = ckpt.load_latest(path)
    assert used == path and state["epoch"] == 1


def test_corrupt_last_checkpoint_falls_back_to_the_one_before(model, tmp_path):
    path = tmp_path / "last.pt"
    ckpt.save_checkpoint(path, model, epoch=1, keep_previous=True)
    ckpt.save_checkpoint(path, model, epoch=2, keep_previous=True)
    assert ckpt.previous_path(path).is_file()
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 3])          # torn by a crash or a bad disk
    messages = []
    state, used = ckpt.load_latest(path, log=messages.append)
    assert used == ckpt.previous_path(path) and state["epoch"] == 1
    assert len(messages) == 1 and str(path) in messages[0] and "resuming from" in messages[0]


def test_both_corrupt_is_one_clear_error(model, tmp_path):
    path = tmp_path / "last.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(LgmposeError, match="no earlier checkpoint"):
        ckpt.load_latest(path)
    ckpt.previous_path(path).write_bytes(b"junk")
    with pytest.raises(LgmposeError, match="the one before it"):
        ckpt.load_latest(path)
    assert ckpt.load_latest(tmp_path / "none.pt") is None
