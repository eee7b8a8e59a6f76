"""Timing targets for our own networks: PyTorch eager and ONNX Runtime, fp32 or int8.

Each target owns a fixed, already prepared input, so that what is timed is one forward pass
(plus handing the input to the runtime and fetching its output, as a user's code would).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lgmpose.benchmarks.timing import BenchTarget
from lgmpose.errors import LgmposeError


def ort_session(path: str | os.PathLike, threads: int, device: str = "cpu",
                profile_prefix: str | None = None) -> Any:
    """An ONNX Runtime session with the thread count fixed and every graph optimisation on
    (the options of :func:`lgmpose.runtimes.onnx_runtime.session_options`)."""
    import onnxruntime as ort

    from lgmpose.runtimes.onnx_runtime import session_options

    options = session_options(threads)
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise LgmposeError("ONNX Runtime has no CUDA provider here "
                               "(pip install onnxruntime-gpu)")
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(str(path), options, providers=providers)


def onnx_input_shape(session: Any, batch: int = 1) -> tuple[int, ...]:
    """The input shape to feed: the model's, with ``batch`` where the batch axis is free (as in
    the bundled model); any other free axis is an error."""
    shape = list(session.get_inputs()[0].shape)
    if shape and not isinstance(shape[0], int):
        shape[0] = batch
    if not all(isinstance(s, int) for s in shape):
        raise LgmposeError(f"ONNX model input has a dynamic shape {session.get_inputs()[0].shape}"
                           "; export it with a static size (only the batch axis may be free)")
    return tuple(shape)


def onnx_param_count(path: str | os.PathLike) -> int:
    """Weights of an ONNX graph: initializers of rank >= 1 that are not quantisation scales."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    quant_params = set()
    for node in model.graph.node:
        if node.op_type in {"QuantizeLinear", "DequantizeLinear"}:
            quant_params.update(node.input[1:])
    return sum(int(np.prod(init.dims)) for init in model.graph.initializer
               if init.name not in quant_params and len(init.dims) >= 1)


def onnx_target(path: str | os.PathLike, model: str, threads: int, params: int | None = None,
                macs: int | None = None, precision: str = "fp32", device: str = "cpu",
                note: str = "", seed: int = 0) -> BenchTarget:
    """Time ``session.run`` on a fixed normalised random input of the model's static shape."""
    session = ort_session(path, threads, device)
    shape = onnx_input_shape(session)
    data = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    feed = {session.get_inputs()[0].name: data}
    run_session = session.run

    def run() -> Any:
        return run_session(None, feed)

    return BenchTarget(
        model=model, backend="onnxruntime", batch=int(shape[0]), threads=threads,
        input_size=(int(shape[2]), int(shape[3])), run=run,
        params=params if params is not None else onnx_param_count(path), macs=macs,
        precision=precision, device=device, note=note,
        extra={"providers": session.get_providers()[:1]})


def torch_target(module: Any, model: str, batch: int, input_size: Sequence[int], threads: int,
                 params: int | None, macs: int | None, device: str = "cpu",
                 seed: int = 0) -> BenchTarget:
    """Eager PyTorch, ``inference_mode``; on CUDA with fp16 autocast and a synchronise per run."""
    import torch

    if device == "cpu":
        torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(seed)
    data = torch.randn(batch, 3, *input_size, generator=generator).to(device)
    if device != "cpu":  # the caller's module stays on the CPU for export and other targets
        import copy

        module = copy.deepcopy(module)
    module = module.eval().to(device)
    run: Callable[[], Any]
    if device == "cuda":
        def run() -> Any:
            with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
                out = module(data)
            torch.cuda.synchronize()
            return out
        precision = "amp-fp16"
    else:
        def run() -> Any:
            with torch.inference_mode():
                return module(data)
        precision = "fp32"
    return BenchTarget(model=model, backend="torch", batch=batch, threads=threads,
                       input_size=(int(input_size[0]), int(input_size[1])), run=run,
                       params=params, macs=macs, precision=precision, device=device)


def export_onnx(module: Any, path: Path, batch: int, input_size: Sequence[int]) -> Path:
    """Static-shape ONNX export for ``batch`` crops, with the project's exporter and metadata."""
    from lgmpose.export.exporter import export_onnx as project_export

    config = getattr(module, "model_config", {}) or {}
    if tuple(config.get("input_size", input_size)) != tuple(input_size):
        raise LgmposeError(f"model built for {config['input_size']}, asked for {input_size}")
    return Path(project_export(module, path, batch_size=batch))


def complexity(module: Any, input_size: Sequence[int]) -> tuple[int, int]:
    """``(params, macs)`` of one forward pass for one crop, from :mod:`lgmpose.benchmarks.flops`."""
    from lgmpose.benchmarks.flops import count_complexity

    counted = count_complexity(module, tuple(input_size))
    return int(counted.params), int(counted.macs)
