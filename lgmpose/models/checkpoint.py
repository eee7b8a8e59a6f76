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


def previous_path(path: str | os.PathLike) -> Path:
    """Where ``save_checkpoint(..., keep_previous=True)`` keeps the checkpoint it replaced."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def save_checkpoint(path: str | os.PathLike, model: nn.Module, meta: dict | None = None,
                    keep_previous: bool = False, **state: Any) -> Path:
    """Write ``model`` with its config, ``meta`` and extra ``state`` to ``path`` atomically.

    A write that fails (disk full, ...) leaves the checkpoint already at ``path`` untouched and
    raises ``LgmposeError``. ``keep_previous``: the replaced checkpoint moves to
    :func:`previous_path`, the fallback of :func:`load_latest` if the new one turns out corrupt.
    """
    config = getattr(model, "model_config", None)
    if config is None:
        raise LgmposeError(f"cannot save checkpoint '{path}': the model has no model_config "
                           "(build it with lgmpose.models.create_model)")
    module = model.module if hasattr(model, "module") else model  # unwrap DDP
    payload = {"format": "lgmpose-checkpoint/1", "model_config": dict(config),
               "state_dict": module.state_dict(), "meta": dict(meta or {}), **state}
    try:
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
            if keep_previous and Path(path).is_file():
                os.replace(path, previous_path(path))
    except (OSError, RuntimeError) as error:  # torch reports a failed write as RuntimeError
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0][:200]
        raise LgmposeError(f"cannot save checkpoint '{path}': {reason}; the checkpoint written "
                           "before it is intact (--resume continues from it)") from error
    return Path(path)


def load_latest(path: str | os.PathLike, log=None) -> tuple[dict, Path] | None:
    """The checkpoint at ``path``, or, if that one is missing or corrupt, the one it replaced
    (:func:`previous_path`), with the path read; ``None`` when neither exists. ``log(message)``
    hears about a fallback; both unreadable is an ``LgmposeError`` naming both."""
    path, previous = Path(path), previous_path(path)
    if not path.is_file() and not previous.is_file():
        return None
    try:
        return load_checkpoint(path), path
    except LgmposeError as error:
        if not previous.is_file():
            raise LgmposeError(f"{error}; there is no earlier checkpoint ({previous.name}) to "
                               "resume from") from None
        problem = str(error)
    try:
        state = load_checkpoint(previous)
    except LgmposeError as error:
        raise LgmposeError(f"{problem}; and the one before it: {error}") from None
    if log is not None:
        log(f"warning: {problem}; resuming from the checkpoint before it, {previous}")
    return state, previous


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
