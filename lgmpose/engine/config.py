"""Experiment configs: YAML files with simple ``_base_`` inheritance and ``--set key=value`` overrides.

A config file is a nested mapping. Every file is merged on top of :data:`DEFAULTS`, so a config
only states what differs from the standard top-down recipe. ``_base_`` (a path or a list of paths,
relative to the file) names configs to merge first; a bare file name with no such file beside the
config names one of the package's configs (:data:`CONFIG_DIR`), so a config kept outside the
package (the repository's ``experiments/configs``) can build on ``coco_256x192.yaml``. A mapping in
a child is merged key by key into the base, anything else replaces the base value (a mapping
holding ``_replace_: true`` replaces the whole base mapping instead).

:func:`load_config` parses the merged dict, once, into a typed
:class:`~lgmpose.engine.config_types.Config` (the engine reads ``cfg.train.lr``);
:func:`save_config` writes it back as the YAML it came from.

``lgmpose train NAME`` takes a path to a YAML file or the name of a config shipped in the package
(:func:`resolve_config_path`).

No torch here: the command modules import this at start-up.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from lgmpose.defaults import CODEC, CODEC_SIGMA, INPUT_SIZE, OKS_NMS_THR, RESCORE_THR
from lgmpose.engine.config_types import Config, parse_config, replace
from lgmpose.errors import LgmposeError
from lgmpose.utils.atomic import atomic_write_text

__all__ = [
    "DEFAULTS",
    "CONFIG_DIR",
    "apply_overrides",
    "dump_config",
    "load_config",
    "merge",
    "parse_value",
    "resolve_config_path",
    "save_config",
]

# The named configs ship inside the package (the repository's top-level `configs` links here), so
# `lgmpose train coco_256x192` works from a pip install as well as from a checkout. The configs of
# the bundled model's training history live outside the package, in `experiments/configs`, and are
# given by path.
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"

# The standard recipe of the lightweight top-down methods LGM-Pose is compared with, written only
# here: configs/coco_256x192.yaml and every other config state only what differs. Sources:
#  [LH]  Lite-HRNet's official config, HRNet/Lite-HRNet
#        configs/top_down/lite_hrnet/coco/litehrnet_18_coco_256x192.py
#  [SB]  SimpleBaseline (Xiao et al., ECCV 2018) / HRNet (Sun et al., CVPR 2019): MSE on Gaussian
#        heatmaps with target weights, flip test with the one-pixel shift.
# Sections whose keys are free-form: `model` (passed to `create_model`; num_keypoints and
# input_size come from data) and the dataset source entries.
DEFAULTS: dict[str, Any] = {
    "model": {"name": "lgm_pose"},
    "data": {
        "dataset": "coco",
        "metainfo": "coco",
        "root": "data/coco",        # standard layout; `--data-root DIR` replaces it
        "train": {"ann_file": "annotations/person_keypoints_train2017.json", "img_dir": "train2017"},
        "val": {"ann_file": "annotations/person_keypoints_val2017.json", "img_dir": "val2017"},
        # `gt` or a detection-result json (COCO format, category person), relative to `root`,
        # e.g. person_detection_results/COCO_val2017_detections_AP_H_56_person.json [LH, SB]
        "boxes": "gt",
        "det_thr": 0.0,             # detection boxes below this are dropped; 0: keep all [LH]
        # Per-keypoint loss weights in training: null (all 1), "metainfo" (the metainfo's
        # joint_weights) or a list with one number per keypoint.
        "joint_weights": None,
        "input_size": list(INPUT_SIZE),  # (H, W) [LH] image_size [192, 256] (W, H)
        # Derived by load_config as input_size // HEATMAP_STRIDE (lgmpose.defaults); a config
        # may state it (older ones do) only with that value.
        "heatmap_size": None,
        "workers": 4,               # [LH] workers_per_gpu=4
        "aug": {
            "flip_prob": 0.5,       # [LH] TopDownRandomFlip
            "half_body_prob": 0.3,  # [LH] TopDownHalfBodyTransform prob_half_body
            "half_body_min_joints": 8,  # [LH] num_joints_half_body
            "scale_factor": 0.25,   # [LH] TopDownGetRandomScaleRotation
            "rot_factor": 30.0,     # [LH]
            "rot_prob": 0.6,        # rotation drawn for 60% of samples (HRNet/mmpose 0.x)
        },
    },
    "codec": {"name": CODEC, "sigma": CODEC_SIGMA},  # MSRA Gaussians [LH, SB], sigma=2 [LH]
    "train": {
        "epochs": 210,              # [LH] total_epochs
        "batch_size": 64,           # per process (GPU) [LH] samples_per_gpu=64
        "optimizer": "adam",        # [LH]
        "lr": 2.0e-3,               # [LH] (mmpose 1.x: 5e-4 scaled for 8x64)
        "weight_decay": 0.0,        # [LH] none
        "warmup_iters": 500,        # [LH] linear warm-up, 500 iterations
        "warmup_ratio": 1.0e-3,     # [LH] from 0.001 x lr
        "lr_steps": [170, 200],     # [LH] step=[170, 200]
        "lr_gamma": 0.1,
        "lr_policy": "step",        # step (lr_steps, lr_gamma) | cosine (to min_lr_ratio x lr)
        "min_lr_ratio": 0.0,
        "loss": "mse",              # mse | fg_mse | softmax_ce (see lgmpose.engine.losses)
        "val_interval": 10,         # [LH] evaluation interval=10
        "seed": 0,
        "amp": True,                # fp16 autocast on CUDA only
        "cpu_bf16": False,          # bf16 autocast on the CPU: pays only with AVX512-BF16 or AMX
        "channels_last": True,      # on CUDA only
        "grad_clip": 0.0,
        "checkpoint_interval": 0,   # > 0: also write last.pt every this many iterations
        "max_iters_per_epoch": 0,
        "tensorboard": True,
        "init_from": None,          # a checkpoint (or "bundled") whose weights start the run
        "init_grow": False,         # init_from is a smaller lgm_pose: grow it (models/grow.py)
        "init_grow_scale": 0.0,     # > 0: new MV2 blocks start slightly on (not exactly the same)
        "ema_decay": 0.0,           # > 0: validate and save a moving average of the weights
        # null, or {mix, unlabelled_weight}: teacher heatmaps of the sources that name
        # teacher_heatmaps as soft targets (softmax_ce only; see engine/losses.py)
        "soft_targets": None,
    },
    "test": {
        "flip": True,               # [LH] flip_test=True
        "shift_heatmap": True,      # [LH] shift_heatmap=True
        "batch_size": 64,
        "oks_nms_thr": OKS_NMS_THR,  # [LH] oks_thr=0.9
        "rescore_thr": RESCORE_THR,  # [LH] vis_thr=0.2 (keypoints counted in the rescoring)
        # true: the instance score also counts the pose's expected OKS by its heatmaps
        # (lgmpose.codecs.quality); [LH] the rescoring alone
        "pose_quality": False,
    },
}

# Keys renamed so that each threshold has one name in configs and code; the old spellings are
# still read (configs saved by earlier runs use them).
RENAMED_KEYS = {"data.det_score_thr": "data.det_thr", "test.vis_thr": "test.rescore_thr"}

# Sections where `--set` may create keys that the config does not already have: model options
# (passed to `create_model`) and dataset sources (e.g. `data.train.split`).
_OPEN_SECTIONS = ("model", "data.train", "data.val")


def _is_open(parts: list[str]) -> bool:
    dotted = ".".join(parts[:-1])
    return any(dotted == s or dotted.startswith(s + ".") for s in _OPEN_SECTIONS)


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``2e-3`` as a float (YAML 1.1 insists on ``2.0e-3``)."""


_FLOAT = re.compile(r"""^[-+]?(?:(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                    |[0-9][0-9_]*[eE][-+]?[0-9]+
                    |\.(?:inf|Inf|INF)|[-+]\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X)
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def parse_value(text: str) -> Any:
    """Parse the value of a ``--set key=value`` the way YAML would: ``3`` -> int, ``2e-3`` ->
    float, ``true`` -> bool, ``null`` -> None, ``[170, 200]`` -> list; anything else stays a str."""
    try:
        return yaml.load(text, Loader=_Loader) if text.strip() else ""
    except yaml.YAMLError:
        return text


def merge(base: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``child`` into a copy of ``base``."""
    out = copy.deepcopy(dict(base))
    for key, value in child.items():
        if isinstance(value, Mapping) and value.get("_replace_"):
            out[key] = {k: copy.deepcopy(v) for k, v in value.items() if k != "_replace_"}
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A config file path, or the bare name of a config shipped in the package (``lgmpose/configs``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    for candidate in (CONFIG_DIR / path, CONFIG_DIR / f"{path}.yaml"):
        if candidate.is_file():
            return candidate
    shipped = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
    raise LgmposeError(f"config {str(name_or_path)!r}: no such file, nor a config shipped in the "
                       f"package ({shipped}); give other configs by path, e.g. "
                       "experiments/configs/NAME.yaml")


def _base_path(parent: Path, base: str) -> Path:
    """Where a ``_base_`` entry points: a path relative to the config that names it, or, for a bare
    file name with no such file there, the package's config of that name."""
    path = Path(base)
    if path.is_absolute():
        return path
    beside = parent / path
    if not beside.exists() and path.name == base and (CONFIG_DIR / path).is_file():
        return CONFIG_DIR / path
    return beside


def _read_yaml(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    if path.resolve() in chain:
        raise LgmposeError(f"config {str(path)!r}: _base_ chain loops back to itself")
    try:
        data = yaml.load(path.read_text(), Loader=_Loader) or {}
    except yaml.YAMLError as error:
        raise LgmposeError(f"config {str(path)!r}: not valid YAML ({error})") from None
    except OSError as error:
        raise LgmposeError(f"config {str(path)!r}: cannot read ({error.strerror})") from None
    if not isinstance(data, dict):
        raise LgmposeError(f"config {str(path)!r}: the top level must be a mapping")
    _rename_keys(data)
    bases = data.pop("_base_", [])
    bases = [bases] if isinstance(bases, str) else list(bases)
    merged: dict[str, Any] = {}
    for base in bases:
        merged = merge(merged, _read_yaml(_base_path(path.parent, base), chain + (path.resolve(),)))
    return merge(merged, data)


def _rename_keys(data: dict[str, Any]) -> None:
    """Read the old spelling of a renamed key as the new one (the new one wins if both)."""
    for old, new in RENAMED_KEYS.items():
        section, _, old_leaf = old.rpartition(".")
        node = data.get(section)
        if isinstance(node, dict) and old_leaf in node:
            node.setdefault(new.rpartition(".")[2], node.pop(old_leaf))


def _coerce(key: str, old: Any, new: Any) -> Any:
    if old is None or new is None:
        return new
    if isinstance(old, bool) or isinstance(new, bool):
        if isinstance(old, bool) and isinstance(new, bool):
            return new
        raise LgmposeError(f"--set {key}: expected true/false, got {new!r}")
    if isinstance(old, float) and isinstance(new, int):
        return float(new)
    if isinstance(old, int) and isinstance(new, float):
        if not new.is_integer():
            raise LgmposeError(f"--set {key}: expected an integer, got {new!r}")
        return int(new)
    if isinstance(old, (list, tuple)) and not isinstance(new, list):
        raise LgmposeError(f"--set {key}: expected a list like [1, 2], got {new!r}")
    if isinstance(old, dict) and not isinstance(new, dict):
        raise LgmposeError(f"--set {key}: is a section; set one of its keys ({', '.join(old)})")
    if isinstance(old, (int, float)) and isinstance(new, str):
        raise LgmposeError(f"--set {key}: expected a number, got {new!r}")
    return new


def apply_overrides(cfg: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings in order; values are typed by :func:`parse_value`.

    An unknown key is refused (a typo would otherwise be silently ignored), except inside the
    free-form sections (``model``: keyword overrides for ``create_model``; ``data.train`` and
    ``data.val``: dataset source options).
    """
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = RENAMED_KEYS.get(key.strip(), key.strip())
        if not sep or not key:
            raise LgmposeError(f"--set {item!r}: expected key=value, e.g. train.epochs=10")
        parts = key.split(".")
        node = cfg
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node.get(part), dict):
                if part in node or not _is_open(parts[:i + 2]):
                    raise LgmposeError(f"--set {key}: {'.'.join(parts[:i + 1])!r} is not a section")
                node[part] = {}
            node = node[part]
        leaf = parts[-1]
        value = parse_value(text)
        if leaf in node:
            node[leaf] = _coerce(key, node[leaf], value)
        elif _is_open(parts):
            node[leaf] = value
        else:
            known = ", ".join(sorted(node)) if isinstance(node, dict) else ""
            raise LgmposeError(f"--set {key}: unknown key (known here: {known})")
    return cfg


def load_config(name_or_path: str | Path, overrides: Iterable[str] = ()) -> Config:
    """Read a config (with its ``_base_`` chain) on top of :data:`DEFAULTS`, apply overrides and
    parse the result (:func:`lgmpose.engine.config_types.parse_config`: an unknown key or a value
    of the wrong type is an ``LgmposeError`` naming it)."""
    path = resolve_config_path(name_or_path)
    raw = apply_overrides(merge(DEFAULTS, _read_yaml(path, ())), overrides)
    cfg = parse_config(raw, str(name_or_path))
    return replace(cfg, meta={**cfg.meta, "config_file": path.name})


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=None)


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved config (atomically) so that a run can be repeated from its work dir."""
    atomic_write_text(path, dump_config(cfg))
