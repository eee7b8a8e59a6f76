"""The dataset sources of a config (``data.train``, ``data.val``): their kind and their dataset.

A source is a mapping; its kind is its own ``dataset`` key, else the config's ``data.dataset``:

* ``coco`` / ``mpii``: ``{ann_file, img_dir, split (mpii)}``;
* ``lsp`` (LSP or LSPET ``joints.mat``, as COCO-17): ``{dataset: lsp, mat_file, img_dir, split}``
  with ``split`` None / ``all``, ``train`` or ``val`` (image numbers divisible by 20).

Any source may also say ``facing: away`` (or ``towards``) to keep only the people whose labelled
shoulders and hips show them turned that way (:func:`lgmpose.data.facing.facing`):
listed a second time with ``facing: away`` and a ``weight``, a source's back views are drawn more
often.

A training source may also name ``teacher_heatmaps: DIR``, the teacher's own heatmaps of its
people (``lgmpose pseudo-label --heatmaps-of``), used as soft targets when ``train.soft_targets``
is set (:mod:`lgmpose.data.soft_targets`, :func:`lgmpose.engine.losses.soft_target_ce_loss`).

``data.train`` may list sources of different kinds (e.g. COCO plus LSPET); they must share the
keypoint set of ``data.metainfo``.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lgmpose.data.facing import AWAY, TOWARDS, facing
from lgmpose.engine.config_types import Config
from lgmpose.errors import LgmposeError

__all__ = ["DATASETS", "FACING", "check_source_files", "dataset_kind", "has_val", "keep_facing",
           "make_dataset", "resolve", "root_dir", "source_file", "source_kind", "sources",
           "val_kind", "with_joint_weights"]

DATASETS = ("coco", "mpii", "lsp")
_FILE_KEY = {"coco": "ann_file", "mpii": "ann_file", "lsp": "mat_file"}
FACING = {"towards": TOWARDS, "away": AWAY}
_LOG = logging.getLogger(__name__)


def root_dir(cfg: Config, data_root: str | None) -> Path:
    return Path(data_root if data_root else cfg.data.root)


def resolve(root: Path, value: str | None) -> Path | None:
    """``value`` joined to the data root; an absolute path, or one written ``./...``, is taken as it
    is (the latter relative to the working directory: e.g. label files kept in the repository
    while the pictures live under the data root)."""
    if value in (None, ""):
        return None
    if str(value).startswith("./"):
        return Path(value)
    path = Path(value)
    return path if path.is_absolute() else root / path


def _check_kind(kind: Any, where: str) -> str:
    kind = str(kind).lower()
    if kind not in DATASETS:
        raise LgmposeError(f"config {where} {kind!r}: choose one of {', '.join(DATASETS)}")
    return kind


def dataset_kind(cfg: Config) -> str:
    """The config's default kind, ``data.dataset``."""
    return _check_kind(cfg.data.dataset, "data.dataset")


def source_kind(cfg: Config, source: Mapping[str, Any]) -> str:
    if source.get("dataset"):
        return _check_kind(source["dataset"], "data source dataset")
    return dataset_kind(cfg)


def source_file(source: Mapping[str, Any], kind: str) -> str:
    """The annotation file a source names (``ann_file``, or ``mat_file`` for lsp)."""
    return str(source[_FILE_KEY[kind]])


def sources(cfg: Config, what: str) -> list[dict[str, Any]]:
    """The sources of ``data.<what>`` (``train`` or ``val``: a mapping or a list of them), each
    checked for its file key."""
    spec = getattr(cfg.data, what)
    items = spec if isinstance(spec, list) else [spec]
    if not items or not all(isinstance(s, Mapping) for s in items):
        raise LgmposeError(f"config data.{what}: expected {{ann_file, img_dir}} (or, for lsp, "
                           f"{{dataset: lsp, mat_file, img_dir}}) or a list of them, got {spec!r}")
    for item in items:
        key = _FILE_KEY[source_kind(cfg, item)]
        if not item.get(key):
            raise LgmposeError(f"config data.{what}: a {source_kind(cfg, item)} source needs "
                               f"{key}, got {dict(item)!r}")
        if item.get("facing") is not None and item["facing"] not in FACING:
            raise LgmposeError(f"config data.{what}: facing {item['facing']!r} in {item[key]!r}: "
                               f"choose one of {', '.join(FACING)}")
    return [dict(s) for s in items]


def has_val(cfg: Config) -> bool:
    """Whether the config names a validation set (``data.val`` null, false or empty: none)."""
    return cfg.data.val not in (None, False, "")


def val_kind(cfg: Config) -> str:
    """The kind of the validation source (its ``dataset`` key, else ``data.dataset``); not
    otherwise checked here, so that a run without validation never trips on ``data.val``."""
    spec = cfg.data.val
    first = spec[0] if isinstance(spec, list) and spec else spec
    return source_kind(cfg, first if isinstance(first, Mapping) else {})


def check_source_files(cfg: Config, source: Mapping[str, Any], root: Path,
                       what: str = "train") -> tuple[Path, Path]:
    """The source's annotation file and image folder, or an ``LgmposeError`` naming the missing
    one (``what``: the config section, for the message)."""
    kind = source_kind(cfg, source)
    file = resolve(root, source[_FILE_KEY[kind]])
    img_dir = resolve(root, source.get("img_dir", "")) or root
    hint = f"(data.{what}; data root '{root}': set --data-root or data.root)"
    if file is None or not file.is_file():
        name = "LSP joints file" if kind == "lsp" else "annotation file"
        raise LgmposeError(f"{name} '{file}' does not exist {hint}")
    if not img_dir.is_dir():
        raise LgmposeError(f"image folder '{img_dir}' does not exist {hint}")
    return file, img_dir


def with_joint_weights(metainfo, spec: str | Sequence[float]):
    """``data.joint_weights``: the metainfo itself for ``"metainfo"``, else a copy whose
    ``joint_weights`` are the given list (one non-negative number per keypoint)."""
    if spec == "metainfo":
        return metainfo
    k = len(metainfo.keypoint_names)
    try:
        weights = np.asarray(spec, dtype=np.float32)
    except (TypeError, ValueError):
        weights = None
    if weights is None or weights.shape != (k,) or not np.all(np.isfinite(weights)) \
            or np.any(weights < 0):
        raise LgmposeError(f"data.joint_weights must be 'metainfo' or a list of {k} non-negative "
                           f"numbers (one per keypoint of {metainfo.name!r}), got {spec!r}")
    return dataclasses.replace(metainfo, joint_weights=weights)


def make_dataset(cfg: Config, source: Mapping[str, Any], root: Path, codec, metainfo,
                 train: bool, boxes: str = "gt"):
    data = cfg.data
    kind = source_kind(cfg, source)
    file = resolve(root, source[_FILE_KEY[kind]])
    img_dir = resolve(root, source.get("img_dir", "")) or root
    if file is None or not file.is_file():
        what = "LSP joints file" if kind == "lsp" else "annotation file"
        raise LgmposeError(f"{what} '{file}' does not exist (data root '{root}'; set "
                           "--data-root or data.root)")
    weighted = train and data.joint_weights is not None
    if weighted:
        metainfo = with_joint_weights(metainfo, data.joint_weights)
    common = dict(metainfo=metainfo, input_size=data.input_size, codec=codec,
                  train=train, aug=dict(data.aug or {}) if train else None,
                  seed=cfg.train.seed, use_joint_weights=weighted)
    if kind == "lsp":
        from lgmpose.data.lsp import LspDataset

        dataset = LspDataset(file, img_dir, split=source.get("split"), **common)
    elif kind == "mpii":
        from lgmpose.data.mpii import MpiiDataset

        dataset = MpiiDataset(file, img_dir, split=source.get("split"), **common)
    else:
        from lgmpose.data.coco import CocoKeypointDataset

        dataset = CocoKeypointDataset(file, img_dir, boxes=boxes,
                                      det_thr=data.det_thr, **common)
    if source.get("facing") is not None:
        keep_facing(dataset, source["facing"], file)
    if train and cfg.train.soft_targets:
        dataset.pipeline.soft_targets = True
        if source.get("teacher_heatmaps"):
            from lgmpose.data.soft_targets import TeacherHeatmaps

            dataset.teacher_heatmaps = TeacherHeatmaps(resolve(root, source["teacher_heatmaps"]))
            held = sum(int(r.get("ann_id", -1)) in dataset.teacher_heatmaps.rows
                       for r in dataset.records)
            _LOG.info("'%s': teacher heatmaps for %d of %d people", file, held,
                      len(dataset.records))
    return dataset


def keep_facing(dataset, which: str, file: Path | str) -> None:
    """Keep the records of ``dataset`` whose labelled shoulders and hips face ``which`` way
    (``towards`` / ``away`` the camera); people who cannot be told (side views, a shoulder or
    hip unlabelled) are dropped. Needs COCO-17 keypoints; logs how many it kept."""
    if which not in FACING:
        raise LgmposeError(f"'{file}': facing {which!r}: choose one of {', '.join(FACING)}")
    if len(dataset.metainfo.keypoint_names) != 17:
        raise LgmposeError(f"'{file}': facing needs the 17 COCO keypoints, this dataset has "
                           f"{len(dataset.metainfo.keypoint_names)}")
    records = dataset.records
    if records:
        points = np.stack([np.asarray(r["keypoints"], np.float64) for r in records])
        labelled = np.stack([np.asarray(r["keypoints_visible"]) > 0 for r in records])
        turned = facing(points, labelled)
        dataset.records = [r for r, t in zip(records, turned) if t == FACING[which]]
    _LOG.info("'%s': kept %d of %d people facing %s", file, len(dataset.records), len(records),
              which)
    if not dataset.records:
        raise LgmposeError(f"'{file}': no person faces {which}; drop the source or its facing key")
