"""Tiny ONNX models and media built on the fly for the inference tests (no weights, no torch)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(graph, path: Path, metadata: dict | None = None) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def bright_spot_pose_model(path: Path, input_size=(256, 192), num_keypoints: int = 17,
                           batch: int | str = "batch", metadata: bool = True) -> Path:
    """A 'pose model' whose every heatmap is the crop's mean brightness pooled 4x4: all K
    keypoints land on the brightest spot of the crop. Tests the crop -> decode -> image chain."""
    h, w = input_size
    k = num_keypoints
    weight = np.full((k, 3, 1, 1), 1.0 / 3.0, np.float32)
    nodes = [
        helper.make_node("AveragePool", ["images"], ["pooled"], kernel_shape=[4, 4],
                         strides=[4, 4]),
        helper.make_node("Conv", ["pooled", "w"], ["heatmaps"]),
    ]
    graph = helper.make_graph(
        nodes, "bright_spot",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, h, w])],
        [helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, [batch, k, h // 4, w // 4])],
        initializer=[numpy_helper.from_array(weight, "w")])
    meta = {"input_size": [h, w], "heatmap_stride": 4, "num_keypoints": k,
            "codec": {"name": "msra", "sigma": 2.0}, "dataset": "coco"} if metadata else None
    return _save(graph, path, meta)


def constant_output_model(path: Path, outputs: dict[str, np.ndarray],
                          input_shape=(1, 3, 64, 64)) -> Path:
    """A model with one image input whose outputs are fixed arrays (plus 0 x the input mean), to
    test detector output decoding without weights."""
    nodes = [helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
             helper.make_node("Mul", ["mean", "zero"], ["nothing"])]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    outs = []
    for name, value in outputs.items():
        value = np.asarray(value)
        inits.append(numpy_helper.from_array(value, f"{name}_const"))
        if value.dtype == np.float32:
            nodes.append(helper.make_node("Add", [f"{name}_const", "nothing"], [name]))
            outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
        else:
            nodes.append(helper.make_node("Identity", [f"{name}_const"], [name]))
            outs.append(helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(value.dtype), list(value.shape)))
    graph = helper.make_graph(
        nodes, "constant",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, list(input_shape))],
        outs, initializer=inits)
    return _save(graph, path)


def spot_image(size=(240, 320), spot=(200, 80), radius: int = 6) -> np.ndarray:
    """A black BGR image with one white disc at ``spot`` (x, y)."""
    image = np.zeros((*size, 3), np.uint8)
    cv2.circle(image, spot, radius, (255, 255, 255), -1)
    return image


def moving_spot_video(path: Path, frames: int = 12, size=(96, 128), fps: float = 10.0) -> Path:
    """A short video: a grey background with a white disc moving right."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (size[1], size[0]))
    assert writer.isOpened()
    for i in range(frames):
        frame = np.full((*size, 3), 40, np.uint8)
        cv2.circle(frame, (30 + 4 * i, 50), 5, (255, 255, 255), -1)
        writer.write(frame)
    writer.release()
    return path
