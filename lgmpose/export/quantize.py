"""Static int8 quantisation of an exported ONNX pose model, calibrated on real person crops.

ONNX Runtime's static quantiser writes a QDQ graph (QuantizeLinear/DequantizeLinear pairs around
each quantised operator) that its CPU provider fuses into integer kernels. Activation ranges come
from calibration: the fp32 model runs on person crops prepared exactly as at inference (box ->
center/scale x1.25 -> affine warp -> ImageNet normalisation), so the ranges are those of real
inputs. Weights are quantised per output channel by default: depthwise and 1x1 convolutions of
small networks have very different ranges per channel, and one scale per tensor loses the small
ones.

Person boxes come from a COCO keypoints json when there is one (``coco_json``, or the standard
layout ``DIR/../annotations/person_keypoints_<DIR name>.json``); otherwise every image is used
whole, centre-cropped to the input aspect ratio.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lgmpose.defaults import BOX_PADDING
from lgmpose.errors import LgmposeError

CALIBRATION_METHODS = ("minmax", "percentile", "entropy")


def find_coco_json(calib_dir: Path) -> Path | None:
    """The person keypoints json of a COCO image folder in the standard layout, if present."""
    candidates = [calib_dir.parent / "annotations" / f"person_keypoints_{calib_dir.name}.json"]
    candidates += sorted(calib_dir.glob("person_keypoints_*.json"))
    return next((c for c in candidates if c.is_file()), None)


def _person_boxes(coco_json: Path, min_size: float = 24.0) -> dict[str, list[list[float]]]:
    """``file_name -> [x, y, w, h]`` of non-crowd people, those with keypoints first."""
    try:
        data = json.loads(coco_json.read_text())
    except (OSError, ValueError) as error:
        raise LgmposeError(f"cannot read COCO annotations '{coco_json}': {error}") from error
    names = {image["id"]: image["file_name"] for image in data.get("images", [])}
    ranked: list[tuple[int, str, list[float]]] = []
    for ann in data.get("annotations", []):
        box = ann.get("bbox")
        if ann.get("iscrowd") or ann.get("category_id", 1) != 1 or not box:
            continue
        if box[2] < min_size or box[3] < min_size or ann.get("image_id") not in names:
            continue
        ranked.append((0 if ann.get("num_keypoints", 0) > 0 else 1, names[ann["image_id"]], box))
    boxes: dict[str, list[list[float]]] = {}
    for _, name, box in sorted(ranked, key=lambda r: r[0]):
        boxes.setdefault(name, []).append(list(map(float, box)))
    return boxes


def calibration_crops(calib_dir: str | os.PathLike, input_size: Sequence[int],
                      coco_json: str | os.PathLike | None = None, max_crops: int = 128,
                      seed: int = 0, udp: bool = False) -> np.ndarray:
    """Up to ``max_crops`` normalised person crops ``[N, 3, H, W]`` from the images in a folder."""
    from lgmpose.data.crops import crop_image, crop_matrix
    from lgmpose.data.image_io import list_images, read_image
    from lgmpose.data.transforms import box_to_center_scale, normalize_image

    folder = Path(calib_dir)
    images = list_images(folder, "calibration folder")
    height, width = int(input_size[0]), int(input_size[1])
    json_path = Path(coco_json) if coco_json else find_coco_json(folder)
    boxes = _person_boxes(json_path) if json_path else {}
    items: list[tuple[Path, list[float] | None]] = []
    for image in images:
        image_boxes = boxes.get(image.name)
        if image_boxes:
            items += [(image, box) for box in image_boxes]
        elif not boxes:
            items.append((image, None))
    if not items:
        raise LgmposeError(f"no annotated person in '{json_path}' matches an image in '{folder}'")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(items))[:max_crops]
    crops = []
    for index in sorted(order):
        path, box = items[index]
        image = read_image(path)
        if box is None:  # the whole image, centre part at the input aspect ratio
            whole = [0.0, 0.0, float(image.shape[1]), float(image.shape[0])]
            center, scale = box_to_center_scale(whole, width / height, padding=1.0)
            scale = _shrink_to_fit(scale, image.shape[1], image.shape[0])
        else:
            center, scale = box_to_center_scale(box, width / height, padding=BOX_PADDING)
        matrix = crop_matrix(center, scale, (height, width), udp=udp)
        crops.append(normalize_image(crop_image(image, matrix, (height, width))))
    return np.stack(crops).astype(np.float32)


def _shrink_to_fit(scale: np.ndarray, image_w: int, image_h: int) -> np.ndarray:
    """The largest region of ``scale``'s aspect ratio inside the image (a centre crop)."""
    factor = min(image_w / float(scale[0]), image_h / float(scale[1]), 1.0)
    return np.asarray(scale, dtype=np.float32) * factor


class _CropReader:
    """ONNX Runtime calibration reader: the crops grouped into batches of the model's batch size."""

    def __init__(self, input_name: str, crops: np.ndarray, batch: int) -> None:
        self.input_name = input_name
        count = int(np.ceil(len(crops) / batch)) * batch
        padded = np.concatenate([crops, crops[: count - len(crops)]]) if count > len(crops) else crops
        self._batches: Iterator[np.ndarray] = iter(padded.reshape(-1, batch, *crops.shape[1:]))

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {self.input_name: np.ascontiguousarray(batch)}

    def rewind(self) -> None:  # part of the reader interface; one pass is enough here
        pass


def quantize_onnx(fp32_path: str | os.PathLike, output_path: str | os.PathLike,
                  calib_dir: str | os.PathLike | None, coco_json: str | os.PathLike | None = None,
                  max_crops: int = 128, per_channel: bool = True, method: str = "percentile",
                  seed: int = 0, crops: np.ndarray | None = None,
                  keep_fp32: Sequence[str] = ()) -> Path:
    """Write a statically quantised (QDQ, int8) copy of ``fp32_path`` to ``output_path``.

    Calibration uses person crops from ``calib_dir`` (see :func:`calibration_crops`), or the given
    ``crops [N, 3, H, W]``; with neither, normal noise, which is only good enough for timing.
    ``method`` chooses how activation ranges are taken from calibration: ``percentile``
    (default: the 0.001th to 99.999th percentile, which ignores rare outliers; on the bundled
    checkpoint its heatmaps correlate 0.96 with fp32 against 0.92 for the full range),
    ``minmax`` (the full observed range) or ``entropy``. Nodes whose name contains one of ``keep_fp32``
    (e.g. ``"/mixer/"``, ``"head"``) stay in floating point.
    """
    import onnx
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from lgmpose.codecs import needs_udp_warp
    from lgmpose.utils.atomic import atomic_path

    _register_layout_ops()

    if method not in CALIBRATION_METHODS:
        raise LgmposeError(f"unknown calibration method {method!r}; "
                           f"use one of {', '.join(CALIBRATION_METHODS)}")
    source = Path(fp32_path)
    if not source.is_file():
        raise LgmposeError(f"ONNX model '{source}' does not exist")
    proto = onnx.load(str(source), load_external_data=False)
    graph_input = proto.graph.input[0]
    dims = [d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    if len(dims) != 4 or not all(dims):
        raise LgmposeError(f"ONNX model '{source}' needs a static [B, 3, H, W] input, has {dims}")
    batch, height, width = dims[0], dims[2], dims[3]
    origin = "given crops"
    if crops is None and calib_dir is not None:
        codec = next((json.loads(p.value) for p in proto.metadata_props if p.key == "codec"), None)
        crops = calibration_crops(calib_dir, (height, width), coco_json, max_crops, seed,
                                  udp=needs_udp_warp(codec))
        origin = f"person crops from {Path(calib_dir).name}"
    if crops is None:
        origin = "normal noise"
        rng = np.random.default_rng(seed)
        crops = rng.standard_normal((max(batch, 16), 3, height, width), dtype=np.float32)
    reader = _CropReader(graph_input.name, crops, batch)
    calibrate = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                 "entropy": CalibrationMethod.Entropy}[method]
    with tempfile.TemporaryDirectory(prefix="lgmpose-quant-") as workdir:
        prepared = Path(workdir) / "prepared.onnx"
        # shape inference and constant folding first, as ONNX Runtime recommends
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        excluded = [node.name for node in onnx.load(str(prepared)).graph.node
                    if any(pattern in node.name for pattern in keep_fp32)]
        # the calibrators print progress on stdout, which is `lgmpose bench`'s table
        with atomic_path(output_path) as tmp, contextlib.redirect_stdout(sys.stderr):
            quantize_static(
                str(prepared), str(tmp), reader, quant_format=QuantFormat.QDQ,
                per_channel=per_channel, activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8, calibrate_method=calibrate,
                nodes_to_exclude=excluded,
                extra_options={"CalibTensorRangeSymmetric": False,
                               "CalibPercentile": 99.999},
            )
            _copy_metadata(source, tmp, {"precision": "int8", "calibration": {
                "method": method, "per_channel": per_channel, "crops": int(len(crops)),
                "keep_fp32": list(keep_fp32),
                "source": origin}})
    return Path(output_path)


def export_int8(model: Any, output_path: str | os.PathLike,
                calib_dir: str | os.PathLike | None, batch_size: int = 1,
                keypoint_names: Sequence[str] | None = None, extra_metadata: dict | None = None,
                **options: Any) -> Path:
    """Export ``model``'s int8 graph and quantise it: the one way to make an int8 file.

    The float graph quantised here is ``export_onnx(..., precision="int8")``, not the fp32
    export: where the two differ (2x2 deconvolutions as 1x1 conv + ``DepthToSpace``, LARM
    residuals as separate adds) the fp32 form has no int8 kernel in ONNX Runtime and would stay a
    float island. ``options`` go to :func:`quantize_onnx`.
    """
    from lgmpose.export.exporter import export_onnx

    with tempfile.TemporaryDirectory(prefix="lgmpose-int8-") as workdir:
        source = export_onnx(model, Path(workdir) / "int8_graph.onnx", keypoint_names,
                             batch_size, extra_metadata, precision="int8")
        return quantize_onnx(source, output_path, calib_dir, **options)


def _register_layout_ops() -> None:
    """Quantise ``DepthToSpace``/``SpaceToDepth`` like ``Reshape`` (int8 in, same scale out).

    They only move values, and ONNX Runtime's CPU provider runs them on uint8, but its quantiser
    does not list them, so each one stayed a float island with a DequantizeLinear before and a
    QuantizeLinear after (LGM-Pose has five: the three upsamplings and the two LARM folds, plus
    two unfolds).
    """
    from onnxruntime.quantization.operators.direct_q8 import QDQDirect8BitOp
    from onnxruntime.quantization.registry import QDQRegistry

    for op_type in ("DepthToSpace", "SpaceToDepth"):
        QDQRegistry.setdefault(op_type, QDQDirect8BitOp)


def _copy_metadata(source: Path, target: Path, extra: dict[str, Any]) -> None:
    """Keep the exporter's metadata (keypoint names, normalisation, ...) in the int8 file."""
    import onnx

    props = {p.key: p.value for p in onnx.load(str(source), load_external_data=False)
             .metadata_props}
    props.update({key: json.dumps(value) for key, value in extra.items()})
    model = onnx.load(str(target))
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(target))


def describe_quantised(path: str | os.PathLike) -> dict[str, Any]:
    """How many operators of each type a QDQ model quantised (for reports and tests)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts
