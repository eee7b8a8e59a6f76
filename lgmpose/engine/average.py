"""Average the weights of several checkpoints of one network (a "model soup").

Two fine-tunings of the same start, or a fine-tuning and its start, sit in one basin of the loss,
so the average of their weights is itself a working model; it often keeps what each gained on
its own data (the bundled model's stage 23 is the average of stages 18 and 22). BatchNorm's
running statistics are averaged like the weights; integer buffers (BatchNorm's batch counters)
are taken from the first checkpoint.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from lgmpose.errors import LgmposeError

__all__ = ["average_checkpoints", "average_state_dicts"]


def average_state_dicts(states: Sequence[dict], shares: Sequence[float]) -> dict:
    """The weighted mean of ``states`` (same keys and shapes), computed in float64 and stored in
    each tensor's own dtype; non-floating tensors come from the first state."""
    first = states[0]
    averaged = {}
    for key, tensor in first.items():
        if not torch.is_floating_point(tensor):
            averaged[key] = tensor.clone()
            continue
        total = sum(w * s[key].to(torch.float64) for w, s in zip(shares, states))
        averaged[key] = total.to(tensor.dtype)
    return averaged


def _normalised(shares: Sequence[float] | None, count: int) -> list[float]:
    if shares is None:
        return [1.0 / count] * count
    if len(shares) != count:
        raise LgmposeError(f"{len(shares)} shares for {count} checkpoints: give one per "
                           "checkpoint")
    if any(not w >= 0 for w in shares) or sum(shares) <= 0:
        raise LgmposeError(f"shares {list(shares)}: they must be non-negative and not all 0")
    total = float(sum(shares))
    return [float(w) / total for w in shares]


def _check_same_network(paths: Sequence[Path], loaded: Sequence[dict]) -> None:
    config = loaded[0]["model_config"]
    for path, data in zip(paths[1:], loaded[1:]):
        if data["model_config"] != config:
            raise LgmposeError(f"'{path}' holds a different network from '{paths[0]}' "
                               f"({data['model_config']} against {config}): only checkpoints of "
                               "one network can be averaged")


def average_checkpoints(paths: Sequence[str | os.PathLike], dst: str | os.PathLike,
                        shares: Sequence[float] | None = None) -> Path:
    """Write to ``dst`` (atomically) a release checkpoint whose weights are the weighted mean of
    those in ``paths``, each counted by its share (equal by default; shares are normalised to sum
    to 1).

    Each path may be a release file, a training checkpoint (whose ``state_dict`` is the one a
    release would carry: the moving average where the run kept one) or ``bundled``, the checkpoint
    that ships with lgmpose. The result keeps the first
    checkpoint's meta (less its own training length and config), with the sources' training
    files merged and ``averaged_from`` listing each file's name, share and config. Every source
    and the result are loaded strictly into the network before anything is written.
    """
    from lgmpose.models import create_model
    from lgmpose.models.checkpoint import (load_checkpoint, load_state, resolve_checkpoint,
                                           save_checkpoint)

    paths = [resolve_checkpoint(p) for p in paths]
    if len(paths) < 2:
        raise LgmposeError("averaging needs at least two checkpoints")
    shares = _normalised(shares, len(paths))
    loaded = [load_checkpoint(p) for p in paths]
    _check_same_network(paths, loaded)
    config = loaded[0]["model_config"]
    model = create_model(**config)
    for path, data in zip(paths, loaded):  # every tensor present, with the network's shape
        load_state(model, data["state_dict"], source=str(path), stored_config=config)
    state = average_state_dicts([d["state_dict"] for d in loaded], shares)
    load_state(model, state, source=f"the average of {len(paths)} checkpoints",
               stored_config=config)
    meta = dict(loaded[0].get("meta", {}))
    sources: list[str] = []
    for data in loaded:
        for source in data.get("meta", {}).get("train_sources", []):
            if source not in sources:
                sources.append(source)
    if sources:
        meta["train_sources"] = sources
    meta.pop("trained_epochs", None)
    meta.pop("config_file", None)  # each source's is in averaged_from
    meta["averaged_from"] = [
        {"file": p.name, "share": round(w, 6),
         "config_file": d.get("meta", {}).get("config_file")}
        for p, w, d in zip(paths, shares, loaded)]
    return save_checkpoint(dst, model, meta=meta)
