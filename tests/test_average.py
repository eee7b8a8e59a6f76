"""`lgmpose average`: the weighted mean of checkpoints of one network, refused across networks."""
from __future__ import annotations

import pytest
import torch

from lgmpose.cli import main
from lgmpose.engine.average import average_checkpoints
from lgmpose.errors import LgmposeError
from lgmpose.models import create_model
from lgmpose.models.checkpoint import load_checkpoint, load_model, save_checkpoint


def _saved(path, seed, sources, **config):
    torch.manual_seed(seed)
    model = create_model("lgm_pose", num_keypoints=17, input_size=(256, 192), **config)
    model.train()
    model(torch.randn(2, 3, 256, 192))  # BatchNorm statistics of their own
    save_checkpoint(path, model.eval(), meta={"train_sources": sources, "trained_epochs": 3,
                                              "config_file": f"run{seed}.yaml"})
    return path


@pytest.fixture()
def pair(tmp_path):
    return (_saved(tmp_path / "a.pt", 0, ["lspet.json", "ccp.json"]),
            _saved(tmp_path / "b.pt", 1, ["lspet.json", "registry.json"]))


def test_equal_weights_are_the_mean_and_the_file_loads(pair, tmp_path, capsys):
    out = tmp_path / "soup" / "mean.pt"
    assert main(["average", str(pair[0]), str(pair[1]), "-o", str(out)]) == 0
    assert "the average of 2 checkpoints" in capsys.readouterr().out
    a, b = (load_checkpoint(p)["state_dict"] for p in pair)
    data = load_checkpoint(out)
    averaged = data["state_dict"]
    floats = [k for k, t in a.items() if torch.is_floating_point(t)]
    assert floats and any(not torch.equal(a[k], b[k]) for k in floats)
    for key in floats:
        torch.testing.assert_close(averaged[key], (a[key] + b[key]) / 2, rtol=0, atol=1e-7)
    counters = [k for k in a if k.endswith("num_batches_tracked")]
    assert counters and all(torch.equal(averaged[k], a[k]) for k in counters)
    meta = data["meta"]
    assert meta["train_sources"] == ["lspet.json", "ccp.json", "registry.json"]
    assert "trained_epochs" not in meta and "config_file" not in meta
    assert meta["averaged_from"] == [
        {"file": "a.pt", "share": 0.5, "config_file": "run0.yaml"},
        {"file": "b.pt", "share": 0.5, "config_file": "run1.yaml"}]
    assert [p.name for p in out.parent.iterdir()] == ["mean.pt"]  # no temporary file left
    model = load_model(out, expected_name="lgm_pose")
    with torch.no_grad():
        assert model(torch.randn(1, 3, 256, 192)).shape == (1, 17, 64, 48)


def test_shares_are_normalised(pair, tmp_path):
    out = average_checkpoints(pair, tmp_path / "w.pt", shares=[3, 1])
    a, b = (load_checkpoint(p)["state_dict"] for p in pair)
    averaged = load_checkpoint(out)["state_dict"]
    key = next(k for k, t in a.items() if torch.is_floating_point(t) and t.numel() > 10)
    torch.testing.assert_close(averaged[key], 0.75 * a[key] + 0.25 * b[key], rtol=0, atol=1e-7)
    assert [s["share"] for s in load_checkpoint(out)["meta"]["averaged_from"]] == [0.75, 0.25]


def test_a_checkpoint_averaged_with_itself_is_unchanged(pair, tmp_path):
    out = average_checkpoints([pair[0], pair[0]], tmp_path / "same.pt")
    x = torch.randn(1, 3, 256, 192)
    with torch.no_grad():
        assert torch.equal(load_model(out)(x), load_model(pair[0])(x))


def test_different_networks_are_refused_naming_the_file(pair, tmp_path, capsys):
    other = _saved(tmp_path / "add.pt", 2, [], fusion="add")
    out = tmp_path / "x.pt"
    assert main(["average", str(pair[0]), str(other), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "add.pt" in err and "different network" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("shares, message", [([1.0], "1 shares for 2 checkpoints"),
                                              ([1.0, -1.0], "non-negative"),
                                              ([0.0, 0.0], "not all 0")])
def test_bad_shares(pair, tmp_path, shares, message):
    with pytest.raises(LgmposeError, match=message):
        average_checkpoints(pair, tmp_path / "x.pt", shares=shares)


def test_one_checkpoint_or_a_missing_one(pair, tmp_path):
    with pytest.raises(LgmposeError, match="at least two"):
        average_checkpoints(pair[:1], tmp_path / "x.pt")
    with pytest.raises(LgmposeError, match="nothing.pt' does not exist"):
        average_checkpoints([pair[0], tmp_path / "nothing.pt"], tmp_path / "x.pt")
