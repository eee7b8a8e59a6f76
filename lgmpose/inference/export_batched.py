"""Export a pose model to ONNX with a free batch axis, so that all crops of an image run in one
call (``lgmpose export`` writes a fixed batch). Metadata as :mod:`lgmpose.tools.export` writes it,
plus the codec and dataset the checkpoint was trained with. Needs torch and onnx (export time only).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["export_batched", "export_checkpoint"]


def export_batched(model, output: str | os.PathLike, meta: dict | None = None) -> Path:
    import onnx
    import torch

    from lgmpose.tools.export import HEATMAP_STRIDE, MEAN, OPSET, STD, default_keypoint_names
    from lgmpose.utils.atomic import atomic_path

    config = dict(model.model_config)
    h, w = (int(v) for v in config["input_size"])
    k = int(config["num_keypoints"])
    meta = dict(meta or {})
    names = list(meta.get("keypoint_names") or default_keypoint_names(k))
    model = model.eval()
    with atomic_path(output) as tmp:
        with torch.no_grad():
            torch.onnx.export(model, (torch.zeros(1, 3, h, w),), str(tmp), input_names=["images"],
                              output_names=["heatmaps"], opset_version=OPSET,
                              dynamic_axes={"images": {0: "batch"}, "heatmaps": {0: "batch"}},
                              do_constant_folding=True, dynamo=False)
        proto = onnx.load(str(tmp))
        metadata = {"model_name": config.get("name"), "model_config": config,
                    "keypoint_names": names, "num_keypoints": k, "input_size": [h, w],
                    "mean": list(MEAN), "std": list(STD), "heatmap_stride": HEATMAP_STRIDE}
        for key in ("codec", "dataset", "metainfo"):
            if meta.get(key) is not None:
                metadata[key] = meta[key]
        del proto.metadata_props[:]
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, json.dumps(value)
        proto.producer_name = "lgmpose"
        onnx.save(proto, str(tmp))
    return Path(output)


def export_checkpoint(checkpoint: str | os.PathLike, output: str | os.PathLike) -> Path:
    """The ONNX file bundled with the package is made from the shipped checkpoint this way."""
    from lgmpose.engine.checkpoint import load_checkpoint, load_model

    meta = dict(load_checkpoint(checkpoint).get("meta") or {})
    return export_batched(load_model(checkpoint), output, meta)
