"""Checkpoints that rebuild their own model.

A checkpoint is a ``torch.save`` dict with ``model_config`` (what ``create_model`` needs),
``state_dict``, ``meta`` (keypoint names, dataset, codec, ...) and any training state passed as
keyword arguments (optimizer, epoch, ...). Writes are atomic.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lgmpose.errors import LgmposeError
from lgmpose.utils.atomic import atomic_path
from lgmpose.utils.bundled import BUNDLED, bundled_weights


def _describe(config: dict) -> str:
    size = config.get("input_size") or ["?", "?"]
    return (f"{config.get('name', '?')} ({config.get('num_keypoints', '?')} keypoints, "
            f"{size[0]}x{size[1]})")


def save_checkpoint(path: str | os.PathLike, model: nn.Module, meta: dict | None = None,
                    **state: Any) -> Path:
    """Write ``model`` with its config, ``meta`` and extra ``state`` to ``path`` atomically."""
    config = getattr(model, "model_config", None)
    if config is None:
        raise LgmposeError(f"cannot save checkpoint '{path}': the model has no model_config "
                           "(build it with lgmpose.models.create_model)")
    module = model.module if hasattr(model, "module") else model  # unwrap DDP
    payload = {"format": "lgmpose-checkpoint/1", "model_config": dict(config),
               "state_dict": module.state_dict(), "meta": dict(meta or {}), **state}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """``path`` as a Path; the word ``bundled`` names the checkpoint that ships with lgmpose."""
    if str(path) == BUNDLED:
        return bundled_weights("torch")
    return Path(path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint dict (``path`` may be ``bundled``: :func:`resolve_checkpoint`); raise
    LgmposeError naming the file if it is not one."""
    path = resolve_checkpoint(path)
    if not path.is_file():
        raise LgmposeError(f"checkpoint '{path}' does not exist")
    try:
        data = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as error:  # torch raises many types for foreign files
        raise LgmposeError(f"cannot read checkpoint '{path}': not a torch checkpoint "
                           f"({type(error).__name__})") from error
    if not isinstance(data, dict) or "state_dict" not in data or "model_config" not in data:
        raise LgmposeError(f"'{path}' is not an lgmpose checkpoint "
                           "(no model_config/state_dict)")
    return data


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu",
               expected_name: str | None = None, **overrides: Any) -> nn.Module:
    """Rebuild the model stored in ``path`` and load its weights (in eval mode).

    ``expected_name``: the architecture the caller wants; a different one raises LgmposeError.
    ``overrides`` replace config values (e.g. a different ``input_size``) before building.
    """
    from lgmpose.models import create_model

    data = load_checkpoint(path, map_location)
    config = {**data["model_config"], **overrides}
    if expected_name is not None and config.get("name") != expected_name:
        raise LgmposeError(f"checkpoint '{path}' holds {_describe(config)}, "
                           f"not the requested architecture {expected_name}")
    model = create_model(**config)
    load_state(model, data["state_dict"], source=str(path), stored_config=data["model_config"])
    model.meta = data.get("meta", {})
    return model.to(map_location).eval()


def load_state(model: nn.Module, state_dict: dict, source: str = "state dict",
               stored_config: dict | None = None) -> None:
    """``model.load_state_dict`` strictly, with an error naming both architectures on mismatch."""
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        target = _describe(getattr(model, "model_config", {}) or {"name": type(model).__name__})
        stored = _describe(stored_config) if stored_config else "a different architecture"
        first = str(error).splitlines()
        detail = " ".join(line.strip() for line in first[1:3])[:300]
        raise LgmposeError(f"weights in '{source}' do not fit the model: they were saved from "
                           f"{stored}, the model is {target} ({detail})") from error
