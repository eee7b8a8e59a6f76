"""The graphs `export_onnx` writes: the export forms compute what the model computes, the fp32
graph has the faster operators, and a free batch axis costs no shape arithmetic."""
from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from lgmpose.models import create_model
from lgmpose.export import export_onnx, prepare_for_export
from test_export import _randomise_norms

SHAPE_OPS = {"Shape", "Gather", "Unsqueeze", "Squeeze", "Slice", "ConstantOfShape", "Expand"}


def _model(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model("lgm_pose", **overrides).eval()
    _randomise_norms(model, tuple(overrides.get("input_size", (256, 192))))
    return model


def _ops(path) -> Counter:
    return Counter(node.op_type for node in onnx.load(str(path)).graph.node)


def _optimised_ops(path, tmp_path) -> Counter:
    """Operators of the graph ONNX Runtime runs (optimisation level ALL)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / "optimised.onnx")
    options.log_severity_level = 3
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return _ops(tmp_path / "optimised.onnx")


def _run(path, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"images": x})[0]


@pytest.mark.parametrize("overrides", [{}, {"heatmap_norm": "softmax"}, {"deconv_kernel": 4},
                                       {"input_size": (384, 288)}, {"mixer": "none"}],
                         ids=["default", "softmax", "deconv4", "384x288", "no-mixer"])
def test_export_forms_compute_what_the_model_computes(overrides):
    model = _model(**overrides)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    size = overrides.get("input_size", (256, 192))
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x)
        peak = expected.abs().max().item()
        assert peak > 0.1
        for precision, batch in [("fp32", 1), ("fp32", None), ("int8", 1)]:
            inputs = x[:1] if batch else x
            got = prepare_for_export(model, precision, batch)(inputs)
            error = (got - expected[:len(inputs)]).abs().max().item()
            assert error <= 2e-5 * max(1.0, peak), (precision, batch, error)
    # the model itself is untouched: same keys, same values
    after = model.state_dict()
    assert list(after) == list(state)
    assert all(torch.equal(after[k], v) for k, v in state.items())


def test_fp32_graph_has_the_fast_operators(tmp_path):
    path = export_onnx(_model(), tmp_path / "m.onnx")
    ops = _ops(path)
    assert ops["ConvTranspose"] == 3  # the decoder: no 1x1 conv + DepthToSpace
    assert ops["DepthToSpace"] == 2 and ops["SpaceToDepth"] == 2  # the two LARM folds/unfolds
    # 7 LARMs x (2 within-patch + 2 between-patch) Gemms, residuals inside them: the only Adds
    # left are the 5 inverted-residual shortcuts, which ONNX Runtime fuses into their convs
    assert ops["Gemm"] == 28 and "MatMul" not in ops and ops["Add"] == 5
    assert ops["Concat"] == 5 and not SHAPE_OPS & set(ops)  # no stack/reshape channel shuffle
    optimised = _optimised_ops(path, tmp_path)
    assert sum(optimised.values()) <= 120 and "Add" not in optimised


def test_int8_graph_keeps_what_quantises(tmp_path):
    ops = _ops(export_onnx(_model(), tmp_path / "m.onnx", precision="int8"))
    assert "ConvTranspose" not in ops and ops["DepthToSpace"] == 5
    assert ops["MatMul"] == 14 and ops["Gemm"] == 14  # within-patch products stay MatMul
    assert not SHAPE_OPS & set(ops)  # the shuffle is folded here too


@pytest.mark.parametrize("overrides", [{}, {"heatmap_norm": "softmax"}],
                         ids=["default", "softmax"])
def test_dynamic_batch_graph_has_no_shape_arithmetic(tmp_path, overrides):
    model = _model(**overrides)
    path = export_onnx(model, tmp_path / "m.onnx", dynamic_batch=True)
    exported, optimised = _ops(path), _optimised_ops(path, tmp_path)
    assert not SHAPE_OPS & set(exported), exported
    assert not SHAPE_OPS & set(optimised), optimised
    assert sum(optimised.values()) <= 150  # 374 before the constant shapes
    x = torch.randn(3, 3, 256, 192, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = model(x).numpy()
    got = _run(path, x.numpy())
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4 * max(1.0, float(np.abs(expected).max()))
