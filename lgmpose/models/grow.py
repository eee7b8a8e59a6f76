"""Grow a trained LGM-Pose into a larger one that computes exactly the same function.

A network of the same widths can gain depth and width inside its MobileNetV2 blocks:

- extra stride-1 MV2 blocks (``mv2_blocks``) start as identities: their residual branch ends in a
  BatchNorm whose scale and shift are zero, so the branch adds nothing until training moves them;
- extra LARMs (``vim_depths``, where the stage already has a MobileViM) start as identities: the
  last layer of both residual MLPs is zero;
- wider MV2 hidden layers (``expand_ratio``) keep the trained channels; the new ones feed the
  block's projection through zero weights.

Every other weight is copied, so the grown model's output equals the checkpoint's, in training
mode (batch statistics) as in eval mode, and training continues from where the checkpoint stood
with more capacity. This is how a CPU-trained model can become larger without starting over.
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from lgmpose.errors import LgmposeError
from lgmpose.models.layers import InvertedResidual
from lgmpose.models.registry import create_model

# what growing may change; everything else in the two configs must be equal
GROWABLE = ("mv2_blocks", "vim_depths", "expand_ratio")


def _ratios(config: Mapping[str, Any], stages: int) -> list[float]:
    value = config.get("expand_ratio", 2)
    if isinstance(value, (int, float)):
        return [float(value)] * stages
    return [float(v) for v in value]


def _resolved(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config with every constructor default filled in and sequences as lists, so that a value
    written out equal to its default compares equal to the default."""
    from lgmpose.models.lgm_pose import LGMPose

    params = inspect.signature(LGMPose.__init__).parameters
    full = {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}
    full.update(config)
    return {k: list(v) if isinstance(v, (tuple, list)) else v for k, v in full.items()}


def _check_growable(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    old, new = _resolved(old), _resolved(new)
    for key in sorted(set(old) | set(new)):
        if key in GROWABLE:
            continue
        if old.get(key) != new.get(key):
            raise LgmposeError(f"cannot grow the model: {key} differs ({old.get(key)!r} in the "
                               f"checkpoint, {new.get(key)!r} in the config); only "
                               f"{', '.join(GROWABLE)} may grow")
    if new["mixer"] != "larm" and old["vim_depths"] != new["vim_depths"]:
        raise LgmposeError(f"cannot grow the model: only LARM mixers can gain depth, this one is "
                           f"{new['mixer']!r}")
    n = len(old["channels"])
    for key in GROWABLE:
        before, after = ((_ratios(c, n) if key == "expand_ratio" else c[key]) for c in (old, new))
        if any(a < b for a, b in zip(after, before)):
            raise LgmposeError(f"cannot grow the model: {key} {after} is smaller than the "
                               f"checkpoint's {before} somewhere")
    if [d > 0 for d in old["vim_depths"]] != [d > 0 for d in new["vim_depths"]]:
        raise LgmposeError("cannot grow the model: a MobileViM block cannot be added to a stage "
                           "that has none (it would not start as an identity)")


def _mv2(stage: nn.Sequential) -> list[InvertedResidual]:
    """The stride-1 MV2 blocks of a stage (after its stride-2 block)."""
    return [b for b in list(stage)[1:] if isinstance(b, InvertedResidual)]


def _vim(stage: nn.Sequential) -> nn.Module | None:
    last = list(stage)[-1]
    return None if isinstance(last, InvertedResidual) else last


@torch.no_grad()
def _copy_prefix(dst: torch.Tensor, src: torch.Tensor) -> None:
    """Copy ``src`` into the leading slice of ``dst`` along every axis."""
    dst[tuple(slice(0, s) for s in src.shape)] = src


@torch.no_grad()
def _copy_module(dst: nn.Module, src: nn.Module) -> None:
    """Copy every parameter and buffer of ``src`` into the leading slice of ``dst``'s."""
    for d, s in zip(dst.state_dict(keep_vars=True).values(),
                    src.state_dict(keep_vars=True).values()):
        if d.dim() == 0:
            d.copy_(s)
        else:
            _copy_prefix(d, s)


@torch.no_grad()
def _copy_inverted_residual(dst: InvertedResidual, src: InvertedResidual) -> None:
    """Copy a trained MV2 block into a possibly wider one; new hidden channels get zero weights
    into the projection, so they change nothing."""
    dst.conv[-1].conv.weight.zero_()
    for d, s in zip(dst.conv, src.conv):
        _copy_module(d, s)


@torch.no_grad()
def _make_identity_block(block: InvertedResidual, scale: float = 0.0) -> None:
    block.conv[-1].bn.weight.fill_(scale)
    block.conv[-1].bn.bias.zero_()


@torch.no_grad()
def _make_identity_larm(larm: nn.Module) -> None:
    larm.within.fc2.zero_()
    larm.between.fc2.weight.zero_()
    larm.between.fc2.bias.zero_()


@torch.no_grad()
def _grow_stage(dst: nn.Sequential, src: nn.Sequential, new_block_scale: float) -> None:
    _copy_inverted_residual(dst[0], src[0])
    old_blocks, new_blocks = _mv2(src), _mv2(dst)
    for i, block in enumerate(new_blocks):
        if i < len(old_blocks):
            _copy_inverted_residual(block, old_blocks[i])
        else:
            _make_identity_block(block, new_block_scale)
    vim_src, vim_dst = _vim(src), _vim(dst)
    if vim_src is None:
        return
    if not hasattr(vim_src.mixer, "blocks"):    # another mixer, of the same depth: as it is
        vim_dst.load_state_dict(vim_src.state_dict())
        return
    old_larms, new_larms = list(vim_src.mixer.blocks), list(vim_dst.mixer.blocks)
    for name, child in vim_dst.named_children():
        if name != "mixer":
            child.load_state_dict(getattr(vim_src, name).state_dict())
    for i, larm in enumerate(new_larms):
        if i < len(old_larms):
            larm.load_state_dict(old_larms[i].state_dict())
        else:
            _make_identity_larm(larm)


def grow_lgm_pose(model: nn.Module, state_dict: Mapping[str, torch.Tensor],
                  saved_config: Mapping[str, Any], new_block_scale: float | str = 0.0) -> None:
    """Load a smaller ``lgm_pose`` checkpoint (``state_dict`` of a model built with
    ``saved_config``) into ``model``, a grown ``lgm_pose``, so that both compute the same
    function. Raises :class:`LgmposeError` when the two differ in anything but depth and MV2
    width (see :data:`GROWABLE`), or when ``model`` is smaller somewhere.

    ``new_block_scale`` > 0 starts the new MV2 blocks' last BatchNorm scale there instead of at 0:
    the grown model then computes almost, not exactly, the same function, but the new blocks'
    inner layers get gradients from the first step (at 0 they get none until the scale moves)."""
    try:
        scale = float(new_block_scale)
    except (TypeError, ValueError):
        scale = float("nan")
    if not 0.0 <= scale <= 1.0:
        raise LgmposeError(f"train.init_grow_scale must be between 0 and 1, got {new_block_scale!r}")
    config = dict(model.model_config)
    if config.get("name") != "lgm_pose" or saved_config.get("name") != "lgm_pose":
        raise LgmposeError("only lgm_pose models can be grown")
    old = create_model("lgm_pose", **{k: v for k, v in saved_config.items() if k != "name"})
    try:
        old.load_state_dict(state_dict)
    except RuntimeError as error:
        raise LgmposeError("cannot grow the model: the checkpoint's weights do not fit its own "
                           f"config ({str(error).splitlines()[0]})") from None
    _check_growable(old.model_config, config)
    with torch.no_grad():
        for name in ("stem", "ups", "fusions", "head", "heatmap_norm"):
            getattr(model, name).load_state_dict(getattr(old, name).state_dict())
        for dst, src in zip(model.stages, old.stages):
            _grow_stage(dst, src, scale)
