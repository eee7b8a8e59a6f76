"""Training losses on heatmaps, chosen by the config's ``train.loss``.

- ``mse``: the standard top-down loss (SimpleBaseline/HRNet): mean squared error to the Gaussian
  targets, each keypoint weighted by its target weight (0 = unlabelled).
- ``fg_mse``: the same, each pixel also weighted by ``1 + fg_weight * target``, so that predicting an
  empty map no longer scores almost as well as predicting the peak.
- ``softmax_ce``: cross-entropy between a spatial softmax of the model's logit maps and the target
  Gaussian normalised to a distribution (the 2-D form of SimCC's classification targets). Its
  gradient is strong from the first step: there is no empty-heatmap plateau to leave. Needs a model
  built with ``heatmap_norm: softmax``, which returns logits in training mode.

With ``train.soft_targets`` set, ``softmax_ce`` also learns from a teacher's own heatmaps
(:func:`soft_target_ce_loss`): the target distribution of a labelled keypoint is
``(1 - mix) x hard + mix x teacher``, and a keypoint without a label (the teacher scored it low,
e.g. a body part outside the picture) learns the teacher's faint, diffuse map with weight
``unlabelled_weight``. ``mix: 0, unlabelled_weight: 0`` is exactly the hard-label loss.

Why a run here uses which is in docs/training.md (learning curves of the three on one budget).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

from lgmpose.errors import LgmposeError

__all__ = ["LOSSES", "build_loss", "build_soft_loss", "keypoint_mse_loss", "foreground_mse_loss",
           "soft_target_ce_loss", "softmax_ce_loss"]

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def keypoint_mse_loss(heatmaps: torch.Tensor, target: torch.Tensor,
                      target_weight: torch.Tensor) -> torch.Tensor:
    """Mean squared heatmap error, each keypoint weighted by its target weight (0 = unlabelled)."""
    weight = target_weight.to(heatmaps.dtype)[:, :, None, None]
    return ((heatmaps.float() - target.float()) ** 2 * weight).mean()


def foreground_mse_loss(heatmaps: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor,
                        fg_weight: float = 9.0) -> torch.Tensor:
    """:func:`keypoint_mse_loss` with pixel weights ``1 + fg_weight * target``."""
    target = target.float()
    weight = target_weight.float()[:, :, None, None] * (1.0 + fg_weight * target)
    return ((heatmaps.float() - target) ** 2 * weight).mean()


def softmax_ce_loss(logits: torch.Tensor, target: torch.Tensor,
                    target_weight: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``softmax(logits)`` over each map's pixels against the normalised target,
    averaged over the keypoints that have a target (weights summed, not counted)."""
    b, k = logits.shape[:2]
    log_probs = F.log_softmax(logits.float().reshape(b, k, -1), dim=-1)
    target = target.float().reshape(b, k, -1)
    dist = target / target.sum(dim=-1, keepdim=True).clamp_min(1e-6)
    ce = -(dist * log_probs).sum(dim=-1)
    weight = target_weight.float()
    return (ce * weight).sum() / weight.sum().clamp_min(1.0)


def _distribution(maps: torch.Tensor) -> torch.Tensor:
    return maps / maps.sum(dim=-1, keepdim=True).clamp_min(1e-6)


def soft_target_ce_loss(logits: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor,
                        soft: torch.Tensor, soft_weight: torch.Tensor, mix: float = 0.5,
                        unlabelled_weight: float = 0.0) -> torch.Tensor:
    """:func:`softmax_ce_loss` against a blend of the hard target and a teacher's heatmaps.

    ``soft [B, K, h, w]`` are the teacher's maps resampled into the crop, ``soft_weight [B, K]``
    1 where such a map exists and lies in the crop. A keypoint with a hard target (weight > 0)
    and a map learns ``(1 - mix) x hard + mix x soft`` (both normalised to distributions) with its
    hard weight; one without a hard target learns the map alone, weighted ``unlabelled_weight``.
    Averaged over the weights, as :func:`softmax_ce_loss`."""
    b, k = logits.shape[:2]
    log_probs = F.log_softmax(logits.float().reshape(b, k, -1), dim=-1)
    hard = _distribution(target.float().reshape(b, k, -1))
    teacher = _distribution(soft.float().reshape(b, k, -1))
    has_soft = (soft_weight.float() > 0)[..., None]
    labelled = target_weight.float() > 0
    blend = torch.where(has_soft, (1.0 - mix) * hard + mix * teacher, hard)
    dist = torch.where(labelled[..., None], blend, teacher)
    weight = torch.where(labelled, target_weight.float(),
                         unlabelled_weight * soft_weight.float())
    ce = -(dist * log_probs).sum(dim=-1)
    return (ce * weight).sum() / weight.sum().clamp_min(1.0)


def build_soft_loss(spec: Mapping[str, Any]):
    """``train.soft_targets`` (``{mix, unlabelled_weight}``) -> ``loss(logits, target, weight,
    soft, soft_weight)``."""
    if not isinstance(spec, Mapping) or not set(spec) <= {"mix", "unlabelled_weight"}:
        raise LgmposeError(f"train.soft_targets must be null or a mapping with 'mix' and "
                           f"'unlabelled_weight', got {spec!r}")
    mix = float(spec.get("mix", 0.5))
    unlabelled = float(spec.get("unlabelled_weight", 0.0))
    if not 0.0 <= mix <= 1.0 or unlabelled < 0:
        raise LgmposeError(f"train.soft_targets: mix must be in [0, 1] and unlabelled_weight "
                           f">= 0, got {mix}, {unlabelled}")
    return lambda h, t, w, s, sw: soft_target_ce_loss(h, t, w, s, sw, mix, unlabelled)


LOSSES = ("mse", "fg_mse", "softmax_ce")


def build_loss(spec: str | Mapping[str, Any]) -> Loss:
    """``"mse"``, ``"fg_mse"``, ``"softmax_ce"``, or ``{name: fg_mse, fg_weight: 9.0}``."""
    options = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = str(options.pop("name", "mse"))
    if name == "mse" and not options:
        return keypoint_mse_loss
    if name == "softmax_ce" and not options:
        return softmax_ce_loss
    if name == "fg_mse" and set(options) <= {"fg_weight"}:
        fg_weight = float(options.get("fg_weight", 9.0))
        return lambda h, t, w: foreground_mse_loss(h, t, w, fg_weight)
    if name not in LOSSES:
        raise LgmposeError(f"train.loss {name!r}: choose one of {', '.join(LOSSES)}")
    raise LgmposeError(f"train.loss {name!r}: unknown options {sorted(options)}")
