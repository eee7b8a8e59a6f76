"""ONNX Runtime sessions: opening a model file with a clear error, and running a pose model.

No torch here: this is the deployment path.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from lgmpose.errors import LgmposeError

__all__ = ["create_session", "OnnxPoseModel", "providers_for"]


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


def create_session(path: str | os.PathLike, device: str = "cpu", threads: int | None = None,
                   what: str = "model"):
    """An ``onnxruntime.InferenceSession`` for ``path``, or an ``LgmposeError`` naming the file."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise LgmposeError(f"{what} '{path}': file not found")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
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

    Reads the export's metadata (input size, normalisation, keypoint names) when present. A model
    exported with a fixed batch of 1 is run crop by crop; otherwise all crops go in one call.
    """

    def __init__(self, path: str | os.PathLike, device: str = "cpu",
                 threads: int | None = None) -> None:
        self.path = Path(path)
        self.session = create_session(self.path, device, threads, what="pose model")
        inputs = self.session.get_inputs()
        outputs = self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise LgmposeError(f"pose model '{self.path}': expected one image input "
                               f"[B, 3, H, W], got {[(i.name, i.shape) for i in inputs]}")
        shape = inputs[0].shape
        self.input_name = inputs[0].name
        self.output_name = outputs[0].name
        meta = self.session.get_modelmeta().custom_metadata_map or {}
        self.metadata = {k: _parse_meta_value(v) for k, v in meta.items()}
        size = self.metadata.get("input_size")
        if isinstance(size, (list, tuple)) and len(size) == 2:
            self.input_size = (int(size[0]), int(size[1]))
        elif isinstance(shape[2], int) and isinstance(shape[3], int):
            self.input_size = (shape[2], shape[3])
        else:
            raise LgmposeError(f"pose model '{self.path}': input size unknown (dynamic H, W and "
                               "no 'input_size' metadata)")
        if shape[1] not in (3, "3") and isinstance(shape[1], int):
            raise LgmposeError(f"pose model '{self.path}': expected 3 input channels, "
                               f"got {shape[1]}; is this a pose model?")
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None
        out_shape = outputs[0].shape
        if len(out_shape) != 4:
            raise LgmposeError(f"pose model '{self.path}': expected heatmaps [B, K, h, w], "
                               f"got output shape {out_shape}; is this a pose model?")
        self.num_keypoints = out_shape[1] if isinstance(out_shape[1], int) else None

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
