"""Lite-HRNet (Yu et al., "Lite-HRNet: A Lightweight High-Resolution Network", CVPR 2021).

Written from the paper and the published configs: a ShuffleNet-style stem to stride 4, then three
stages of parallel branches (widths 40/80/160/320) built from *conditional channel weighting*
blocks (cross-resolution weighting across all branches + depthwise 3x3 + spatial weighting,
applied to half of the channels, then a channel shuffle), with HRNet-style multi-resolution fusion
after each module, an iterative head that folds the coarse branches into the finest one, and a
1x1 heatmap layer. Lite-HRNet-18 has (2, 4, 2) modules per stage, Lite-HRNet-30 has (3, 8, 3).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lgmpose.models.layers import ConvBNAct, build_heatmap_norm, channel_shuffle
from lgmpose.models.registry import register_model


def lite_hrnet_spec(depth: int) -> dict:
    """Module counts of the official Lite-HRNet-18 / -30 configurations."""
    modules = {18: (2, 4, 2), 30: (3, 8, 3)}
    if depth not in modules:
        raise ValueError(f"Lite-HRNet-{depth} is not defined; use 18 or 30")
    return {"num_modules": modules[depth]}


def _dw_pw(in_ch: int, out_ch: int, stride: int, act_last: bool) -> nn.Sequential:
    """Depthwise 3x3 + BN, then pointwise 1x1 + BN (+ ReLU): Lite-HRNet's cheap resampling unit."""
    return nn.Sequential(ConvBNAct(in_ch, in_ch, 3, stride, groups=in_ch, act=None),
                         ConvBNAct(in_ch, out_ch, 1, act="relu" if act_last else None))


class Stem(nn.Module):
    """3x3 s2 conv, then a ShuffleNetV2 downsampling unit (two branches, concat, shuffle): stride 4."""

    def __init__(self, in_channels: int = 3, channels: int = 32) -> None:
        super().__init__()
        half = channels // 2
        self.conv = ConvBNAct(in_channels, channels, 3, 2)
        self.branch1 = _dw_pw(half, channels - half, 2, act_last=True)
        self.branch2 = nn.Sequential(ConvBNAct(half, channels, 1),
                                     ConvBNAct(channels, channels, 3, 2, groups=channels, act=None),
                                     ConvBNAct(channels, half, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv(x).chunk(2, dim=1)
        return channel_shuffle(torch.cat((self.branch1(a), self.branch2(b)), dim=1), 2)


class CrossResolutionWeighting(nn.Module):
    """Channel weights computed from all branches pooled to the coarsest size (H-function)."""

    def __init__(self, channels: Sequence[int], ratio: int) -> None:
        super().__init__()
        self.channels = list(channels)
        total = sum(channels)
        self.reduce = ConvBNAct(total, total // ratio, 1)
        self.expand = ConvBNAct(total // ratio, total, 1, act="sigmoid")

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        size = xs[-1].shape[-2:]
        pooled = [F.adaptive_avg_pool2d(x, size) for x in xs[:-1]] + [xs[-1]]
        weights = self.expand(self.reduce(torch.cat(pooled, dim=1))).split(self.channels, dim=1)
        return [x * F.interpolate(w, size=x.shape[-2:], mode="nearest")
                for x, w in zip(xs, weights)]


class SpatialWeighting(nn.Module):
    """Squeeze-and-excitation style weights from one branch's global average (F-function)."""

    def __init__(self, channels: int, ratio: int = 4) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, channels // ratio, 1)
        self.expand = nn.Conv2d(channels // ratio, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.expand(F.relu(self.reduce(w))))


class ConditionalChannelWeighting(nn.Module):
    """Split each branch in half; weight one half (cross-resolution, dw 3x3, spatial); shuffle."""

    def __init__(self, channels: Sequence[int], reduce_ratio: int) -> None:
        super().__init__()
        halves = [c // 2 for c in channels]
        self.cross_resolution = CrossResolutionWeighting(halves, reduce_ratio)
        self.depthwise = nn.ModuleList(ConvBNAct(c, c, 3, groups=c, act=None) for c in halves)
        self.spatial = nn.ModuleList(SpatialWeighting(c) for c in halves)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        kept, weighted = zip(*(x.chunk(2, dim=1) for x in xs))
        weighted = self.cross_resolution(list(weighted))
        weighted = [sw(dw(x)) for x, dw, sw in zip(weighted, self.depthwise, self.spatial)]
        return [channel_shuffle(torch.cat((a, b), dim=1), 2) for a, b in zip(kept, weighted)]


class LiteHRModule(nn.Module):
    """``num_blocks`` conditional channel weighting blocks, then multi-resolution fusion."""

    def __init__(self, channels: Sequence[int], num_blocks: int, reduce_ratio: int) -> None:
        super().__init__()
        n = len(channels)
        self.blocks = nn.ModuleList(ConditionalChannelWeighting(channels, reduce_ratio)
                                    for _ in range(num_blocks))
        self.fuse = nn.ModuleList()
        for i in range(n):
            row = nn.ModuleList()
            for j in range(n):
                if j > i:  # coarser to finer: 1x1 + BN, nearest upsampling in forward
                    row.append(ConvBNAct(channels[j], channels[i], 1, act=None))
                elif j == i:
                    row.append(nn.Identity())
                else:  # finer to coarser: (i - j) depthwise stride-2 steps
                    steps = [_dw_pw(channels[j], channels[j], 2, act_last=True)
                             for _ in range(i - j - 1)]
                    steps.append(_dw_pw(channels[j], channels[i], 2, act_last=False))
                    row.append(nn.Sequential(*steps))
            self.fuse.append(row)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        for block in self.blocks:
            xs = block(xs)
        out = []
        for i, row in enumerate(self.fuse):
            terms = []
            for j, layer in enumerate(row):
                t = layer(xs[j])
                if j > i:
                    t = F.interpolate(t, scale_factor=float(2 ** (j - i)), mode="nearest")
                terms.append(t)
            # The official fusion starts its sum from branch 0's term and then adds every term,
            # so branch 0 counts twice; kept for fidelity with the published models.
            out.append(F.relu(terms[0] + sum(terms)))
        return out


class IterativeHead(nn.Module):
    """From coarsest to finest: add the upsampled previous output, then a depthwise-separable conv."""

    def __init__(self, channels: Sequence[int]) -> None:
        super().__init__()
        rev = list(channels)[::-1]
        outs = rev[1:] + rev[-1:]
        self.projects = nn.ModuleList(
            nn.Sequential(ConvBNAct(c, c, 3, groups=c, act=None), ConvBNAct(c, o, 1))
            for c, o in zip(rev, outs))

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        last = None
        for x, project in zip(xs[::-1], self.projects):
            if last is not None:
                x = x + F.interpolate(last, size=x.shape[-2:], mode="bilinear",
                                      align_corners=True)
            last = project(x)
        return last


class LiteHRNetPose(nn.Module):
    """Lite-HRNet backbone + iterative head + 1x1 heatmap layer (the published top-down model)."""

    def __init__(self, num_keypoints: int = 17,
                 num_modules: Sequence[int] = (2, 4, 2),
                 widths: Sequence[int] = (40, 80, 160, 320),
                 num_blocks: int = 2, reduce_ratio: int = 8, stem_channels: int = 32,
                 heatmap_norm: str = "none") -> None:
        super().__init__()
        self.stem = Stem(3, stem_channels)
        self.transitions = nn.ModuleList()
        self.stages = nn.ModuleList()
        previous = [stem_channels]
        for s, modules in enumerate(num_modules):
            current = list(widths[: s + 2])
            self.transitions.append(self._transition(previous, current))
            self.stages.append(nn.Sequential(*[LiteHRModule(current, num_blocks, reduce_ratio)
                                               for _ in range(modules)]))
            previous = current
        self.head = IterativeHead(previous)
        self.final = nn.Conv2d(widths[0], num_keypoints, 1)
        self.heatmap_norm = build_heatmap_norm(heatmap_norm)

    @staticmethod
    def _transition(previous: list[int], current: list[int]) -> nn.ModuleList:
        layers = nn.ModuleList()
        for i, out_ch in enumerate(current):
            if i < len(previous):
                layers.append(nn.Identity() if previous[i] == out_ch
                              else _dw_pw(previous[i], out_ch, 1, act_last=True))
            else:  # a new, coarser branch grown from the coarsest existing one
                src = previous[-1]
                steps = [_dw_pw(src, src, 2, act_last=True) for _ in range(i - len(previous))]
                steps.append(_dw_pw(src, out_ch, 2, act_last=True))
                layers.append(nn.Sequential(*steps))
        return layers

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        xs = [self.stem(images)]
        for transition, stage in zip(self.transitions, self.stages):
            xs = [layer(xs[min(i, len(xs) - 1)]) for i, layer in enumerate(transition)]
            for module in stage:
                xs = module(xs)
        return self.heatmap_norm(self.final(self.head(xs)))


def _variant(depth: int):
    def build(num_keypoints: int, input_size: Sequence[int], **overrides) -> LiteHRNetPose:
        return LiteHRNetPose(num_keypoints, **{**lite_hrnet_spec(depth), **overrides})

    return build


for _depth in (18, 30):
    register_model(f"lite_hrnet_{_depth}")(_variant(_depth))
