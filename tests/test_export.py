"""ONNX export: parity with PyTorch for every registered model, metadata, the CLI."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from lgmpose.cli import main
from lgmpose.errors import LgmposeError
from lgmpose.export.exporter import export_onnx, onnx_metadata
from lgmpose.models import create_model, list_models


def _randomise_norms(model: torch.nn.Module, size=(256, 192)) -> None:
    """Realistic, non-trivial BatchNorm statistics, so parity also covers the folded norms.

    Random affine parameters, then running statistics measured on one batch (as after
    training): with the default 0/1 statistics deep untrained nets produce huge activations and
    the comparison would test float32 rounding instead of the export.
    """
    g = torch.Generator().manual_seed(0)
    norms = [m for m in model.modules()
             if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    for m in norms:
        m.weight.data.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.5)
        m.bias.data.copy_(torch.rand(m.num_features, generator=g) - 0.5)
        m.reset_running_stats()
        m.momentum = None  # cumulative average: one batch sets the statistics exactly
    model.train()
    calib = torch.randn(2, 3, *size, generator=g)
    with torch.no_grad():
        model(calib)
        model.eval()
        # Heatmaps of a trained model peak near 1: scale the 1x1 head to that range, so the
        # absolute 1e-4 bound is meaningful (relative error stays what the export gives).
        head = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        peak = model(calib).abs().max()
        head.weight.div_(peak)
        head.bias.div_(peak)


def _max_abs_diff(model: torch.nn.Module, path, size) -> float:
    x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x).numpy()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    got = session.run(None, {"images": x.numpy()})[0]
    assert got.shape == expected.shape
    assert np.abs(expected).max() > 0.1  # the comparison is not between two near-zero maps
    return float(np.abs(got - expected).max())


def _parity_cases():
    # Every registered model (the baselines' export + eager forward is slow on 2 cores, so they
    # run in the full suite) and every LGM-Pose ablation.
    for name in list_models():
        yield pytest.param(name, {}, id=name,
                           marks=() if name == "lgm_pose" else pytest.mark.slow)
    for overrides in ({"mixer": "transformer"}, {"mixer": "none"}, {"fusion": "add"},
                      {"fusion": "concat"}):
        yield pytest.param("lgm_pose", overrides, id=f"lgm_pose-{overrides}")


@pytest.mark.parametrize("name,overrides", list(_parity_cases()))
def test_onnx_matches_pytorch(tmp_path, name, overrides):
    torch.manual_seed(0)
    model = create_model(name, **overrides).eval()
    _randomise_norms(model)
    path = export_onnx(model, tmp_path / f"{name}.onnx")
    assert _max_abs_diff(model, path, (256, 192)) < 1e-4


@pytest.mark.parametrize("size", [(384, 288), (256, 256)], ids=["384x288", "256x256"])
def test_lgm_pose_other_sizes_export(tmp_path, size):
    model = create_model("lgm_pose", num_keypoints=16, input_size=size).eval()
    _randomise_norms(model, size)
    path = export_onnx(model, tmp_path / "m.onnx")
    assert _max_abs_diff(model, path, size) < 1e-4


def test_static_shapes_opset_and_metadata(tmp_path):
    path = export_onnx(create_model("lgm_pose"), tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 256, 192]
    out_dims = [d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    assert out_dims == [1, 17, 64, 48]
    meta = onnx_metadata(path)
    assert meta["model_name"] == "lgm_pose"
    assert meta["input_size"] == [256, 192]
    assert meta["heatmap_stride"] == 4
    assert meta["mean"] == [123.675, 116.28, 103.53] and meta["std"] == [58.395, 57.12, 57.375]
    assert len(meta["keypoint_names"]) == 17 and len(set(meta["keypoint_names"])) == 17
    assert meta["model_config"]["name"] == "lgm_pose"
    raw = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(raw["keypoint_names"]) == meta["keypoint_names"]


def test_keypoint_names_come_from_metainfo(tmp_path):
    pytest.importorskip("lgmpose.data.metainfo")
    from lgmpose.data.metainfo import load_metainfo

    path = export_onnx(create_model("lgm_pose"), tmp_path / "m.onnx")
    assert onnx_metadata(path)["keypoint_names"] == list(load_metainfo("coco").keypoint_names)


def test_default_keypoint_names_are_the_built_in_set_of_that_size():
    from lgmpose.data.metainfo import load_metainfo
    from lgmpose.export.exporter import default_keypoint_names

    for name in ("coco", "mpii"):
        names = list(load_metainfo(name).keypoint_names)
        assert default_keypoint_names(len(names)) == names
    assert default_keypoint_names(3) == ["kpt_0", "kpt_1", "kpt_2"]


def test_wrong_number_of_names(tmp_path):
    with pytest.raises(LgmposeError, match="3 keypoint names"):
        export_onnx(create_model("lgm_pose"), tmp_path / "m.onnx", keypoint_names=["a", "b", "c"])
    assert not list(tmp_path.iterdir())  # nothing half-written is left behind


def test_onnx_metadata_needs_no_torch(tmp_path):
    path = export_onnx(create_model("lgm_pose", num_keypoints=5), tmp_path / "m.onnx")
    code = ("import sys; sys.modules['torch'] = None\n"
            "from lgmpose.export.exporter import onnx_metadata\n"
            f"print(onnx_metadata({str(path)!r})['num_keypoints'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "5"


def test_export_cli(tmp_path, capsys):
    out = tmp_path / "cli.onnx"
    assert main(["export", "lgm_pose", "--input-size", "256x256", "--num-keypoints", "16",
                 "--random-weights", "--output", str(out)]) == 0
    assert "random weights" in capsys.readouterr().out
    meta = onnx_metadata(out)
    assert meta["input_size"] == [256, 256] and meta["num_keypoints"] == 16
    assert main(["export", "lgm_pose", "--input-size", "25x19", "--random-weights",
                 "--output", str(out)]) == 2
    assert "25x19" in capsys.readouterr().err


def test_export_without_weights_needs_random_weights(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export", "lgm_pose", "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--weights" in err and "--random-weights" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(SystemExit) as exited:  # one or the other, not both
        main(["export", "lgm_pose", "--weights", "x.pt", "--random-weights", "-o", str(out)])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_int8_cli_writes_quantised_model(tmp_path, capsys):
    import cv2

    calib = tmp_path / "calib"
    calib.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(calib / f"{i}.jpg"), rng.integers(0, 255, (160, 120, 3), dtype=np.uint8))
    assert main(["export", "lgm_pose", "--int8", "--output", str(tmp_path / "q.onnx")]) == 2
    assert "--calib" in capsys.readouterr().err
    assert main(["export", "lgm_pose", "--int8", "--calib", str(calib), "--dynamic-batch",
                 "--random-weights", "--output", str(tmp_path / "q.onnx")]) == 2
    assert "--dynamic-batch" in capsys.readouterr().err and not list(tmp_path.glob("q*"))
    assert main(["export", "lgm_pose", "--int8", "--calib", str(calib), "--random-weights",
                 "--output", str(tmp_path / "q.onnx")]) == 0
    ops = {node.op_type for node in onnx.load(str(tmp_path / "q.onnx")).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    assert "ConvTranspose" not in ops  # quantised from the int8 form, not from the fp32 file
    fp32_ops = {node.op_type for node in onnx.load(str(tmp_path / "q.fp32.onnx")).graph.node}
    assert "ConvTranspose" in fp32_ops
    assert onnx_metadata(tmp_path / "q.onnx")["num_keypoints"] == 17


def test_export_cli_dynamic_batch_from_checkpoint(tmp_path):
    import onnxruntime as ort

    from lgmpose.cli import main
    from lgmpose.export.exporter import onnx_metadata
    from lgmpose.models import create_model
    from lgmpose.models.checkpoint import save_checkpoint

    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, create_model("lgm_pose"), meta={"codec": {"name": "dark"}})
    out = tmp_path / "m.onnx"
    assert main(["export", "--weights", str(ckpt), "--dynamic-batch", "-o", str(out)]) == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[1:] == [3, 256, 192]
    assert not isinstance(session.get_inputs()[0].shape[0], int)
    heatmaps = session.run(None, {"images": np.zeros((3, 3, 256, 192), np.float32)})[0]
    assert heatmaps.shape == (3, 17, 64, 48)
    # the checkpoint's codec settings, completed with the sizes of the exported model
    assert onnx_metadata(out)["codec"] == {"name": "dark", "input_size": [256, 192],
                                           "heatmap_size": [64, 48]}
