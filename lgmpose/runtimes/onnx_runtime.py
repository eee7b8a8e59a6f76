"""ONNX Runtime sessions: opening a model file with a clear error, and running a pose model.

No torch here: this is the deployment path.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from lgmpose.defaults import HEATMAP_STRIDE
from lgmpose.errors import LgmposeError
from lgmpose.runtimes.model_info import ModelInfo

__all__ = ["create_session", "OnnxPoseModel", "providers_for", "session_options"]

_STRIDE = 32          # the input sides of every pose network here are multiples of this
# heatmaps are a quarter of the input (unless the metadata says otherwise)
_HEATMAP_STRIDE = HEATMAP_STRIDE


def providers_for(device: str) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in available:
            raise LgmposeError(f"device '{device}': this onnxruntime has no CUDA provider "
                               f"(available: {', '.join(available)}); install onnxruntime-gpu "
                               "or use device='cpu'")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise LgmposeError(f"device '{device}': unknown; use 'cpu' or 'cuda'")


def session_options(threads: int | None = None):
    """The options of every session lgmpose runs a model in (inference, bench, profiling).

    Always every graph optimisation (``ORT_ENABLE_ALL``): below it ONNX Runtime does not use its
    blocked NCHWc convolution layout and LGM-Pose runs about 3x slower. ``threads`` fixes the
    intra-op thread count (default: ONNX Runtime's choice); execution is sequential.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return options


def create_session(path: str | os.PathLike, device: str = "cpu", threads: int | None = None,
                   what: str = "model"):
    """An ``onnxruntime.InferenceSession`` for ``path``, or an ``LgmposeError`` naming the file."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise LgmposeError(f"{what} '{path}': file not found")
    options = session_options(threads)
    try:
        return ort.InferenceSession(str(path), sess_options=options,
                                    providers=providers_for(device))
    except LgmposeError:
        raise
    except Exception as error:  # onnxruntime raises its own exception types
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise LgmposeError(f"{what} '{path}': not a valid ONNX model ({first[:200]})") from None


def _parse_meta_value(value: str):
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


class OnnxPoseModel:
    """A pose network exported to ONNX: ``images[B, 3, H, W] -> heatmaps[B, K, h, w]``.

    Reads the export's metadata (input size, normalisation, keypoint names) when present, as
    :attr:`info` (a :class:`~lgmpose.runtimes.model_info.ModelInfo`, like the torch backend's). A
    model exported with a fixed batch of 1 is run crop by crop; otherwise all crops go in one call.
    """

    def __init__(self, path: str | os.PathLike, device: str = "cpu",
                 threads: int | None = None) -> None:
        self.path = Path(path)
        self.session = create_session(self.path, device, threads, what="pose model")
        inputs = self.session.get_inputs()
        outputs = self.session.get_outputs()
        meta = self.session.get_modelmeta().custom_metadata_map or {}
        self.metadata = {k: _parse_meta_value(v) for k, v in meta.items()}
        shape = list(inputs[0].shape) if len(inputs) == 1 else None
        out_shape = list(outputs[0].shape) if outputs else None

        def not_a_pose_model(why: str) -> LgmposeError:
            got_in = [(i.name, i.shape) for i in inputs] if shape is None else shape
            return LgmposeError(
                f"pose model '{self.path}': not a pose model of the expected form (one image "
                f"input [B, 3, H, W] with H and W multiples of {_STRIDE}, heatmaps [B, K, "
                f"H/{_HEATMAP_STRIDE}, W/{_HEATMAP_STRIDE}] out): {why}; got input {got_in}, "
                f"output {out_shape}")

        if shape is None or len(shape) != 4:
            raise not_a_pose_model("expected one 4-D image input")
        if isinstance(shape[1], int) and shape[1] != 3:
            raise not_a_pose_model(f"{shape[1]} input channels instead of 3")
        if out_shape is None or len(out_shape) != 4:
            raise not_a_pose_model("expected a 4-D heatmap output")
        self.input_name = inputs[0].name
        self.output_name = outputs[0].name
        static = (shape[2], shape[3]) if all(isinstance(v, int) for v in shape[2:]) else None
        size = self.metadata.get("input_size")
        if isinstance(size, (list, tuple)) and len(size) == 2:
            try:
                self.input_size = (int(size[0]), int(size[1]))
            except (TypeError, ValueError):
                raise not_a_pose_model(f"metadata input_size {size!r} is not two integers") \
                    from None
            if static is not None and static != self.input_size:
                raise not_a_pose_model(f"metadata input_size {list(self.input_size)} differs "
                                       f"from the input's {list(static)}")
        elif static is not None:
            self.input_size = static
        else:
            raise LgmposeError(f"pose model '{self.path}': input size unknown (dynamic H, W and "
                               "no 'input_size' metadata)")
        h, w = self.input_size
        if h <= 0 or w <= 0 or h % _STRIDE or w % _STRIDE:
            raise not_a_pose_model(f"input size {h}x{w} is not a multiple of {_STRIDE}")
        stride = self.metadata.get("heatmap_stride") or _HEATMAP_STRIDE
        if not isinstance(stride, int) or stride <= 0:
            raise not_a_pose_model(f"metadata heatmap_stride {stride!r} is not a positive integer")
        expected = (h // stride, w // stride)
        got = tuple(out_shape[2:])
        if all(isinstance(v, int) for v in got) and got != expected:
            raise not_a_pose_model(f"heatmaps of {got[0]}x{got[1]} for a {h}x{w} input "
                                   f"(expected {expected[0]}x{expected[1]})")
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None
        self.num_keypoints = out_shape[1] if isinstance(out_shape[1], int) else None
        if self.num_keypoints is not None and self.num_keypoints < 1:
            raise not_a_pose_model("no heatmap channel")
        self.info = ModelInfo.from_meta(self.metadata, self.input_size)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = np.ascontiguousarray(images, dtype=np.float32)
        if self.fixed_batch is None or self.fixed_batch == images.shape[0]:
            return self.session.run([self.output_name], {self.input_name: images})[0]
        step = self.fixed_batch
        if images.shape[0] % step:
            pad = step - images.shape[0] % step
            images = np.concatenate([images, np.zeros((pad, *images.shape[1:]), np.float32)])
        else:
            pad = 0
        parts = [self.session.run([self.output_name], {self.input_name: images[i:i + step]})[0]
                 for i in range(0, images.shape[0], step)]
        out = np.concatenate(parts)
        return out[:len(out) - pad] if pad else out
