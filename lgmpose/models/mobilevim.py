"""MobileViM block: the MobileViT block with its Transformer replaced by LARM.

LARM (Lightweight Attentional Representation Module) mixes information *within* 2x2 patches and
*between* patches with non-parametric transformation operations (NPT-Ops: unfold, transpose,
fold) and two MLP blocks, and no self-attention.

Layout decision (the reason this file looks the way it does): a literal LARM permutes
[B, d, H, W] into [B, d, P, N] and back around LayerNorms, and those transposes dominate CPU
latency. Here the NPT-Ops keep the data contiguous and cost one ONNX op each:

- *unfold* is space-to-depth: [B, d, H, W] -> [B, P*d, h, w] (P = p*p pixels per patch,
  N = h*w patches), exported as a single ``SpaceToDepth``; viewed as [B, P, d, N] for free;
- the within-patch MLP mixes the P axis with weights shared by all d channels and N patches:
  two small matrix products on that view (BatchNorm after the first one folds into it);
- *transpose* (N becomes the mixed axis) is free in this layout: N is already the last axis, so
  the between-patch MLP is two Linear layers along it, shared by all P*d rows;
- *fold* is the inverse, a single ``DepthToSpace``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from lgmpose.models.layers import ConvBNAct, make_act


def patch_size_for(map_size: tuple[int, int], preferred: int = 2) -> int:
    """2x2 patches when the map divides evenly, else 1x1 (e.g. 12x9 at stride 32 for 384x288)."""
    h, w = map_size
    return preferred if h % preferred == 0 and w % preferred == 0 else 1


def _space_to_depth(x: torch.Tensor, p: int) -> torch.Tensor:
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(b, p * p * c, h // p, w // p)


def _depth_to_space(x: torch.Tensor, p: int) -> torch.Tensor:
    b, c, h, w = x.shape
    x = x.reshape(b, p, p, c // (p * p), h, w).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(b, c // (p * p), h * p, w * p)


class _SpaceToDepth(torch.autograd.Function):
    """Block-major space-to-depth (ONNX ``SpaceToDepth`` semantics) that exports as one op."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: int) -> torch.Tensor:
        ctx.p = p
        return _space_to_depth(x, p)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _depth_to_space(grad, ctx.p), None

    @staticmethod
    def symbolic(g, x, p):
        return g.op("SpaceToDepth", x, blocksize_i=p)


class _DepthToSpace(torch.autograd.Function):
    """Inverse of :class:`_SpaceToDepth` (ONNX ``DepthToSpace``, mode DCR)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: int) -> torch.Tensor:
        ctx.p = p
        return _depth_to_space(x, p)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _space_to_depth(grad, ctx.p), None

    @staticmethod
    def symbolic(g, x, p):
        return g.op("DepthToSpace", x, blocksize_i=p, mode_s="DCR")


class PatchUnfold(nn.Module):
    """NPT-Op unfold: [B, d, H, W] -> [B, P, d, N] (no weights; one SpaceToDepth + a view)."""

    def __init__(self, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, d, h, w = x.shape
        p = self.patch_size
        if p > 1:
            x = _SpaceToDepth.apply(x, p)
        return x.reshape(b, p * p, d, (h // p) * (w // p))


class PatchFold(nn.Module):
    """NPT-Op fold, the inverse of :class:`PatchUnfold`, back to [B, d, H, W]."""

    def __init__(self, patch_size: int, map_size: tuple[int, int]) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.grid = (map_size[0] // patch_size, map_size[1] // patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, pp, d, _ = x.shape
        x = x.reshape(b, pp * d, *self.grid)
        return _DepthToSpace.apply(x, self.patch_size) if self.patch_size > 1 else x


class WithinPatchMLP(nn.Module):
    """MLP block 1: residual MLP along the P pixels of each patch, shared across channels.

    On the [B, P, d, N] view, viewed again as [B, P, d*N], the MLP is ``W2 @ relu(BN(W1 @ x))``
    with [P*r, P] and [P, P*r] weights: two small matrix products, no layout change. In eval mode
    the BatchNorm is folded into ``W1`` on the fly, so export constant-folds it away.
    """

    def __init__(self, patch_pixels: int, ratio: int = 2, act: str = "relu") -> None:
        super().__init__()
        hidden = patch_pixels * ratio
        self.fc1 = nn.Parameter(torch.empty(hidden, patch_pixels))
        self.norm = nn.BatchNorm1d(hidden)
        self.act = make_act(act)
        self.fc2 = nn.Parameter(torch.empty(patch_pixels, hidden))
        nn.init.kaiming_uniform_(self.fc1, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.fc2, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, pp, d, n = x.shape
        flat = x.reshape(b, pp, d * n)
        if self.training:
            h = self.norm(self.fc1 @ flat)
        else:
            bn = self.norm
            scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
            shift = bn.bias - bn.running_mean * scale
            h = (self.fc1 * scale[:, None]) @ flat + shift[:, None]
        return x + (self.fc2 @ self.act(h)).reshape(b, pp, d, n)


class BetweenPatchMLP(nn.Module):
    """MLP block 2: residual MLP along the N patches (global mixing), shared across rows.

    Hidden width about N/2. No normalisation here: a norm over rows cannot fold into a Linear
    along N, and the within-patch MLP before it is already batch-normalised.
    """

    def __init__(self, num_patches: int, hidden: int, act: str = "relu") -> None:
        super().__init__()
        self.fc1 = nn.Linear(num_patches, hidden)
        self.act = make_act(act)
        self.fc2 = nn.Linear(hidden, num_patches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # on a 2-D [rows, N] view the Linears export as plain Gemm with the weight on the right,
        # which ONNX Runtime's int8 graph runs as QGemm without reshapes around it
        rows = x.reshape(-1, x.shape[-1])
        return (rows + self.fc2(self.act(self.fc1(rows)))).reshape(x.shape)


class LARM(nn.Module):
    """One LARM on the unfolded [B, P, d, N] view: within-patch MLP, then between-patch MLP."""

    def __init__(self, patch_size: int, num_patches: int, mlp_ratio: int = 2,
                 hidden_patches: int | None = None, act: str = "relu") -> None:
        super().__init__()
        hidden = hidden_patches or max(4, num_patches // 2)
        self.within = WithinPatchMLP(patch_size * patch_size, mlp_ratio, act)
        self.between = BetweenPatchMLP(num_patches, hidden, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.between(self.within(x))


class LARMMixer(nn.Module):
    """Unfold once, apply ``depth`` LARMs, fold once (as MobileViT does around its Transformer)."""

    def __init__(self, depth: int, map_size: tuple[int, int], mlp_ratio: int = 2,
                 act: str = "relu") -> None:
        super().__init__()
        p = patch_size_for(map_size)
        num_patches = (map_size[0] // p) * (map_size[1] // p)
        self.unfold = PatchUnfold(p)
        self.blocks = nn.Sequential(*[LARM(p, num_patches, mlp_ratio, act=act)
                                      for _ in range(depth)])
        self.fold = PatchFold(p, map_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fold(self.blocks(self.unfold(x)))

    def export_module(self, precision: str, batch: int | None,
                      shape: tuple[int, ...]) -> nn.Module:
        """The graph to export: :class:`LARMMixerExport` for fp32; for int8 the eval graph,
        whose matrix products ONNX Runtime's quantiser handles (residuals as separate adds)."""
        if precision == "int8":
            return self
        return LARMMixerExport(self, int(shape[1]), batch)


class LARMMixerExport(nn.Module):
    """Export form of :class:`LARMMixer`: the same function in fewer ONNX operators.

    - every shape is a constant (-1 for the batch), so a free batch axis adds no shape arithmetic;
    - BatchNorm folded into the within-patch weights once, not per call;
    - each residual add goes into the ``C`` input of the ``Gemm`` that precedes it
      (``Gemm(A, B, C) = A @ B + C``); the between-patch output bias rides on an extra hidden
      unit that is constant 1 (a zero weight row with bias 1, which ReLU passes unchanged);
    - at batch 1 the within-patch products run on a 2-D [P, d*N] view as ``Gemm`` too.

    The values are those of the eval graph up to float rounding (the additions happen inside the
    matrix products instead of after them).
    """

    def __init__(self, mixer: LARMMixer, dim: int, batch: int | None) -> None:
        super().__init__()
        p = mixer.unfold.patch_size
        self.patch_size, self.grid, self.dim = p, mixer.fold.grid, dim
        self.patches = self.grid[0] * self.grid[1]
        self.two_d = batch == 1
        self.acts = nn.ModuleList()
        self.within = nn.ParameterList()
        self.between = nn.ParameterList()
        self.bias_unit: list[bool] = []
        with torch.no_grad():
            for block in mixer.blocks:
                within, between = block.within, block.between
                bn = within.norm
                scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
                shift = bn.bias - bn.running_mean * scale
                self.within.extend([within.fc1 * scale[:, None], shift[:, None],
                                    within.fc2.clone()])
                # an always-1 hidden unit carries fc2's bias only if act(1) == 1 exactly
                unit = bool(between.act(torch.ones(1)).item() == 1.0)
                w1, b1 = between.fc1.weight, between.fc1.bias
                w2, b2 = between.fc2.weight, between.fc2.bias
                if unit:
                    w1 = torch.cat((w1, torch.zeros_like(w1[:1])))
                    b1 = torch.cat((b1, torch.ones_like(b1[:1])))
                    w2 = torch.cat((w2, b2[:, None]), dim=1)
                self.between.extend([w1.t().contiguous(), b1.clone(), w2.t().contiguous(),
                                     b2.clone()])
                self.bias_unit.append(unit)
                self.acts.extend([within.act, between.act])
        for param in self.parameters():
            param.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p, d, n = self.patch_size, self.dim, self.patches
        pp = p * p
        if p > 1:
            x = _SpaceToDepth.apply(x, p)
        view = (pp, d * n) if self.two_d else (-1, pp, d * n)
        x = x.reshape(view)
        for i, unit in enumerate(self.bias_unit):
            w1, b1, w2 = self.within[3 * i: 3 * i + 3]
            v1, c1, v2, c2 = self.between[4 * i: 4 * i + 4]
            act_within, act_between = self.acts[2 * i], self.acts[2 * i + 1]
            if self.two_d:
                x = torch.addmm(x, w2, act_within(torch.addmm(b1, w1, x)))
            else:
                x = torch.matmul(w2, act_within(torch.matmul(w1, x) + b1)) + x
            rows = x.reshape(-1, n)
            rows = torch.addmm(rows, act_between(torch.addmm(c1, rows, v1)), v2)
            x = (rows if unit else rows + c2).reshape(view)
        x = x.reshape(-1, pp * d, *self.grid)
        return _DepthToSpace.apply(x, p) if p > 1 else x


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
    ``conv``: ``full`` 3x3 convolutions as in MobileViT, or ``separable`` (depthwise 3x3 + 1x1),
    which costs about a third of the time on CPU at the same receptive field.
    """

    def __init__(self, channels: int, dim: int, depth: int, map_size: tuple[int, int],
                 mixer: str = "larm", mlp_ratio: int = 2, act: str = "relu",
                 conv: str = "full") -> None:
        super().__init__()
        c2 = 2 * channels
        if conv == "full":
            self.local = ConvBNAct(channels, channels, 3, act=act)
            self.fuse = ConvBNAct(c2, channels, 3, act=act)
        elif conv == "separable":
            self.local = ConvBNAct(channels, channels, 3, groups=channels, act=act)
            self.fuse = nn.Sequential(ConvBNAct(c2, c2, 3, groups=c2, act=None),
                                      ConvBNAct(c2, channels, 1, act=act))
        else:
            raise ValueError(f"unknown MobileViM conv {conv!r}; choose full or separable")
        self.proj_in = nn.Conv2d(channels, dim, 1, bias=False)
        if mixer == "larm":
            self.mixer: nn.Module = LARMMixer(depth, map_size, mlp_ratio, act)
        elif mixer == "transformer":
            self.mixer = TransformerMixer(dim, depth, map_size)
        elif mixer == "none":
            self.mixer = nn.Identity()
        else:
            raise ValueError(f"unknown mixer {mixer!r}; choose larm, transformer or none")
        self.proj_out = ConvBNAct(dim, channels, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.proj_out(self.mixer(self.proj_in(self.local(x))))
        return self.fuse(torch.cat((x, y), dim=1))
