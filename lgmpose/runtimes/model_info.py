"""What the pipeline must know about a pose model besides its weights: input size, codec,
normalisation and keypoint set. Read from ONNX metadata or a checkpoint's ``meta``; anything absent
falls back to the project's COCO 256x192 defaults. Written the same way into both: checkpoints
(training) and ONNX files (export) take their description keys from :meth:`ModelInfo.to_meta`."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lgmpose.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from lgmpose.defaults import CODEC, CODEC_SIGMA, HEATMAP_STRIDE, INPUT_SIZE, derived_heatmap_size

__all__ = ["HEATMAP_STRIDE", "ModelInfo"]



@dataclass
class ModelInfo:
    input_size: tuple[int, int] = INPUT_SIZE
    codec: dict = field(default_factory=lambda: {"name": CODEC, "sigma": CODEC_SIGMA})
    dataset: str = "coco"
    keypoint_names: list[str] | None = None
    metainfo: dict | None = None     # a full keypoint-set description (custom datasets)
    mean: np.ndarray = field(default_factory=lambda: IMAGENET_MEAN.copy())
    std: np.ndarray = field(default_factory=lambda: IMAGENET_STD.copy())
    heatmap_stride: int = HEATMAP_STRIDE
    flip_indices: list[int] | None = None
    model_config: dict | None = None  # the architecture (what ``create_model`` takes), if known
    model_name: str | None = None     # the architecture's registered name, if known

    def __post_init__(self) -> None:
        if self.model_name is None and self.model_config is not None:
            self.model_name = self.model_config.get("name")

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """Derived from the input size and the network's output stride, never stored apart."""
        return derived_heatmap_size(self.input_size, self.heatmap_stride)

    def codec_config(self) -> dict:
        """The complete codec spec (``name``, settings, ``input_size``, ``heatmap_size``) that
        decodes this model's heatmaps: what ``lgmpose.codecs.build_codec(**spec)`` takes. Every
        reader (eval, predict, bench) builds its codec from this, so that one file is decoded
        one way."""
        settings = {k: v for k, v in self.codec.items() if k not in ("input_size", "heatmap_size")}
        return {"name": CODEC, **settings, "input_size": list(self.input_size),
                "heatmap_size": list(self.heatmap_size)}

    def to_meta(self) -> dict:
        """The description as the plain-typed keys checkpoints (``meta``) and ONNX files
        (``metadata_props``, JSON-encoded) carry: ``dataset``, ``codec`` (the complete spec of
        :meth:`codec_config`), ``input_size``, ``heatmap_stride``, ``mean``, ``std``, and when
        known ``keypoint_names``, ``flip_indices``, ``metainfo`` and the architecture
        (``model_name``, ``model_config``, ``num_keypoints``). :meth:`from_meta` reads it back."""
        meta: dict = {
            "dataset": self.dataset,
            "codec": self.codec_config(),
            "input_size": [int(v) for v in self.input_size],
            "heatmap_stride": int(self.heatmap_stride),
            # float32 values written at the precision they were given in (123.675, not 123.67500305)
            "mean": [round(float(v), 4) for v in np.asarray(self.mean).reshape(3)],
            "std": [round(float(v), 4) for v in np.asarray(self.std).reshape(3)],
        }
        if self.keypoint_names is not None:
            meta["keypoint_names"] = [str(n) for n in self.keypoint_names]
        if self.flip_indices is not None:
            meta["flip_indices"] = [int(i) for i in self.flip_indices]
        if self.metainfo is not None:
            meta["metainfo"] = self.metainfo
        if self.model_config is not None:
            config = dict(self.model_config)
            meta["model_config"] = config
            if config.get("num_keypoints") is not None:
                meta["num_keypoints"] = int(config["num_keypoints"])
        name = self.model_name or (self.model_config or {}).get("name")
        if name is not None:
            meta["model_name"] = str(name)
        return meta

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
        flip = meta.get("flip_indices")
        if isinstance(flip, list):
            info.flip_indices = [int(i) for i in flip]
        if isinstance(meta.get("model_config"), dict):
            info.model_config = dict(meta["model_config"])
        name = meta.get("model_name") or (info.model_config or {}).get("name")
        if isinstance(name, str) and name:
            info.model_name = name
        names = meta.get("keypoint_names")
        if isinstance(names, list):
            info.keypoint_names = [str(n) for n in names]
        for key in ("mean", "std"):
            if meta.get(key) is not None:
                setattr(info, key, np.asarray(meta[key], np.float32).reshape(3))
        return info
