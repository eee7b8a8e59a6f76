"""ONNX export with the metadata the inference code needs, and a torch-free reader for it.

The file has one input ``images`` [B, 3, H, W] (float32, RGB, normalised with ``mean``/``std``
on the 0-255 scale) and one output ``heatmaps`` [B, K, H/stride, W/stride]; all shapes are
static (batch 1 unless asked otherwise). ``metadata_props`` hold JSON strings: the model
description of :meth:`lgmpose.runtimes.model_info.ModelInfo.to_meta` (``model_name``,
``model_config``, ``keypoint_names``, ``input_size`` [H, W], ``mean``, ``std``,
``heatmap_stride``, ``num_keypoints``, ``codec``, ``dataset``, ...), the same keys a checkpoint's
``meta`` holds.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lgmpose.runtimes.model_info import ModelInfo
OPSET = 17


def default_keypoint_names(num_keypoints: int) -> list[str]:
    """The names of the built-in keypoint set (COCO, MPII) with ``num_keypoints`` keypoints, else
    ``kpt_0..``."""
    try:
        from lgmpose.data.metainfo import builtin_metainfo_names, load_metainfo

        for dataset in builtin_metainfo_names():
            names = list(load_metainfo(dataset).keypoint_names)
            if len(names) == num_keypoints:
                return names
    except Exception:  # metainfo not available: generic names are still valid metadata
        pass
    return [f"kpt_{i}" for i in range(num_keypoints)]


def export_onnx(model: Any, output: str | os.PathLike, keypoint_names: Sequence[str] | None = None,
                batch_size: int = 1, extra_metadata: dict | None = None,
                dynamic_batch: bool = False, precision: str = "fp32") -> Path:
    """Export ``model`` (built by ``create_model``) to a static-shape ONNX file, atomically.

    ``dynamic_batch`` leaves the batch axis free (every other axis stays static), so that all
    crops of an image run in one call of the inference pipeline. The graph is that of
    :func:`lgmpose.export.forms.prepare_for_export`: ``precision="int8"`` writes the float graph
    meant for :func:`lgmpose.export.quantize.quantize_onnx`, which differs where int8 kernels
    need it.
    """
    import onnx
    import torch

    from lgmpose.errors import LgmposeError
    from lgmpose.export.forms import prepare_for_export
    from lgmpose.utils.atomic import atomic_path

    config = dict(getattr(model, "model_config", {}) or {})
    if "input_size" not in config or "num_keypoints" not in config:
        raise LgmposeError(f"cannot export to '{output}': the model has no model_config")
    h, w = (int(v) for v in config["input_size"])
    k = int(config["num_keypoints"])
    names = list(keypoint_names) if keypoint_names is not None else default_keypoint_names(k)
    if len(names) != k:
        raise LgmposeError(f"cannot export to '{output}': {len(names)} keypoint names for a "
                           f"model with {k} keypoints")
    graph = prepare_for_export(model, precision, None if dynamic_batch else batch_size, (h, w))
    dummy = torch.zeros(batch_size, 3, h, w)
    with atomic_path(output) as tmp:
        with torch.no_grad():
            torch.onnx.export(graph, (dummy,), str(tmp), input_names=["images"],
                              output_names=["heatmaps"], opset_version=OPSET,
                              dynamic_axes=({"images": {0: "batch"}, "heatmaps": {0: "batch"}}
                                            if dynamic_batch else None),
                              do_constant_folding=True, dynamo=False)
        proto = onnx.load(str(tmp))
        metadata = model_metadata(config, names, extra_metadata)
        del proto.metadata_props[:]
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, json.dumps(value)
        proto.producer_name = "lgmpose"
        onnx.save(proto, str(tmp))
    return Path(output)


def model_metadata(config: dict, keypoint_names: Sequence[str],
                   checkpoint_meta: dict | None = None) -> dict:
    """The metadata an exported file carries: the model description read from the checkpoint's
    ``meta`` (codec settings, dataset, keypoint set, normalisation) at the size and with the
    architecture of the model being exported, written by :meth:`ModelInfo.to_meta`; keys of
    ``checkpoint_meta`` that are no part of the description are kept as they are."""
    size = tuple(int(v) for v in config["input_size"])
    info = ModelInfo.from_meta({k: v for k, v in (checkpoint_meta or {}).items()
                                if k not in ("input_size", "model_config")}, size)
    info.input_size = size
    info.model_config = dict(config)
    info.keypoint_names = list(keypoint_names)
    description = info.to_meta()
    extra = {k: v for k, v in (checkpoint_meta or {}).items() if k not in description}
    return {**description, **extra}


def onnx_metadata(path: str | os.PathLike) -> dict:
    """The metadata of an exported file as Python values (ONNX Runtime only, no torch)."""
    import onnxruntime as ort

    from lgmpose.errors import LgmposeError

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:
        raise LgmposeError(f"cannot read ONNX model '{path}': {error}") from error
    result = {}
    for key, value in session.get_modelmeta().custom_metadata_map.items():
        try:
            result[key] = json.loads(value)
        except json.JSONDecodeError:
            result[key] = value
    return result
