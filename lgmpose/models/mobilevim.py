"""MobileViM block: the MobileViT block with its Transformer replaced by LARM.

LARM (Lightweight Attentional Representation Module) mixes information *within* 2x2 patches and
*between* patches with non-parametric transformation operations (NPT-Ops: unfold, transpose,
fold) and two MLP blocks, and no self-attention.

Layout decision (the reason this file looks the way it does): a literal LARM permutes
[B, d, H, W] into [B, d, P, N] and back around LayerNorms, and those transposes dominate CPU
latency. Here the NPT-Ops keep the data contiguous:

- *unfold* is ``pixel_unshuffle``: [B, d, H, W] -> [B, d*P, H/p, W/p]; channel ``c*P + i`` holds
  pixel ``i`` of every patch of channel ``c``, so the P axis sits inside the channel axis;
- the within-patch MLP is a grouped 1x1 convolution (one group of P channels per feature channel),
  with weights shared across feature channels, as DESIGN.md asks;
- *transpose* (N becomes the mixed axis) is a free reshape to [B, d*P, N]: N is already the last
  axis, so the between-patch MLP is one Linear along it, shared across all d*P rows;
- *fold* is ``pixel_shuffle``.

Norms are BatchNorm placed after the first layer of each MLP so that export folds them away
(or turns them into one affine per channel); there is no LayerNorm in the LARM path.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lgmpose.models.layers import ConvBNAct, make_act


def patch_size_for(map_size: tuple[int, int], preferred: int = 2) -> int:
    """2x2 patches when the map divides evenly, else 1x1 (e.g. 12x9 at stride 32 for 384x288)."""
    h, w = map_size
    return preferred if h % preferred == 0 and w % preferred == 0 else 1


class PatchUnfold(nn.Module):
    """NPT-Op unfold: [B, d, H, W] -> [B, d*p*p, H/p, W/p] (no weights)."""

    def __init__(self, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_unshuffle(x, self.patch_size) if self.patch_size > 1 else x


class PatchFold(nn.Module):
    """NPT-Op fold, the inverse of :class:`PatchUnfold`."""

    def __init__(self, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(x, self.patch_size) if self.patch_size > 1 else x


class WithinPatchMLP(nn.Module):
    """MLP block 1: residual MLP along the P pixels of each patch, shared across channels.

    Input is the unfolded [B, d*P, h, w]. The shared [P*r, P] and [P, P*r] weights are tiled over
    the d groups at run time; export constant-folds the tiling, so the graph holds two plain
    grouped 1x1 convolutions.
    """

    def __init__(self, dim: int, patch_pixels: int, ratio: int = 2, act: str = "relu") -> None:
        super().__init__()
        self.dim, self.patch_pixels = dim, patch_pixels
        hidden = patch_pixels * ratio
        self.fc1_weight = nn.Parameter(torch.empty(hidden, patch_pixels, 1, 1))
        self.fc2_weight = nn.Parameter(torch.empty(patch_pixels, hidden, 1, 1))
        self.fc2_bias = nn.Parameter(torch.zeros(patch_pixels))
        self.norm = nn.BatchNorm2d(dim * hidden)
        self.act = make_act(act)
        nn.init.kaiming_uniform_(self.fc1_weight, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.fc2_weight, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.dim
        y = F.conv2d(x, self.fc1_weight.repeat(d, 1, 1, 1), groups=d)
        y = self.act(self.norm(y))
        y = F.conv2d(y, self.fc2_weight.repeat(d, 1, 1, 1), self.fc2_bias.repeat(d), groups=d)
        return x + y


class BetweenPatchMLP(nn.Module):
    """MLP block 2: residual MLP along the N patches (global mixing), shared across rows.

    Works on [B, R, h, w] with R = d*P rows and N = h*w patches; hidden width about N/2.
    """

    def __init__(self, rows: int, num_patches: int, hidden: int, act: str = "relu") -> None:
        super().__init__()
        self.fc1 = nn.Linear(num_patches, hidden)
        self.norm = nn.BatchNorm1d(rows)
        self.act = make_act(act)
        self.fc2 = nn.Linear(hidden, num_patches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, r, h, w = x.shape
        y = x.reshape(b, r, h * w)  # NPT-Op transpose: in this layout N is already the last axis
        y = self.fc2(self.act(self.norm(self.fc1(y))))
        return x + y.reshape(b, r, h, w)


class LARM(nn.Module):
    """One LARM on unfolded features: within-patch MLP, then between-patch MLP."""

    def __init__(self, dim: int, patch_size: int, num_patches: int, mlp_ratio: int = 2,
                 hidden_patches: int | None = None, act: str = "relu") -> None:
        super().__init__()
        pixels = patch_size * patch_size
        hidden = hidden_patches or max(4, num_patches // 2)
        self.within = WithinPatchMLP(dim, pixels, mlp_ratio, act)
        self.between = BetweenPatchMLP(dim * pixels, num_patches, hidden, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.between(self.within(x))


class LARMMixer(nn.Module):
    """Unfold once, apply ``depth`` LARMs, fold once (as MobileViT does around its Transformer)."""

    def __init__(self, dim: int, depth: int, map_size: tuple[int, int], mlp_ratio: int = 2,
                 act: str = "relu") -> None:
        super().__init__()
        p = patch_size_for(map_size)
        num_patches = (map_size[0] // p) * (map_size[1] // p)
        self.unfold = PatchUnfold(p)
        self.blocks = nn.Sequential(*[LARM(dim, p, num_patches, mlp_ratio, act=act)
                                      for _ in range(depth)])
        self.fold = PatchFold(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fold(self.blocks(self.unfold(x)))


class TransformerLayer(nn.Module):
    """Pre-norm Transformer encoder layer (multi-head self-attention + SiLU MLP), as in MobileViT."""

    def __init__(self, dim: int, heads: int = 4, mlp_ratio: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), nn.SiLU(),
                                 nn.Linear(dim * mlp_ratio, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, d // self.heads) \
            .permute(2, 0, 3, 1, 4)
        attn = torch.softmax(q @ k.transpose(-2, -1) * (d // self.heads) ** -0.5, dim=-1)
        x = x + self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.norm2(x))


class TransformerMixer(nn.Module):
    """The original MobileViT global representation (the ``mixer=transformer`` ablation)."""

    def __init__(self, dim: int, depth: int, map_size: tuple[int, int], heads: int = 4) -> None:
        super().__init__()
        self.patch_size = patch_size_for(map_size)
        heads = heads if dim % heads == 0 else 1
        self.layers = nn.Sequential(*[TransformerLayer(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, d, h, w = x.shape
        p = self.patch_size
        # [B, d, h/p, p, w/p, p] -> [B*P, N, d]: attention runs over patches, per pixel position
        t = x.reshape(b, d, h // p, p, w // p, p).permute(0, 3, 5, 2, 4, 1)
        t = t.reshape(b * p * p, (h // p) * (w // p), d)
        t = self.norm(self.layers(t))
        t = t.reshape(b, p, p, h // p, w // p, d).permute(0, 5, 3, 1, 4, 2)
        return t.reshape(b, d, h, w)


class MobileViM(nn.Module):
    """Local 3x3 conv -> 1x1 up to ``dim`` -> global mixer -> 1x1 back -> concat input -> 3x3.

    ``mixer``: ``larm`` (the paper's), ``transformer`` (MobileViT) or ``none`` (local convs only).
    """

    def __init__(self, channels: int, dim: int, depth: int, map_size: tuple[int, int],
                 mixer: str = "larm", mlp_ratio: int = 2, act: str = "relu") -> None:
        super().__init__()
        self.local = ConvBNAct(channels, channels, 3, act=act)
        self.proj_in = nn.Conv2d(channels, dim, 1, bias=False)
        if mixer == "larm":
            self.mixer: nn.Module = LARMMixer(dim, depth, map_size, mlp_ratio, act)
        elif mixer == "transformer":
            self.mixer = TransformerMixer(dim, depth, map_size)
        elif mixer == "none":
            self.mixer = nn.Identity()
        else:
            raise ValueError(f"unknown mixer {mixer!r}; choose larm, transformer or none")
        self.proj_out = ConvBNAct(dim, channels, 1, act=act)
        self.fuse = ConvBNAct(2 * channels, channels, 3, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.proj_out(self.mixer(self.proj_in(self.local(x))))
        return self.fuse(torch.cat((x, y), dim=1))
