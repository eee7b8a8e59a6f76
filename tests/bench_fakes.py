"""Targets for the bench worker tests (built in a worker process by a ``factory`` spec), and
small ONNX convolution stacks to time (no torch)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lgmpose.benchmarks.timing import BenchTarget


def sleeper(ms: float = 5.0) -> BenchTarget:
    """Each run sleeps: the run takes wall time but no CPU."""
    return BenchTarget(model="sleeper", backend="python", batch=1, threads=1, input_size=(1, 1),
                       run=lambda: time.sleep(ms / 1000.0))


def spinner() -> BenchTarget:
    """A target whose process burns a core all the time, timed or not: the worst idle runtime."""
    def burn() -> None:
        while True:
            pass

    threading.Thread(target=burn, daemon=True).start()
    return BenchTarget(model="spinner", backend="python", batch=1, threads=1, input_size=(1, 1),
                       run=lambda: time.sleep(0.001))


def conv_stack_onnx(path: Path, channels: int, size: int, layers: int, seed: int = 0,
                    batch: int | str = 1) -> Path:
    """``layers`` 3x3 convolutions + ReLU on a [batch, channels, size, size] input (a string
    batch is a free axis)."""
    rng = np.random.default_rng(seed)
    nodes, inits, name = [], [], "images"
    for i in range(layers):
        weight = rng.standard_normal((channels, channels, 3, 3)) / np.sqrt(9 * channels)
        inits.append(numpy_helper.from_array(weight.astype(np.float32), f"w{i}"))
        nodes += [helper.make_node("Conv", [name, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        name = f"r{i}"
    shape = [batch, channels, size, size]
    graph = helper.make_graph(nodes, "conv_stack",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
