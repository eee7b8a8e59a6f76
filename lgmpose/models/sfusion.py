"""Decoder/encoder fusion: SFusion (Shuffle-Integrated Fusion) and the ``add``/``concat`` ablations.

All three take the upsampled decoder map ``d`` and the encoder skip ``e`` of the same size and
return ``out_channels`` maps. The skip is projected by 1x1 conv + BN when its width differs.
"""
from __future__ import annotations

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
