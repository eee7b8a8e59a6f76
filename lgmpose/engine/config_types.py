"""The config as typed, frozen objects: :func:`parse_config` turns the merged and validated dict
of :func:`lgmpose.engine.config.load_config` into a :class:`Config` whose sections are
dataclasses, so that the engine reads ``cfg.train.lr`` instead of ``cfg["train"]["lr"]``.

The dict stays the file format (a run's ``config.yaml``, a checkpoint's stored config):
:meth:`Config.to_dict` gives it back, key for key. Sections with open-ended keys stay mappings:
``model`` (a network's keyword arguments, beside its ``name``), the dataset sources
(``data.train`` / ``data.val``), ``data.aug`` (the pipeline's options) and the codec's settings.

No torch here.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from lgmpose.errors import LgmposeError

__all__ = ["Config", "ModelConfig", "DataConfig", "CodecConfig", "TrainConfig", "TestConfig",
           "parse_config"]


@dataclass(frozen=True)
class ModelConfig:
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}


@dataclass(frozen=True)
class DataConfig:
    dataset: str
    metainfo: Any
    root: str
    train: Any
    val: Any
    boxes: str
    det_thr: float
    joint_weights: Any
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
    loss: str
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
        """The plain dict this was parsed from (lists for tuples), for YAML and checkpoints."""
        return {"model": self.model.to_dict(), "data": _plain(self.data),
                "codec": self.codec.to_dict(), "train": _plain(self.train),
                "test": _plain(self.test), "meta": dict(self.meta)}


def _plain(section) -> dict[str, Any]:
    out = {}
    for f in fields(section):
        value = getattr(section, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


_FLOAT, _INT, _BOOL = "a number", "an integer", "true or false"


def _check(section: str, key: str, value: Any, kind: str) -> Any:
    """``value`` as ``kind``, or the LgmposeError naming ``section.key``."""
    ok = {_BOOL: isinstance(value, bool),
          _INT: isinstance(value, int) and not isinstance(value, bool),
          _FLOAT: isinstance(value, (int, float)) and not isinstance(value, bool)}[kind]
    if not ok:
        raise LgmposeError(f"config: {section}.{key} must be {kind}, got {value!r}")
    return float(value) if kind == _FLOAT else value


_KINDS = {float: _FLOAT, "float": _FLOAT, int: _INT, "int": _INT, bool: _BOOL, "bool": _BOOL}


def _section(cls, name: str, values: Mapping[str, Any]):
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise LgmposeError(f"config: unknown key {name}.{unknown[0]} (known here: "
                           f"{', '.join(sorted(known))})")
    missing = sorted(set(known) - set(values))
    if missing:
        raise LgmposeError(f"config: {name}.{missing[0]} is missing")
    kwargs = {}
    for key, f in known.items():
        value = values[key]
        kind = _KINDS.get(f.type)
        if kind is not None:
            value = _check(name, key, value, kind)
        elif isinstance(value, list) and f.type.startswith("tuple"):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def parse_config(cfg: Mapping[str, Any]) -> Config:
    """A merged config dict (DEFAULTS under the file under the overrides) as a :class:`Config`.
    An unknown key or a value of the wrong type is an ``LgmposeError`` naming it."""
    unknown = sorted(set(cfg) - {"model", "data", "codec", "train", "test", "meta"})
    if unknown:
        raise LgmposeError(f"config: unknown section {unknown[0]!r} (known: model, data, codec, "
                           "train, test)")
    model = dict(cfg["model"])
    codec = dict(cfg["codec"])
    return Config(
        model=ModelConfig(name=model.pop("name"), options=model),
        data=_section(DataConfig, "data", cfg["data"]),
        codec=CodecConfig(name=codec.pop("name"),
                          sigma=_check("codec", "sigma", codec.pop("sigma"), _FLOAT),
                          options=codec),
        train=_section(TrainConfig, "train", cfg["train"]),
        test=_section(TestConfig, "test", cfg["test"]),
        meta=dict(cfg.get("meta") or {}),
    )


def replace(section, **changes):
    """A copy of a frozen section (or of the whole :class:`Config`) with ``changes``."""
    return dataclasses.replace(section, **changes)
