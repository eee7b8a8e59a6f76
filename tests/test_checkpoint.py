"""Checkpoints rebuild their model; wrong files and wrong architectures fail clearly."""
from __future__ import annotations

import pytest
import torch

from lgmpose.errors import LgmposeError
from lgmpose.models import create_model
from lgmpose.models.checkpoint import load_checkpoint, load_model, load_state, save_checkpoint


def test_round_trip(tmp_path):
    torch.manual_seed(0)
    model = create_model("lgm_pose", num_keypoints=16, input_size=(256, 256), fusion="add")
    model.train()
    model(torch.randn(2, 3, 256, 256))  # move the BatchNorm statistics away from their defaults
    model.eval()
    path = tmp_path / "ckpt" / "model.pth"
    save_checkpoint(path, model, meta={"dataset": "mpii"}, epoch=3)
    assert [p.name for p in path.parent.iterdir()] == ["model.pth"]  # no temporary files left

    data = load_checkpoint(path)
    assert data["epoch"] == 3 and data["meta"] == {"dataset": "mpii"}
    assert data["model_config"] == model.model_config

    loaded = load_model(path, expected_name="lgm_pose")
    assert loaded.model_config == model.model_config and not loaded.training
    assert loaded.meta == {"dataset": "mpii"}
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_wrong_architecture_names_both(tmp_path):
    path = tmp_path / "lite.pth"
    save_checkpoint(path, create_model("lite_hrnet_18"))
    with pytest.raises(LgmposeError, match="lite_hrnet_18.*not the requested architecture lgm_pose"):
        load_model(path, expected_name="lgm_pose")
    target = create_model("lgm_pose")
    with pytest.raises(LgmposeError) as info:
        load_state(target, load_checkpoint(path)["state_dict"], source=str(path),
                   stored_config=load_checkpoint(path)["model_config"])
    message = str(info.value)
    assert "lite.pth" in message and "lite_hrnet_18" in message and "lgm_pose" in message


def test_same_name_different_shape(tmp_path):
    path = tmp_path / "k16.pth"
    save_checkpoint(path, create_model("lgm_pose", num_keypoints=16))
    data = load_checkpoint(path)
    with pytest.raises(LgmposeError, match="16 keypoints.*17 keypoints"):
        load_state(create_model("lgm_pose"), data["state_dict"], str(path), data["model_config"])


def test_other_input_size_names_the_stored_one(tmp_path):
    # lgm_pose's global mixers are sized to the input, so a 256x192 checkpoint cannot be built
    # at 320x256; the error must tell the checkpoint's size from the requested one
    path = tmp_path / "small.pth"
    save_checkpoint(path, create_model("lgm_pose"))
    with pytest.raises(LgmposeError, match=r"saved from lgm_pose \(17 keypoints, 256x192\), "
                                           r"the model is lgm_pose \(17 keypoints, 320x256\)"):
        load_model(path, input_size=[320, 256])


def test_not_a_checkpoint(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(LgmposeError, match="junk.pth"):
        load_checkpoint(junk)
    plain = tmp_path / "plain.pth"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(LgmposeError, match="plain.pth.*not an lgmpose checkpoint"):
        load_model(plain)
    with pytest.raises(LgmposeError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pth")


def test_export_from_checkpoint(tmp_path):
    from lgmpose.cli import main
    from lgmpose.export.exporter import onnx_metadata

    path = tmp_path / "m.pth"
    save_checkpoint(path, create_model("lgm_pose", num_keypoints=3, input_size=(256, 256)),
                    meta={"keypoint_names": ["a", "b", "c"]})
    out = tmp_path / "m.onnx"
    assert main(["export", "--weights", str(path), "--output", str(out)]) == 0
    meta = onnx_metadata(out)
    assert meta["input_size"] == [256, 256] and meta["keypoint_names"] == ["a", "b", "c"]


def test_export_to_pt_writes_a_release_checkpoint(tmp_path):
    import torch

    from lgmpose.cli import main
    from lgmpose.models import create_model
    from lgmpose.models.checkpoint import load_checkpoint, load_model, save_checkpoint

    model = create_model("lgm_pose")
    optimizer = torch.optim.Adam(model.parameters())
    train_ckpt = tmp_path / "last.pt"
    save_checkpoint(train_ckpt, model, meta={"dataset": "coco"}, optimizer=optimizer.state_dict(),
                    epoch=7)
    release = tmp_path / "release.pt"
    assert main(["export", "--weights", str(train_ckpt), "-o", str(release)]) == 0
    data = load_checkpoint(release)
    assert "optimizer" not in data and data["meta"]["trained_epochs"] == 7
    restored = load_model(release)
    for key, value in model.state_dict().items():
        assert torch.equal(value, restored.state_dict()[key])
    assert main(["export", "lgm_pose", "-o", str(tmp_path / "x.pt")]) == 2
