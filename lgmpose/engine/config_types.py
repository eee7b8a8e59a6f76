"""The config as typed, frozen objects: :func:`parse_config` turns the merged config dict
(:data:`lgmpose.engine.config.DEFAULTS` under the file under the ``--set`` overrides) into a
:class:`Config` whose sections are dataclasses, so that the engine reads ``cfg.train.lr``.
:func:`lgmpose.engine.config.load_config` parses every config it reads, once.

Parsing is where a config is checked: an unknown key, a value of the wrong type, an input size
that is not ``[height, width]`` or a stated heatmap size other than the derived one is an
``LgmposeError`` naming the key.

The dict stays the file format (a run's ``config.yaml``, a checkpoint's stored config):
:meth:`Config.to_dict` gives it back, key for key. Sections with open-ended keys stay mappings:
``model`` (a network's keyword arguments, beside its ``name``), the dataset sources
(``data.train`` / ``data.val``), ``data.aug`` (the pipeline's options) and the codec's settings.

No torch here.
"""
from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from lgmpose.defaults import CODEC, CODEC_SIGMA, HEATMAP_STRIDE, derived_heatmap_size
from lgmpose.errors import LgmposeError

__all__ = ["Config", "ModelConfig", "DataConfig", "CodecConfig", "TrainConfig", "TestConfig",
           "parse_config", "replace"]


@dataclass(frozen=True)
class ModelConfig:
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}


@dataclass(frozen=True)
class DataConfig:
    dataset: str
    metainfo: Any            # a built-in name, a metainfo YAML path, or a checkpoint's keypoint set
    root: str
    train: Any               # a source mapping or a list of them (engine.config_datasets.sources)
    val: Any                 # likewise, or null / false: no validation set
    boxes: str | None        # gt (also when null) or a detection json
    det_thr: float
    joint_weights: Any       # null, "metainfo" or one number per keypoint
    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    workers: int
    aug: Mapping[str, Any]


@dataclass(frozen=True)
class CodecConfig:
    name: str
    sigma: float
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sigma": self.sigma, **self.options}

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], where: str = "config") -> "CodecConfig":
        """The codec section ``{name, sigma, ...}``; a missing name or sigma is the default."""
        options = dict(spec)
        name = options.pop("name", CODEC)
        sigma = _check(where, "codec.sigma", options.pop("sigma", CODEC_SIGMA), _FLOAT)
        return cls(name=name, sigma=sigma, options=options)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    weight_decay: float
    warmup_iters: int
    warmup_ratio: float
    lr_steps: tuple[int, ...]
    lr_gamma: float
    lr_policy: str
    min_lr_ratio: float
    loss: str | Mapping[str, Any]   # a name, or {name: fg_mse, fg_weight: ...}
    val_interval: int
    seed: int
    amp: bool
    cpu_bf16: bool
    channels_last: bool
    grad_clip: float
    checkpoint_interval: int
    max_iters_per_epoch: int
    tensorboard: bool
    init_from: str | None
    init_grow: bool
    init_grow_scale: float
    ema_decay: float
    soft_targets: Mapping[str, Any] | None


@dataclass(frozen=True)
class TestConfig:
    __test__ = False  # not a pytest class
    flip: bool
    shift_heatmap: bool
    batch_size: int
    oks_nms_thr: float
    rescore_thr: float
    pose_quality: bool


@dataclass(frozen=True)
class Config:
    model: ModelConfig
    data: DataConfig
    codec: CodecConfig
    train: TrainConfig
    test: TestConfig
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The plain dict (lists for tuples, a copy) that ``config.yaml`` and checkpoints hold."""
        return copy.deepcopy({"model": self.model.to_dict(), "data": _plain(self.data),
                              "codec": self.codec.to_dict(), "train": _plain(self.train),
                              "test": _plain(self.test), "meta": dict(self.meta)})


def replace(section: Any, **changes: Any) -> Any:
    """A copy of a frozen section (or of the whole :class:`Config`) with ``changes``."""
    return dataclasses.replace(section, **changes)


def _plain(section: Any) -> dict[str, Any]:
    out = {}
    for f in fields(section):
        value = getattr(section, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


_FLOAT, _INT, _BOOL = "a number", "an integer", "true or false"
_KINDS = {"float": _FLOAT, "int": _INT, "bool": _BOOL}
_SECTIONS = ("model", "data", "codec", "train", "test", "meta")
# Checked beyond their type: a run needs at least one of each.
_POSITIVE = (("train", "epochs"), ("train", "batch_size"), ("test", "batch_size"))


def _check(where: str, key: str, value: Any, kind: str) -> Any:
    """``value`` as ``kind``, or the LgmposeError naming ``key``."""
    ok = {_BOOL: isinstance(value, bool),
          _INT: isinstance(value, int) and not isinstance(value, bool),
          _FLOAT: isinstance(value, (int, float)) and not isinstance(value, bool)}[kind]
    if not ok:
        raise LgmposeError(f"{where}: {key} must be {kind}, got {value!r}")
    return float(value) if kind == _FLOAT else value


def _mapping(where: str, raw: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, Mapping):
        raise LgmposeError(f"{where}: {name} must be a section (a mapping), got {value!r}")
    return dict(value)


def _section(cls: type, where: str, name: str, values: Mapping[str, Any]) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise LgmposeError(f"{where}: unknown key {name}.{unknown[0]} (known here: "
                           f"{', '.join(sorted(known))})")
    missing = sorted(set(known) - set(values))
    if missing:
        raise LgmposeError(f"{where}: {name}.{missing[0]} is missing")
    kwargs = {}
    for key, f in known.items():
        value = values[key]
        kind = _KINDS.get(f.type)
        if kind is not None:
            value = _check(where, f"{name}.{key}", value, kind)
        elif isinstance(value, list) and f.type.startswith("tuple"):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def _sizes(where: str, data: dict[str, Any]) -> None:
    """Check ``input_size`` and set ``heatmap_size`` to the size derived from it: the network's,
    never chosen. A stated one (older configs and runs' config.yaml) must be that size."""
    size = data.get("input_size")
    if not (isinstance(size, list) and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in size)):
        raise LgmposeError(f"{where}: data.input_size must be [height, width], got {size!r}")
    derived = list(derived_heatmap_size(size))
    stated = data.get("heatmap_size")
    if stated is not None and stated != derived:
        raise LgmposeError(f"{where}: data.heatmap_size {stated!r} is not data.input_size "
                           f"{size} // {HEATMAP_STRIDE} = {derived}; the heatmap size follows "
                           "the input size: drop data.heatmap_size")
    data["heatmap_size"] = derived


def parse_config(cfg: Mapping[str, Any], name: str | None = None) -> Config:
    """A merged config dict as a :class:`Config`; ``name`` (the config's file or name) starts
    every error message. An unknown key or a value of the wrong type is an ``LgmposeError``
    naming it."""
    where = f"config {name!r}" if name else "config"
    unknown = sorted(set(cfg) - set(_SECTIONS))
    if unknown:
        raise LgmposeError(f"{where}: unknown section {unknown[0]!r} (known: "
                           f"{', '.join(_SECTIONS[:-1])})")
    model, data, codec = (_mapping(where, cfg, s) for s in ("model", "data", "codec"))
    model_name = model.pop("name", None)
    if not isinstance(model_name, str):
        raise LgmposeError(f"{where}: model.name is missing")
    _sizes(where, data)
    typed = Config(
        model=ModelConfig(name=model_name, options=model),
        data=_section(DataConfig, where, "data", data),
        codec=CodecConfig.from_dict(codec, where),
        train=_section(TrainConfig, where, "train", _mapping(where, cfg, "train")),
        test=_section(TestConfig, where, "test", _mapping(where, cfg, "test")),
        meta=_mapping(where, cfg, "meta"),
    )
    for section, key in _POSITIVE:
        value = getattr(getattr(typed, section), key)
        if value < 1:
            raise LgmposeError(f"{where}: {section}.{key} must be a positive integer, "
                               f"got {value!r}")
    return typed
