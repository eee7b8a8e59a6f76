"""What the pipeline must know about a pose model besides its weights: input size, codec,
normalisation and keypoint set. Read from ONNX metadata or a checkpoint's ``meta``; anything absent
falls back to the project's COCO 256x192 defaults."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lgmpose.data.transforms import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["HEATMAP_STRIDE", "ModelInfo"]

HEATMAP_STRIDE = 4   # every pose network here outputs heatmaps at a quarter of its input


@dataclass
class ModelInfo:
    input_size: tuple[int, int] = (256, 192)
    codec: dict = field(default_factory=lambda: {"name": "msra", "sigma": 2.0})
    dataset: str = "coco"
    keypoint_names: list[str] | None = None
    metainfo: dict | None = None     # a full keypoint-set description (custom datasets)
    mean: np.ndarray = field(default_factory=lambda: IMAGENET_MEAN.copy())
    std: np.ndarray = field(default_factory=lambda: IMAGENET_STD.copy())
    heatmap_stride: int = HEATMAP_STRIDE

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """Derived from the input size and the network's output stride, never stored apart."""
        return (self.input_size[0] // self.heatmap_stride,
                self.input_size[1] // self.heatmap_stride)

    def codec_config(self) -> dict:
        """The complete codec spec (``name``, settings, ``input_size``, ``heatmap_size``) that
        decodes this model's heatmaps: what ``lgmpose.codecs.build_codec(**spec)`` takes. Every
        reader (eval, predict, bench) builds its codec from this, so that one file is decoded
        one way."""
        settings = {k: v for k, v in self.codec.items() if k not in ("input_size", "heatmap_size")}
        return {"name": "msra", **settings, "input_size": list(self.input_size),
                "heatmap_size": list(self.heatmap_size)}

    @classmethod
    def from_meta(cls, meta: dict | None, input_size: tuple[int, int] | None = None) -> "ModelInfo":
        """Accepts ONNX metadata (values already JSON-decoded) or a checkpoint ``meta`` dict."""
        meta = dict(meta or {})
        info = cls()
        size = meta.get("input_size") or input_size
        if size is not None:
            info.input_size = (int(size[0]), int(size[1]))
        codec = meta.get("codec")
        if isinstance(codec, str):
            codec = {"name": codec}
        if isinstance(codec, dict):
            # Sizes follow the model's input: a checkpoint exported at another input size keeps
            # the codec settings of its training but not its sizes.
            info.codec = {k: v for k, v in codec.items() if k not in ("input_size", "heatmap_size")}
        stride = meta.get("heatmap_stride")
        if stride:
            info.heatmap_stride = int(stride)
            info.codec["heatmap_size"] = list(info.heatmap_size)
        dataset = meta.get("dataset") or meta.get("metainfo")
        if isinstance(dataset, dict):
            dataset = dataset.get("name")
        if isinstance(dataset, str) and dataset:
            info.dataset = dataset
        if isinstance(meta.get("metainfo"), dict):
            info.metainfo = meta["metainfo"]
        names = meta.get("keypoint_names")
        if isinstance(names, list):
            info.keypoint_names = [str(n) for n in names]
        for key in ("mean", "std"):
            if meta.get(key) is not None:
                setattr(info, key, np.asarray(meta[key], np.float32).reshape(3))
        return info
