"""Export a pose model to ONNX with a free batch axis, so that all crops of an image run in one
call (``lgmpose export`` writes a fixed batch unless given ``--dynamic-batch``). Metadata as
:mod:`lgmpose.export.exporter` writes it: the checkpoint's model description (codec, dataset,
keypoint set, normalisation) at the exported model's size.
Needs torch and onnx (export time only).
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["export_batched", "export_checkpoint", "checkpoint_metadata"]

# Keys of a checkpoint's ``meta`` that describe the model (``ModelInfo.from_meta`` reads them);
# the exporter writes them back through ``ModelInfo.to_meta``.
_META_KEYS = ("codec", "dataset", "metainfo", "flip_indices", "mean", "std", "heatmap_stride")


def checkpoint_metadata(meta: dict | None) -> dict:
    """The part of a checkpoint's ``meta`` that travels into an exported file."""
    meta = meta or {}
    return {key: meta[key] for key in _META_KEYS if meta.get(key) is not None}


def export_batched(model, output: str | os.PathLike, meta: dict | None = None) -> Path:
    from lgmpose.export.exporter import export_onnx

    meta = dict(meta or {})
    return export_onnx(model, output, keypoint_names=meta.get("keypoint_names"),
                       extra_metadata=checkpoint_metadata(meta), dynamic_batch=True)


def export_checkpoint(checkpoint: str | os.PathLike, output: str | os.PathLike) -> Path:
    """The ONNX file bundled with the package is made from the shipped checkpoint this way."""
    from lgmpose.models.checkpoint import load_model

    model = load_model(checkpoint)
    return export_batched(model, output, dict(model.meta or {}))
