"""MobileNetV2 (width 1.0) backbone + SimpleBaseline head (Xiao et al., ECCV 2018).

The configuration the Lite-HRNet paper compares against ("MobileNetV2 1x", 256x192): the
standard MobileNetV2 feature extractor ending in the 1x1 conv to 1280 channels at stride 32,
three 4x4 stride-2 deconvolutions with 256 channels (BN + ReLU), and a 1x1 heatmap layer.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lgmpose.models.layers import (ConvBNAct, DeconvBNAct, InvertedResidual, build_heatmap_norm,
                                   make_divisible)
from lgmpose.models.registry import register_model

# (expand ratio t, output channels c, repeats n, first stride s), from the MobileNetV2 paper.
MOBILENETV2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                        (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class MobileNetV2SimpleBaseline(nn.Module):
    def __init__(self, num_keypoints: int = 17, width: float = 1.0,
                 deconv_channels: Sequence[int] = (256, 256, 256),
                 heatmap_norm: str = "none") -> None:
        super().__init__()
        in_ch = make_divisible(32 * width)
        layers: list[nn.Module] = [ConvBNAct(3, in_ch, 3, 2, act="relu6")]
        for t, c, n, s in MOBILENETV2_SETTINGS:
            out_ch = make_divisible(c * width)
            for i in range(n):
                layers.append(InvertedResidual(in_ch, out_ch, s if i == 0 else 1, t))
                in_ch = out_ch
        last = make_divisible(1280 * max(1.0, width))
        layers.append(ConvBNAct(in_ch, last, 1, act="relu6"))
        self.backbone = nn.Sequential(*layers)
        ups = []
        in_ch = last
        for ch in deconv_channels:
            ups.append(DeconvBNAct(in_ch, ch))
            in_ch = ch
        self.deconvs = nn.Sequential(*ups)
        self.final = nn.Conv2d(in_ch, num_keypoints, 1)
        self.heatmap_norm = build_heatmap_norm(heatmap_norm)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.heatmap_norm(self.final(self.deconvs(self.backbone(images))))


@register_model("mobilenetv2_sb")
def _build(num_keypoints: int, input_size: Sequence[int], **overrides) -> MobileNetV2SimpleBaseline:
    return MobileNetV2SimpleBaseline(num_keypoints, **overrides)
