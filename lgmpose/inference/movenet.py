"""MoveNet SinglePose (Lightning or Thunder) on one person box: a COCO-17 teacher and peer model.

Runs either the TFLite release (``ai-edge-litert``) or an ONNX file converted from the TF.js
release (``lgmpose convert-tfjs``). MoveNet was trained on square crops around one person: the
crop here is the square of side ``max(w, h) * crop_scale`` centred on the box (zero padding where it
leaves the image), resized to the model's input (192 Lightning, 256 Thunder), RGB 0-255. The output
``[1, 1, 17, 3]`` is ``(y, x, score)`` in crop-normalised units, mapped back to image pixels here.
Measured on 68 COCO people with ground-truth boxes, ``crop_scale`` 1.0 scored best.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from lgmpose.data.crops import crop_image
from lgmpose.errors import LgmposeError

__all__ = ["MoveNet", "square_crop_matrix"]


def square_crop_matrix(box_xywh, side_px: int, crop_scale: float = 1.0) -> np.ndarray:
    """2x3 affine matrix: image -> the ``side_px`` square crop around ``box_xywh``."""
    x, y, w, h = [float(v) for v in box_xywh]
    side = max(w, h, 1.0) * crop_scale
    s = side_px / side
    cx, cy = x + w / 2, y + h / 2
    return np.array([[s, 0, side_px / 2 - s * cx], [0, s, side_px / 2 - s * cy]], np.float64)


class MoveNet:
    """``MoveNet(path)(image_bgr, box_xywh) -> (keypoints [17, 2] image pixels, scores [17])``."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None,
                 crop_scale: float = 1.0) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise LgmposeError(f"MoveNet model '{self.path}': file not found")
        self.crop_scale = float(crop_scale)
        suffix = self.path.suffix.lower()
        if suffix == ".onnx":
            self._open_onnx(threads)
        elif suffix == ".tflite":
            self._open_tflite(threads)
        else:
            raise LgmposeError(f"MoveNet model '{self.path}': expected a .onnx or .tflite file")

    def _open_onnx(self, threads: int | None) -> None:
        from lgmpose.runtimes.onnx_runtime import create_session

        session = create_session(self.path, threads=threads, what="MoveNet model")
        inp = session.get_inputs()[0]
        shape = inp.shape
        if len(shape) != 4 or shape[-1] != 3 or not isinstance(shape[1], int):
            raise LgmposeError(f"MoveNet model '{self.path}': input {inp.name} has shape {shape}; "
                               "expected [1, S, S, 3]")
        self.size = int(shape[1])
        dtype = np.int32 if "int32" in inp.type else np.uint8 if "uint8" in inp.type \
            else np.float32
        name = inp.name
        self._run = lambda crop: session.run(None, {name: crop[None].astype(dtype)})[0]

    def _open_tflite(self, threads: int | None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise LgmposeError(f"MoveNet model '{self.path}': a .tflite file needs the "
                               "ai-edge-litert package") from None
        try:
            interpreter = Interpreter(model_path=str(self.path), num_threads=threads or 2)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise LgmposeError(f"MoveNet model '{self.path}': cannot load it ({error})") from None
        detail = interpreter.get_input_details()[0]
        self.size = int(detail["shape"][1])
        dtype, index = detail["dtype"], detail["index"]
        out_index = interpreter.get_output_details()[0]["index"]

        def run(crop: np.ndarray) -> np.ndarray:
            interpreter.set_tensor(index, crop[None].astype(dtype))
            interpreter.invoke()
            return interpreter.get_tensor(out_index)

        self._run = run

    def __call__(self, image: np.ndarray, box_xywh) -> tuple[np.ndarray, np.ndarray]:
        matrix = square_crop_matrix(box_xywh, self.size, self.crop_scale)
        crop = crop_image(image, matrix, (self.size, self.size))
        out = np.asarray(self._run(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)), np.float32)
        out = out.reshape(-1, 3)[:17]
        crop_xy = out[:, [1, 0]] * self.size
        inverse = cv2.invertAffineTransform(matrix)
        keypoints = crop_xy @ inverse[:, :2].T + inverse[:, 2]
        return keypoints.astype(np.float32), out[:, 2].astype(np.float32)
