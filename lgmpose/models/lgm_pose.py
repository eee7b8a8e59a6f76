"""LGM-Pose (Guo et al., arXiv 2506.04561): a near single-branch top-down pose network.

Encoder: MobileNetV2 blocks downsample to stride 32, with MobileViM blocks (local conv + LARM
global mixing) at strides 16 and 32. Decoder: three stride-2 deconvolutions back to stride 4,
each merged with the encoder map of the same size by SFusion. Head: one 1x1 conv to K heatmaps.

Defaults are the CPU-tuned configuration (docs/models.md has the measurements): MobileViM only
at strides 16/32 (global mixing at stride 8 was the costliest place), depthwise-separable local
and fusion convs in MobileViM, 2x2 deconvolutions (4x faster than 4x4 in ONNX Runtime), decoder
widths equal to the skip widths so SFusion needs no projection. The first, untuned layout
is ``channels=(24, 48, 64, 80), mv2_blocks=(2, 0, 0, 0), vim_dims=(0, 64, 80, 96),
vim_depths=(0, 2, 4, 3), vim_conv="full", decoder_channels=(64, 48, 32), deconv_kernel=4``.

Every width, depth and switch is a constructor argument, so a variant is a config value:
``create_model("lgm_pose", mixer="transformer")``. ``heatmap_norm="softmax"`` ends the head with
a spatial softmax (see :class:`lgmpose.models.layers.SpatialSoftmax`), for the cross-entropy loss.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lgmpose.defaults import INPUT_SIZE
from lgmpose.models.layers import ConvBNAct, DeconvBNAct, InvertedResidual, build_heatmap_norm
from lgmpose.models.mobilevim import MobileViM
from lgmpose.models.registry import register_model
from lgmpose.models.sfusion import build_fusion


@register_model("lgm_pose")
class LGMPose(nn.Module):
    """LGM-Pose. ``forward(images[B, 3, H, W]) -> heatmaps[B, K, H/4, W/4]``.

    Stage ``i`` (strides 4, 8, 16, 32) is: one stride-2 MV2 block to ``channels[i]``, then
    ``mv2_blocks[i]`` stride-1 MV2 blocks, then a MobileViM block with dim ``vim_dims[i]`` and
    ``vim_depths[i]`` LARMs (skipped where the depth is 0).
    """

    def __init__(self, num_keypoints: int = 17, input_size: Sequence[int] = INPUT_SIZE,
                 stem_channels: int = 16, stem_blocks: int = 1, stem_expand: float = 1,
                 channels: Sequence[int] = (24, 48, 96, 128),
                 mv2_blocks: Sequence[int] = (1, 2, 1, 0),
                 expand_ratio: float | Sequence[float] = 2,
                 vim_dims: Sequence[int] = (0, 0, 128, 160),
                 vim_depths: Sequence[int] = (0, 0, 4, 3),
                 vim_conv: str = "separable",
                 decoder_channels: Sequence[int] = (96, 48, 24),
                 deconv_kernel: int = 2,
                 mixer: str = "larm", fusion: str = "sfusion", mlp_ratio: int = 2,
                 act: str = "relu", heatmap_norm: str = "none") -> None:
        super().__init__()
        h, w = int(input_size[0]), int(input_size[1])
        if h % 32 or w % 32:
            raise ValueError(f"input size {h}x{w}: both sides must be multiples of 32")
        self.stem = nn.Sequential(
            ConvBNAct(3, stem_channels, 3, 2, act=act),
            *[InvertedResidual(stem_channels, stem_channels, 1, stem_expand, act=act)
              for _ in range(stem_blocks)],
        )
        ratios = ([float(expand_ratio)] * len(channels) if isinstance(expand_ratio, (int, float))
                  else [float(r) for r in expand_ratio])
        stages = []
        in_ch = stem_channels
        for i, out_ch in enumerate(channels):
            stride = 2 ** (i + 2)
            blocks: list[nn.Module] = [InvertedResidual(in_ch, out_ch, 2, ratios[i], act=act)]
            blocks += [InvertedResidual(out_ch, out_ch, 1, ratios[i], act=act)
                       for _ in range(mv2_blocks[i])]
            if vim_depths[i] > 0:
                blocks.append(MobileViM(out_ch, vim_dims[i], vim_depths[i],
                                        (h // stride, w // stride), mixer, mlp_ratio, act,
                                        vim_conv))
            stages.append(nn.Sequential(*blocks))
            in_ch = out_ch
        self.stages = nn.ModuleList(stages)

        ups, fusions = [], []
        for j, out_ch in enumerate(decoder_channels):
            skip_ch = channels[len(channels) - 2 - j]
            ups.append(DeconvBNAct(in_ch, out_ch, deconv_kernel, act=act))
            fusions.append(build_fusion(fusion, out_ch, skip_ch, out_ch, act))
            in_ch = out_ch
        self.ups = nn.ModuleList(ups)
        self.fusions = nn.ModuleList(fusions)
        self.head = nn.Conv2d(in_ch, num_keypoints, 1)
        self.heatmap_norm = build_heatmap_norm(heatmap_norm)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.stem(images)
        skips = []
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
        for j, (up, fuse) in enumerate(zip(self.ups, self.fusions)):
            x = fuse(up(x), skips[len(skips) - 2 - j])
        return self.heatmap_norm(self.head(x))
