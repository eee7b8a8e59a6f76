"""The eval-mode graph of LGM-Pose computes what the training formulation computes, and quantises.

In eval mode the 2x2 deconvolutions run as 1x1 conv + pixel_shuffle (``DeconvBNAct.forward``)
and the between-patch LARM Linears on a 2-D view; the int8 export (``precision="int8"``) keeps
that form, so that ONNX Runtime's int8 graph has no float islands there. Parameters are unchanged: the shipped
checkpoint must give the same heatmaps as the original formulation, which is what the modules
compute in training mode (here with BatchNorm on its running statistics).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lgmpose.models import create_model
from lgmpose.models.checkpoint import load_model
from lgmpose.models.layers import SpatialSoftmax

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "lgmpose" / "weights" / "lgm_pose_coco_256x192.pt"
ASSETS = REPO / "lgmpose" / "assets"


def _reference(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The original formulation: training-mode forward with every BatchNorm on running stats (and
    a spatial-softmax head giving heatmaps, not its training-mode logits)."""
    model.train()
    for module in model.modules():
        if isinstance(module, (torch.nn.modules.batchnorm._BatchNorm, SpatialSoftmax)):
            module.eval()
    try:
        with torch.no_grad():
            return model(x)
    finally:
        model.eval()


def test_shipped_checkpoint_same_heatmaps():
    if not WEIGHTS.is_file():
        pytest.skip("shipped checkpoint absent")
    from lgmpose.export.quantize import calibration_crops

    model = load_model(WEIGHTS, expected_name="lgm_pose")
    size = tuple(model.model_config.get("input_size", (256, 192))) \
        if isinstance(getattr(model, "model_config", None), dict) else (256, 192)
    crops = torch.from_numpy(calibration_crops(ASSETS, size, max_crops=4))
    model.eval()
    with torch.no_grad():
        fast = model(crops)
    reference = _reference(model, crops)
    assert fast.shape == reference.shape
    assert (fast - reference).abs().max().item() <= 1e-5


@pytest.mark.parametrize("overrides", [{}, {"deconv_kernel": 4}, {"input_size": (384, 288)}],
                         ids=["default", "deconv4", "384x288"])
def test_eval_graph_matches_training_formulation(overrides):
    torch.manual_seed(0)
    model = create_model("lgm_pose", **overrides)
    for module in model.modules():  # BatchNorm statistics away from their defaults
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    size = overrides.get("input_size", (256, 192))
    x = torch.randn(2, 3, *size)
    model.eval()
    with torch.no_grad():
        fast = model(x)
    reference = _reference(model, x)
    assert (fast - reference).abs().max().item() <= 1e-4 * max(1.0, reference.abs().max().item())


def test_int8_graph_has_no_float_islands(tmp_path):
    pytest.importorskip("onnxruntime")
    from lgmpose.export.exporter import export_onnx
    from lgmpose.export.quantize import describe_quantised, quantize_onnx

    graph = tmp_path / "lgm_pose.onnx"
    export_onnx(create_model("lgm_pose").eval(), graph, precision="int8")
    counts = describe_quantised(quantize_onnx(graph, tmp_path / "lgm_pose_int8.onnx", None))
    assert counts.get("ConvTranspose", 0) == 0
    assert counts.get("DepthToSpace", 0) == 5  # 3 upsamplings + 2 folds
    # one QuantizeLinear per quantised activation, no extra pairs around float operators
    assert counts.get("ConvTranspose", 0) == 0 and counts.get("Gemm", 0) == 14
