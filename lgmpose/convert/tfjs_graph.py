"""Rebuild a frozen TensorFlow GraphDef from a TF.js graph model (``model.json`` + weight shards).

A TF.js graph model is a GraphDef in protobuf-JSON form (``modelTopology``) whose constants live in
binary shards described by ``weightsManifest``. Three things differ from a graph TensorFlow can run:

- the weights are outside the graph, often quantised (fp16, or uint8/uint16 with an affine
  ``scale``/``min``); they are read, dequantised to their original dtype and put back into the
  ``Const`` nodes;
- int64 constants are stored as int32 (the ``Const`` node's ``dtype`` attr still says int64);
- the TF.js converter fuses ops into ``_FusedConv2D``, ``FusedDepthwiseConv2dNative`` and
  ``_FusedMatMul`` (with ``fused_ops`` such as ``BiasAdd``, ``Relu6``, ``Prelu``) and may emit a
  standalone ``Prelu``; current TensorFlow refuses these nodes (``_FusedConv2D`` wants a ``TArgs``
  attr, the others do not exist), so they are split back into plain ops. The last op of a split
  keeps the original node name, so the rest of the graph is untouched.

Needs TensorFlow (its protobuf classes); import this module only where TensorFlow is required.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from lgmpose.errors import LgmposeError

_NP_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "uint8": np.uint8,
              "uint16": np.uint16, "float16": np.float16, "int64": np.int64}
_BASE_OPS = {"_FusedConv2D": "Conv2D", "FusedDepthwiseConv2dNative": "DepthwiseConv2dNative",
             "_FusedMatMul": "MatMul"}
_BASE_ATTRS = {
    "Conv2D": ("T", "strides", "padding", "explicit_paddings", "data_format", "dilations",
               "use_cudnn_on_gpu"),
    "DepthwiseConv2dNative": ("T", "strides", "padding", "explicit_paddings", "data_format",
                              "dilations"),
    "MatMul": ("T", "transpose_a", "transpose_b"),
}
_ACTIVATIONS = ("Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh")


def read_model_json(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        model = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise LgmposeError(f"cannot read TF.js model '{path}': {error}") from error
    if not isinstance(model, dict) or "modelTopology" not in model or model.get(
            "format", "graph-model") != "graph-model":
        raise LgmposeError(f"'{path}' is not a TF.js graph model (model.json with modelTopology)")
    return model


def read_weights(model: dict[str, Any], folder: Path) -> dict[str, np.ndarray]:
    """Name -> dequantised array for every weight in the manifest (shards read from ``folder``)."""
    weights: dict[str, np.ndarray] = {}
    for group in model.get("weightsManifest", []):
        try:
            data = b"".join((folder / p).read_bytes() for p in group["paths"])
        except OSError as error:
            raise LgmposeError(f"cannot read TF.js weight shard: {error}") from error
        offset = 0
        for spec in group["weights"]:
            dtype = spec["dtype"]
            quant = spec.get("quantization") or {}
            stored = quant.get("dtype", dtype)
            if dtype not in _NP_DTYPES or stored not in _NP_DTYPES:
                raise LgmposeError(f"weight '{spec['name']}': unsupported dtype {stored}/{dtype}")
            shape = [int(d) for d in spec["shape"]]
            count = int(np.prod(shape, dtype=np.int64))
            item = np.dtype(_NP_DTYPES[stored]).itemsize
            raw = np.frombuffer(data, _NP_DTYPES[stored], count, offset)
            offset += count * item
            if stored == "float16":
                values = raw.astype(np.float32)
            elif quant:  # affine uint8/uint16: value = q * scale + min
                values = raw.astype(np.float32) * float(quant["scale"]) + float(quant["min"])
                if np.dtype(_NP_DTYPES[dtype]).kind in "iu":
                    values = np.round(values)
            else:
                values = raw
            weights[spec["name"]] = values.astype(_NP_DTYPES[dtype]).reshape(shape)
        if offset != len(data):
            raise LgmposeError(f"TF.js weight shards {group['paths']}: {len(data)} bytes, "
                               f"manifest describes {offset}")
    return weights


def _copy_attrs(src, dst, names) -> None:
    for name in names:
        if name in src.attr:
            dst.attr[name].CopyFrom(src.attr[name])


def _split_fused(node, node_def_pb2) -> list:
    """Plain ops equivalent to one fused TF.js node; the last one carries the node's name."""
    base = _BASE_OPS[node.op]
    data_inputs = [i for i in node.input if not i.startswith("^")]
    controls = [i for i in node.input if i.startswith("^")]
    fused = [s.decode() for s in node.attr["fused_ops"].list.s]
    args = data_inputs[2:]
    dtype = node.attr["T"].type
    out: list = []

    def emit(op: str, inputs: list[str], suffix: str | None) -> str:
        new = node_def_pb2.NodeDef(name=f"{node.name}/_{suffix}" if suffix else node.name, op=op)
        new.input.extend(inputs)
        new.attr["T"].type = dtype
        out.append(new)
        return new.name

    steps = [base] + fused
    current = data_inputs[0]
    for index, step in enumerate(steps):
        last = index == len(steps) - 1
        suffix = None if last else f"{index}_{step.lower()}"
        if step == base:
            current = emit(base, [data_inputs[0], data_inputs[1]] + controls, suffix)
            _copy_attrs(node, out[-1], _BASE_ATTRS[base])
        elif step == "BiasAdd":
            current = emit("BiasAdd", [current, args.pop(0)], suffix)
            if base != "MatMul":
                _copy_attrs(node, out[-1], ("data_format",))
        elif step == "FusedBatchNorm":
            scale, offset, mean, var = (args.pop(0) for _ in range(4))
            current = emit("FusedBatchNorm", [current, scale, offset, mean, var], suffix)
            bn = out[-1]
            bn.attr["epsilon"].f = node.attr["epsilon"].f
            bn.attr["is_training"].b = False
            _copy_attrs(node, bn, ("data_format",))
        elif step in _ACTIVATIONS:
            current = emit(step, [current], suffix)
        elif step == "LeakyRelu":
            current = emit("LeakyRelu", [current], suffix)
            alpha = node.attr["leakyrelu_alpha"].f if "leakyrelu_alpha" in node.attr else 0.2
            out[-1].attr["alpha"].f = alpha
        elif step == "Prelu":
            out.extend(_prelu(f"{node.name}/_prelu" if not last else node.name, current,
                              args.pop(0), dtype, node_def_pb2))
            current = out[-1].name
        else:
            raise LgmposeError(f"node '{node.name}' ({node.op}): fused op '{step}' is not "
                               "supported")
    if args:
        raise LgmposeError(f"node '{node.name}' ({node.op}): unused fused arguments {args}")
    return out


def _prelu(name: str, x: str, alpha: str, dtype: int, node_def_pb2) -> list:
    """prelu(x) = relu(x) - alpha * relu(-x); the last node is called ``name``."""
    specs = [("Relu", f"{name}/_pos", [x]), ("Neg", f"{name}/_neg", [x]),
             ("Relu", f"{name}/_negrelu", [f"{name}/_neg"]),
             ("Mul", f"{name}/_scaled", [alpha, f"{name}/_negrelu"]),
             ("Sub", name, [f"{name}/_pos", f"{name}/_scaled"])]
    nodes = []
    for op, node_name, inputs in specs:
        new = node_def_pb2.NodeDef(name=node_name, op=op)
        new.input.extend(inputs)
        new.attr["T"].type = dtype
        nodes.append(new)
    return nodes


def build_graph_def(model_json: str | Path):
    """(frozen GraphDef, input names, output names) of a TF.js graph model; TF names ``"x:0"``."""
    from google.protobuf import json_format
    from tensorflow.core.framework import graph_pb2, node_def_pb2, types_pb2
    from tensorflow.python.framework import tensor_util

    path = Path(model_json)
    model = read_model_json(path)
    weights = read_weights(model, path.parent)
    topology = dict(model["modelTopology"])
    source = graph_pb2.GraphDef()
    try:
        json_format.ParseDict(topology, source, ignore_unknown_fields=True)
    except json_format.ParseError as error:
        raise LgmposeError(f"'{path}': modelTopology is not a GraphDef: {error}") from error
    graph = graph_pb2.GraphDef()
    graph.versions.CopyFrom(source.versions)
    graph.library.CopyFrom(source.library)
    for node in source.node:
        if node.op == "Const" and node.name in weights:
            values = weights[node.name]
            if node.attr["dtype"].type == types_pb2.DT_INT64:
                values = values.astype(np.int64)
            node.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(values))
            graph.node.append(node)
        elif node.op in _BASE_OPS:
            graph.node.extend(_split_fused(node, node_def_pb2))
        elif node.op == "Prelu":
            data = [i for i in node.input if not i.startswith("^")]
            graph.node.extend(_prelu(node.name, data[0], data[1], node.attr["T"].type
                                     if "T" in node.attr else types_pb2.DT_FLOAT, node_def_pb2))
        else:
            graph.node.append(node)
    signature = model.get("signature") or {}
    inputs = sorted(_tensor_name(k, v) for k, v in (signature.get("inputs") or {}).items())
    outputs = sorted((_tensor_name(k, v) for k, v in (signature.get("outputs") or {}).items()),
                     key=_natural_key)
    if not inputs:
        inputs = [f"{n.name}:0" for n in graph.node if n.op == "Placeholder"]
    if not outputs:
        consumed = {i.lstrip("^").split(":")[0] for n in graph.node for i in n.input}
        outputs = [f"{n.name}:0" for n in graph.node
                   if n.name not in consumed and n.op not in ("Const", "Placeholder", "NoOp")]
    return graph, inputs, outputs


def _tensor_name(key: str, spec: dict[str, Any]) -> str:
    name = spec.get("name") or key
    return name if ":" in name else f"{name}:0"


def _natural_key(name: str) -> tuple:
    base, _, index = name.split(":")[0].rpartition("_")
    return (base, int(index)) if index.isdigit() and base else (name.split(":")[0], -1)
