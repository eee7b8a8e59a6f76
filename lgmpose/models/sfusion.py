"""Decoder/encoder fusion: SFusion (Shuffle-Integrated Fusion) and the ``add``/``concat`` ablations.

All three take the upsampled decoder map ``d`` and the encoder skip ``e`` of the same size and
return ``out_channels`` maps. The skip is projected by 1x1 conv + BN when its width differs.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from lgmpose.models.layers import ConvBNAct, interleave


def _skip_projection(skip_channels: int, channels: int) -> nn.Module:
    if skip_channels == channels:
        return nn.Identity()
    return ConvBNAct(skip_channels, channels, 1, act=None)


class SFusion(nn.Module):
    """concat(d, e) -> channel shuffle (2 groups) -> depthwise 3x3 + BN -> pointwise 1x1 + BN + act.

    The shuffle interleaves decoder and encoder channels so that each depthwise/pointwise group
    sees both scales; it is written as stack + reshape (see :func:`interleave`).
    """

    def __init__(self, channels: int, skip_channels: int, out_channels: int,
                 act: str = "relu") -> None:
        super().__init__()
        self.skip = _skip_projection(skip_channels, channels)
        self.depthwise = ConvBNAct(2 * channels, 2 * channels, 3, groups=2 * channels, act=None)
        self.pointwise = ConvBNAct(2 * channels, out_channels, 1, act=act)

    def forward(self, d: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(interleave(d, self.skip(e))))

    def export_module(self, precision: str, batch: int | None,
                      shape: tuple[int, ...]) -> nn.Module:
        """The same function with the shuffle folded into the weights: plain concat.

        The depthwise conv treats every channel alone, so it can run on ``cat(d, e)`` with its
        per-channel parameters permuted to that order; the pointwise conv then reads its input
        columns in the same permuted order. No value is computed differently, the shuffle is gone.
        """
        return _ConcatFusion(self)


class _ConcatFusion(nn.Module):
    """Export form of :class:`SFusion`: concat -> depthwise -> pointwise (shuffle folded)."""

    def __init__(self, fusion: SFusion) -> None:
        super().__init__()
        channels = fusion.depthwise.conv.out_channels
        half = channels // 2
        # interleaved channel j holds cat(d, e) channel src[j]; order[k] = j with src[j] = k
        src = torch.stack((torch.arange(half), torch.arange(half) + half), dim=1).reshape(-1)
        order = torch.empty_like(src)
        order[src] = torch.arange(channels)
        self.skip = fusion.skip
        self.depthwise = copy.deepcopy(fusion.depthwise)
        self.pointwise = copy.deepcopy(fusion.pointwise)
        with torch.no_grad():
            dw = self.depthwise
            tensors = [dw.conv.weight, *([dw.conv.bias] if dw.conv.bias is not None else [])]
            if hasattr(dw, "bn"):
                tensors += [dw.bn.weight, dw.bn.bias, dw.bn.running_mean, dw.bn.running_var]
            for tensor in tensors:
                tensor.copy_(tensor[order])
            pw = self.pointwise.conv.weight
            pw.copy_(pw[:, order])

    def forward(self, d: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(torch.cat((d, self.skip(e)), dim=1)))


class AddFusion(nn.Module):
    """d + e, then 1x1 conv + BN + act (the ``fusion=add`` ablation)."""

    def __init__(self, channels: int, skip_channels: int, out_channels: int,
                 act: str = "relu") -> None:
        super().__init__()
        self.skip = _skip_projection(skip_channels, channels)
        self.out = ConvBNAct(channels, out_channels, 1, act=act)

    def forward(self, d: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return self.out(d + self.skip(e))


class ConcatFusion(nn.Module):
    """concat(d, e), then 1x1 conv + BN + act, no shuffle (the ``fusion=concat`` ablation)."""

    def __init__(self, channels: int, skip_channels: int, out_channels: int,
                 act: str = "relu") -> None:
        super().__init__()
        self.out = ConvBNAct(channels + skip_channels, out_channels, 1, act=act)

    def forward(self, d: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return self.out(torch.cat((d, e), dim=1))


FUSIONS = {"sfusion": SFusion, "add": AddFusion, "concat": ConcatFusion}


def build_fusion(kind: str, channels: int, skip_channels: int, out_channels: int,
                 act: str = "relu") -> nn.Module:
    if kind not in FUSIONS:
        raise ValueError(f"unknown fusion {kind!r}; choose one of {sorted(FUSIONS)}")
    return FUSIONS[kind](channels, skip_channels, out_channels, act)
