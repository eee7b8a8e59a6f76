"""From a config to the objects of a run: metainfo, codec, model, datasets, metrics.

The config's ``data`` section (see configs/coco_256x192.yaml)::

    data:
      dataset: coco | mpii | lsp    # the default dataset class of a source (coco also covers
                                    # custom COCO-format sets)
      metainfo: coco                # a built-in name or a metainfo YAML path
      root: data/coco               # relative paths below are joined to it
      train: {ann_file: ..., img_dir: ...}    # or a list of such sources (concatenated)
      #   a source may name its own kind: {dataset: lsp, mat_file: lspet/joints.mat,
      #   img_dir: lspet/images, split: train}   (see lgmpose.engine.config_datasets)
      val: {ann_file: ..., img_dir: ..., gt_file: ...}   # gt_file: MPII .mat for PCKh
      #   or an lsp source (metric: PCK@0.2 of the torso size, key ``PCK``)
      boxes: gt                     # or a detection json for COCO val
      det_thr: 0.0                  # detection boxes scoring below this are dropped
      input_size: [H, W]
      # heatmap_size: derived (input_size // HEATMAP_STRIDE); a stated one must equal it
      aug: {...}                    # TopDownPipeline options
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lgmpose.defaults import HEATMAP_STRIDE, derived_heatmap_size
from lgmpose.engine.config_datasets import make_dataset as _make
from lgmpose.engine.config_datasets import resolve as _path
from lgmpose.engine.config_datasets import root_dir as _root
from lgmpose.engine.config_datasets import (check_source_files, has_val, source_file, source_kind,
                                            sources, val_kind)
from lgmpose.engine.config_types import CodecConfig, Config, replace
from lgmpose.errors import LgmposeError

__all__ = [
    "ConcatSamples", "boxes_label", "build_codec", "build_metainfo", "build_model",
    "build_train_dataset", "build_val_dataset", "check_inputs", "checkpoint_meta",
    "follow_checkpoint", "main_metric", "sample_getter", "validation_metrics",
]


def build_metainfo(cfg: Config):
    from lgmpose.data.metainfo import load_metainfo

    return load_metainfo(cfg.data.metainfo)


def build_codec(cfg: Config):
    from lgmpose.codecs import build_codec as _build

    spec = dict(cfg.codec.options)
    input_size = [int(v) for v in cfg.data.input_size]
    heatmap_size = [int(v) for v in cfg.data.heatmap_size]
    # The network's heatmaps are its input / HEATMAP_STRIDE: any other size fails at the first
    # loss with a bare shape error, so say which sizes disagree before training starts.
    for key, given in (("input_size", input_size), ("heatmap_size", heatmap_size)):
        stated = spec.pop(key, None)
        if stated is not None and [int(v) for v in stated] != given:
            raise LgmposeError(f"config: codec.{key} {list(stated)} differs from data.{key} "
                               f"{given}; drop codec.{key} (the codec follows data)")
    expected = list(derived_heatmap_size(input_size))
    if heatmap_size != expected or any(v % HEATMAP_STRIDE for v in input_size):
        raise LgmposeError(f"config: data.input_size {input_size} gives {expected[0]}x"
                           f"{expected[1]} heatmaps (stride {HEATMAP_STRIDE}), but "
                           f"data.heatmap_size is {heatmap_size}; drop data.heatmap_size (it "
                           f"follows the input size, whose sides must be multiples of "
                           f"{HEATMAP_STRIDE})")
    return _build(cfg.codec.name, input_size=tuple(input_size), heatmap_size=tuple(heatmap_size),
                  sigma=cfg.codec.sigma, **spec)


def follow_checkpoint(cfg: Config, meta: Mapping[str, Any] | None,
                      model_config: Mapping[str, Any] | None = None) -> Config:
    """A copy of ``cfg`` whose input size, heatmap size, codec and keypoint set are the
    checkpoint's own (read through :class:`lgmpose.runtimes.model_info.ModelInfo`, as
    ``PoseEstimator`` reads them),
    so that evaluating a checkpoint decodes its heatmaps exactly as predicting with it does."""
    import copy

    from lgmpose.runtimes.model_info import ModelInfo

    meta = dict(meta or {})
    if not meta.get("codec"):   # a checkpoint that does not say: the config's codec settings
        meta["codec"] = cfg.codec.to_dict()
    size = (model_config or {}).get("input_size") or cfg.data.input_size
    spec = ModelInfo.from_meta(meta, tuple(size)).codec_config()
    data = replace(cfg.data, input_size=tuple(int(v) for v in spec.pop("input_size")),
                   heatmap_size=tuple(int(v) for v in spec.pop("heatmap_size")))
    # The keypoint set (names, flip pairs, OKS sigmas) the checkpoint was trained with, when it
    # carries one: flip testing and scoring then use the model's own, as predicting does.
    if isinstance(meta.get("metainfo"), dict):
        data = replace(data, metainfo=copy.deepcopy(meta["metainfo"]))
    return replace(cfg, data=data, codec=CodecConfig.from_dict(spec))


def build_model(cfg: Config, metainfo):
    from lgmpose.models import create_model

    spec = dict(cfg.model.options)
    for key in ("num_keypoints", "input_size"):
        spec.pop(key, None)  # always follow the data section
    return create_model(cfg.model.name, num_keypoints=metainfo.num_keypoints,
                        input_size=tuple(cfg.data.input_size), **spec)


class ConcatSamples:
    """Several top-down datasets seen as one (``get_sample(index, rng)`` and ``len``)."""

    def __init__(self, parts: list[Any]) -> None:
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(p) for p in parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def get_sample(self, index: int, rng: np.random.Generator | None = None) -> dict[str, Any]:
        part = int(np.searchsorted(self.offsets, index, side="right") - 1)
        sample = self.parts[part].get_sample(index - int(self.offsets[part]), rng)
        sample["index"] = int(index)
        return sample

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.get_sample(index, None)


def build_train_dataset(cfg: Config, data_root: str | None, codec, metainfo):
    root = _root(cfg, data_root)
    parts = [_make(cfg, s, root, codec, metainfo, train=True)
             for s in sources(cfg, "train")]
    return parts[0] if len(parts) == 1 else ConcatSamples(parts)


def sample_getter(dataset) -> Callable[[int, np.random.Generator], dict[str, Any]]:
    return dataset.get_sample


def resolve_boxes(cfg: Config, data_root: str | None, boxes: str | None) -> str:
    """``gt`` or an existing detection file (a path as given, else relative to the data root)."""
    boxes = boxes or cfg.data.boxes or "gt"
    if boxes == "gt":
        return "gt"
    if Path(boxes).is_file():
        return str(boxes)
    joined = _path(_root(cfg, data_root), boxes)
    if joined is not None and joined.is_file():
        return str(joined)
    raise LgmposeError(f"detection-box file '{boxes}' does not exist (nor under the data root)")


def _val_source(cfg: Config, data_root: str | None,
                boxes: str | None) -> tuple[dict[str, Any], str]:
    """The validation source and its resolved boxes (``gt`` or a detection file)."""
    val = sources(cfg, "val")
    if len(val) != 1:
        raise LgmposeError("config data.val: exactly one validation set is supported")
    resolved = resolve_boxes(cfg, data_root, boxes)
    kind = source_kind(cfg, val[0])
    if resolved != "gt" and kind != "coco":
        raise LgmposeError(f"{'MPII' if kind == 'mpii' else 'LSP'} is evaluated on its "
                           "ground-truth person boxes; --boxes applies to COCO only")
    return val[0], resolved


def check_inputs(cfg: Config, data_root: str | None, validation: bool = True) -> None:
    """Every file a run will read (annotation files, image folders, the validation's detection
    boxes and MPII ground truth) exists, or an ``LgmposeError`` naming it: checked before the
    first training step rather than at the first validation."""
    root = _root(cfg, data_root)
    for source in sources(cfg, "train"):
        check_source_files(cfg, source, root, "train")
    if not validation or not has_val(cfg):
        return
    source, _ = _val_source(cfg, data_root, None)
    check_source_files(cfg, source, root, "val")
    if source_kind(cfg, source) == "mpii":
        gt_file = _path(root, source.get("gt_file"))
        if gt_file is None or not gt_file.is_file():
            raise LgmposeError(f"MPII ground truth '{gt_file}' does not exist (data.val.gt_file)")


def build_val_dataset(cfg: Config, data_root: str | None, codec, metainfo,
                      boxes: str | None = None):
    source, resolved = _val_source(cfg, data_root, boxes)
    return _make(cfg, source, _root(cfg, data_root), codec, metainfo, train=False,
                 boxes=resolved)


def main_metric(cfg: Config) -> str:
    return {"mpii": "PCKh", "lsp": "PCK"}.get(val_kind(cfg), "AP")


def boxes_label(cfg: Config, boxes: str | None = None) -> str:
    """What every log line and result says about the person boxes."""
    if val_kind(cfg) != "coco":
        return "GT boxes"
    boxes = boxes or cfg.data.boxes or "gt"
    return "GT boxes" if boxes == "gt" else f"detected boxes {Path(boxes).name}"


def validation_metrics(cfg: Config, dataset, results: list[dict[str, Any]],
                       metainfo, data_root: str | None, boxes: str | None) -> dict[str, Any]:
    """The validation set's metrics (COCO AP, MPII PCKh or LSP PCK) of per-crop predictions
    (from :func:`lgmpose.engine.evaluate.predict`)."""
    kind = val_kind(cfg)
    if kind == "lsp":
        from lgmpose.data.lsp import lsp_pck

        if not results:
            raise LgmposeError("the validation set has no person to evaluate")
        records = [dataset.records[r["index"]] for r in results]
        return lsp_pck(np.stack([r["keypoints"] for r in results]), records)
    if kind == "mpii":
        from lgmpose.evaluation.mpii import mpii_pckh

        source = sources(cfg, "val")[0]
        gt_file = _path(_root(cfg, data_root), source.get("gt_file"))
        if gt_file is None or not gt_file.is_file():
            raise LgmposeError(f"MPII ground truth '{gt_file}' does not exist (data.val.gt_file)")
        preds = np.stack([r["keypoints"] for r in results])
        return {k: float(v) for k, v in mpii_pckh(preds, gt_file).items()}
    from lgmpose.evaluation.coco import coco_keypoint_ap, make_coco_results

    if not results:
        raise LgmposeError("the validation set has no person to evaluate")
    test = cfg.test
    coco_results = make_coco_results(
        [r["image_id"] for r in results], np.stack([r["keypoints"] for r in results]),
        np.stack([r["scores"] for r in results]),
        [r["bbox_score"] * r.get("quality", 1.0) for r in results],
        [r["area"] for r in results], metainfo.sigmas,
        nms_threshold=test.oks_nms_thr, rescore_thr=test.rescore_thr,
        category_id=int(getattr(dataset, "category_id", 1)))
    return coco_keypoint_ap(coco_results, dataset.ann_file, sigmas=metainfo.sigmas)


def checkpoint_meta(cfg: Config, metainfo, codec) -> dict[str, Any]:
    """What an inference user needs besides the weights (plain types only): the model description
    of :class:`lgmpose.runtimes.model_info.ModelInfo`, as ONNX exports carry it, plus where the
    training data came from."""
    from lgmpose.runtimes.model_info import ModelInfo

    train = sources(cfg, "train")
    info = ModelInfo(input_size=tuple(int(v) for v in cfg.data.input_size),
                     codec=codec.config(), dataset=metainfo.name,
                     keypoint_names=list(metainfo.keypoint_names),
                     flip_indices=list(metainfo.flip_indices), metainfo=metainfo.to_dict())
    return {
        **info.to_meta(),
        "train_sources": [source_file(s, source_kind(cfg, s)) for s in train],
        "config_file": cfg.meta.get("config_file"),
    }
