"""Deployed CPU pose models timed next to ours: MoveNet Lightning int8 and BlazePose lite/full
(TFLite), and MoveNet Thunder / Lightning converted from TF.js to ONNX (``lgmpose convert-tfjs``).

The TFLite models run with ``ai-edge-litert``, the ONNX ones with ONNX Runtime, under the same
thread count as our models, on a fixed input of their own size (the ONNX MoveNets take
``int32 [1, S, S, 3]``). Only the per-person network is timed (for BlazePose the landmark model,
which like ours takes one person crop); their detectors are not. Parameter and MAC counts are read
from the graph. TFLite: every constant tensor an operator reads is a parameter; convolutions and
fully connected layers count their multiply-accumulates. ONNX (needs the ``onnx`` package, else
they are left out): floating-point initializers are parameters; ``Conv``, ``ConvTranspose``,
``Gemm`` and ``MatMul`` with a constant weight count their multiply-accumulates, from the shapes
ONNX shape inference gives.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lgmpose.benchmarks.timing import BenchTarget
from lgmpose.detectors.factory import litert_available
from lgmpose.errors import LgmposeError


@dataclass(frozen=True)
class PeerSpec:
    name: str
    filename: str
    note: str

    @property
    def runtime(self) -> str:
        return "onnxruntime" if self.filename.endswith(".onnx") else "tflite"


PEERS = (
    PeerSpec("movenet_lightning_int8", "movenet_singlepose_lightning_int8.tflite",
             "MoveNet SinglePose Lightning int8 (whole image in, 17 COCO keypoints out; "
             "decoding is inside the graph)"),
    PeerSpec("blazepose_lite", "blazepose_landmark_lite.tflite",
             "BlazePose GHUM lite landmark model (person ROI in, 33 landmarks out)"),
    PeerSpec("blazepose_full", "blazepose_landmark_full.tflite",
             "BlazePose GHUM full landmark model (person ROI in, 33 landmarks out)"),
    PeerSpec("movenet_thunder", "movenet_thunder.onnx",
             "MoveNet SinglePose Thunder fp32, TF.js release converted to ONNX (lgmpose "
             "convert-tfjs; int32 image in, 17 COCO keypoints out, decoding inside the graph)"),
    PeerSpec("movenet_lightning", "movenet_lightning.onnx",
             "MoveNet SinglePose Lightning fp32, TF.js release converted to ONNX (lgmpose "
             "convert-tfjs; int32 image in, 17 COCO keypoints out, decoding inside the graph)"),
)


def find_peers(directory: str | os.PathLike) -> list[tuple[PeerSpec, Path]]:
    """The known peer models present in ``directory`` (an error if there are none)."""
    folder = Path(directory)
    if not folder.is_dir():
        raise LgmposeError(f"peers folder '{folder}' does not exist")
    found = [(spec, folder / spec.filename) for spec in PEERS if (folder / spec.filename).is_file()]
    if not found:
        names = ", ".join(spec.filename for spec in PEERS)
        raise LgmposeError(f"peers folder '{folder}' holds none of the known models ({names})")
    return found


def _interpreter(path: Path, threads: int, delegates: bool = True) -> Any:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs: dict[str, Any] = {"model_path": str(path), "num_threads": threads}
    if not delegates:
        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(**kwargs)
    interpreter.allocate_tensors()
    return interpreter


_WEIGHTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"}


def graph_counts(path: str | os.PathLike) -> tuple[int, int]:
    """``(params, macs)`` of a TFLite graph for one forward pass."""
    interpreter = _interpreter(Path(path), threads=1, delegates=False)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()  # the public API has no operator listing
    produced = {int(i) for op in ops for i in op["outputs"]}
    inputs = {d["index"] for d in interpreter.get_input_details()}
    constants = {int(i) for op in ops for i in op["inputs"]
                 if i >= 0 and int(i) not in produced and int(i) not in inputs}
    biases = {int(op["inputs"][2]) for op in ops
              if op["op_name"] in _WEIGHTED and len(op["inputs"]) > 2}
    # int32 constants are shapes and axes, except the biases of quantised layers
    params = sum(int(np.prod(tensors[i]["shape"])) for i in constants
                 if i in biases or tensors[i]["dtype"] != np.int32)
    macs = 0
    for op in ops:
        name = op["op_name"]
        if name not in _WEIGHTED:
            continue
        out = tensors[int(op["outputs"][0])]["shape"]
        weight = tensors[int(op["inputs"][1])]["shape"]
        if name == "CONV_2D":  # weight [out, kh, kw, in]
            macs += int(np.prod(out)) * int(np.prod(weight[1:]))
        elif name == "DEPTHWISE_CONV_2D":  # weight [1, kh, kw, channels]
            macs += int(np.prod(out)) * int(weight[1] * weight[2])
        elif name == "FULLY_CONNECTED":  # weight [out, in]
            macs += int(np.prod(out)) * int(weight[-1])
        else:  # TRANSPOSE_CONV weight [out, kh, kw, in]: every input pixel scatters a kernel
            source = tensors[int(op["inputs"][2])]["shape"]
            macs += int(np.prod(source[:3])) * int(np.prod(weight))
    return params, macs


_ONNX_WEIGHTED = {"Conv", "ConvTranspose", "Gemm", "MatMul"}


def onnx_graph_counts(path: str | os.PathLike) -> tuple[int | None, int | None]:
    """``(params, macs)`` of an ONNX graph for one forward pass; ``(None, None)`` without the
    ``onnx`` package, ``macs`` None when shape inference leaves a weighted layer's output
    shape unknown."""
    try:
        import onnx
        from onnx import TensorProto, shape_inference
    except ImportError:
        return None, None
    model = onnx.load(str(path))
    floats = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
    weights = {init.name: list(init.dims) for init in model.graph.initializer}
    params = sum(int(np.prod(init.dims)) for init in model.graph.initializer
                 if init.data_type in floats and len(init.dims) >= 1)
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:  # onnx raises several types on graphs it cannot infer
        return params, None
    shapes: dict[str, list[int | None]] = {}
    for value in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    macs = 0
    for node in model.graph.node:
        if node.op_type not in _ONNX_WEIGHTED:
            continue
        weight = weights.get(node.input[1]) if len(node.input) > 1 else None
        if weight is None:  # a product of two activations: not a layer with weights
            continue
        out = shapes.get(node.output[0])
        if not out or any(d is None for d in out):
            return params, None
        if node.op_type == "Conv":  # weight [out, in / groups, kh, kw]
            macs += int(np.prod(out)) * int(np.prod(weight[1:]))
        elif node.op_type == "ConvTranspose":  # every input pixel scatters a kernel
            source = shapes.get(node.input[0])
            if not source or any(d is None for d in source):
                return params, None
            macs += int(np.prod(source)) * int(np.prod(weight[1:]))
        else:  # Gemm / MatMul: each output element is a dot product over the inner dimension
            attrs = {a.name: a.i for a in node.attribute}
            inner = weight[-1] if attrs.get("transB", 0) else weight[0]
            macs += int(np.prod(out)) * int(inner)
    return params, macs


def onnx_peer_target(spec: PeerSpec, path: Path, threads: int, seed: int = 0) -> BenchTarget:
    """A :class:`BenchTarget` running an ONNX peer on a fixed input of its static shape."""
    from lgmpose.benchmarks.targets import onnx_input_shape, ort_session

    session = ort_session(path, threads)
    shape = onnx_input_shape(session)
    inp = session.get_inputs()[0]
    rng = np.random.default_rng(seed)
    if "int" in inp.type:
        dtype = {"tensor(uint8)": np.uint8, "tensor(int64)": np.int64}.get(inp.type, np.int32)
        data = rng.integers(0, 256, size=shape).astype(dtype)
    else:
        data = rng.random(shape, dtype=np.float32) * 255.0
    feed = {inp.name: data}
    run_session = session.run

    def run() -> Any:
        return run_session(None, feed)

    params, macs = onnx_graph_counts(path)
    nhwc = len(shape) == 4 and shape[-1] == 3
    size = (int(shape[1]), int(shape[2])) if nhwc else (int(shape[2]), int(shape[3]))
    return BenchTarget(model=spec.name, backend="onnxruntime", batch=int(shape[0]),
                       threads=threads, input_size=size, run=run, params=params, macs=macs,
                       precision="fp32", note=spec.note,
                       extra={"providers": session.get_providers()[:1]})


def peer_target(spec: PeerSpec, path: Path, threads: int, seed: int = 0) -> BenchTarget:
    """A :class:`BenchTarget` that sets a fixed input, invokes, and reads every output."""
    if spec.runtime == "onnxruntime":
        return onnx_peer_target(spec, path, threads, seed)
    interpreter = _interpreter(path, threads)
    detail = interpreter.get_input_details()[0]
    shape = tuple(int(s) for s in detail["shape"])
    rng = np.random.default_rng(seed)
    if detail["dtype"] == np.uint8:
        data = rng.integers(0, 256, size=shape, dtype=np.uint8)
    else:
        data = rng.random(shape, dtype=np.float32)
    input_index = detail["index"]
    output_indices = [d["index"] for d in interpreter.get_output_details()]
    set_tensor, invoke, get_tensor = (interpreter.set_tensor, interpreter.invoke,
                                      interpreter.get_tensor)

    def run() -> list[np.ndarray]:
        set_tensor(input_index, data)
        invoke()
        return [get_tensor(i) for i in output_indices]

    params, macs = graph_counts(path)
    precision = "int8" if _is_quantised(interpreter) else "fp32"
    return BenchTarget(model=spec.name, backend="tflite", batch=int(shape[0]), threads=threads,
                       input_size=(int(shape[1]), int(shape[2])), run=run, params=params,
                       macs=macs, precision=precision, note=spec.note)


def _is_quantised(interpreter: Any) -> bool:
    return any(t["dtype"] == np.int8 or (t["dtype"] == np.uint8 and t["quantization"][0] > 0)
               for t in interpreter.get_tensor_details())


def peer_targets(directory: str | os.PathLike, threads: int) -> list[BenchTarget]:
    """Targets for every known peer model found in ``directory`` (see :func:`usable_peers`)."""
    return [peer_target(spec, path, threads) for spec, path in usable_peers(directory)]


def usable_peers(directory: str | os.PathLike) -> list[tuple[PeerSpec, Path]]:
    """The known peer models in ``directory`` that this installation can run.

    Without ``ai-edge-litert`` the TFLite peers are left out with a warning (an error if they are
    all there is)."""
    found = find_peers(directory)
    tflite = [spec.filename for spec, _ in found if spec.runtime == "tflite"]
    if tflite and not litert_available():
        if len(tflite) == len(found):
            raise LgmposeError("--peers: the TFLite models need the ai-edge-litert package "
                               "(pip install ai-edge-litert)")
        warnings.warn(f"--peers: {', '.join(tflite)} left out: the TFLite models need the "
                      "ai-edge-litert package", stacklevel=2)
        found = [(spec, path) for spec, path in found if spec.runtime != "tflite"]
    return found
