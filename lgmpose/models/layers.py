"""Small building blocks shared by every network in :mod:`lgmpose.models`."""
from __future__ import annotations

import torch
from torch import nn

from lgmpose.defaults import CODEC_SIGMA


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` without losing more than 10%."""
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def make_act(name: str | None) -> nn.Module:
    """Activation by name. ReLU/ReLU6 fuse into the preceding Conv in ONNX Runtime; SiLU does not."""
    if name is None or name == "none":
        return nn.Identity()
    table = {"relu": nn.ReLU, "relu6": nn.ReLU6, "silu": nn.SiLU, "gelu": nn.GELU,
             "sigmoid": nn.Sigmoid, "hardswish": nn.Hardswish}
    if name not in table:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(table)}")
    return table[name](inplace=True) if name in ("relu", "relu6", "silu", "hardswish") else table[name]()


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) + BatchNorm + optional activation, 'same' padding for odd kernels."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1, act: str | None = "relu", norm: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                              groups=groups, bias=not norm)
        if norm:
            self.bn = nn.BatchNorm2d(out_channels)
        self.act = make_act(act)


class DeconvBNAct(nn.Sequential):
    """ConvTranspose2d 4x4 stride 2 (exact 2x upsampling) + BatchNorm + activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 4,
                 groups: int = 1, act: str | None = "relu") -> None:
        super().__init__()
        padding, output_padding = {4: (1, 0), 3: (1, 1), 2: (0, 0)}[kernel_size]
        self.deconv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=2,
                                         padding=padding, output_padding=output_padding,
                                         groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = make_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Training: ConvTranspose2d -> BN -> act. Eval, 2x2 kernel: the same function computed
        as one 1x1 convolution to 4x the channels (BN folded in) -> ``pixel_shuffle(2)``.

        A 2x2 stride-2 deconvolution writes each input pixel's ``W[ci, co, a, b]``-weighted sum
        to output pixel ``(2i + a, 2j + b)`` and nothing overlaps, so it is exactly a 1x1 conv
        with weight ``W'[4 co + 2a + b, ci] = W[ci, co, a, b]`` followed by depth-to-space
        (CRD order, which is ``pixel_shuffle``). That exports as Conv + DepthToSpace, both of
        which ONNX Runtime runs in int8, where it has no int8 ``ConvTranspose``. Parameters and
        state-dict keys are those of the ConvTranspose2d + BatchNorm2d.
        """
        if self.training or not self._is_shuffle():
            return self.act(self.bn(self.deconv(x)))
        weight, bias = self._shuffle_conv()
        y = nn.functional.conv2d(x, weight, bias)
        # the activation is elementwise, so it goes before the shuffle and fuses into the conv
        return nn.functional.pixel_shuffle(self.act(y), 2)

    def _is_shuffle(self) -> bool:
        """A plain 2x2 stride-2 deconvolution: exactly a 1x1 conv + pixel shuffle."""
        d = self.deconv
        return (d.kernel_size == (2, 2) and d.stride == (2, 2) and d.groups == 1
                and d.padding == (0, 0) and d.output_padding == (0, 0))

    def _folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The deconvolution's weight and bias with the eval-mode BatchNorm folded in."""
        deconv, bn = self.deconv, self.bn
        scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
        shift = bn.bias - bn.running_mean * scale
        if deconv.bias is not None:
            shift = shift + deconv.bias * scale
        return deconv.weight * scale[None, :, None, None], shift

    def _shuffle_conv(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight and bias of the 1x1 conv that, followed by ``pixel_shuffle(2)``, is this layer."""
        weight, shift = self._folded()
        cin, cout = weight.shape[:2]
        weight = weight.permute(1, 2, 3, 0).reshape(cout * 4, cin, 1, 1)
        return weight, shift.repeat_interleave(4)

    def export_module(self, precision: str, batch: int | None,
                      shape: tuple[int, ...]) -> nn.Module:
        """The inference graph to export (same function, BatchNorm folded into the weights).

        fp32: one ``ConvTranspose`` (ONNX Runtime runs it faster than the 1x1 conv +
        ``DepthToSpace`` of the eval path, whose stride-4 shuffle was the costliest node).
        int8: the 1x1 conv + ``DepthToSpace``, which ONNX Runtime runs in int8 where it has no
        int8 ``ConvTranspose``.
        """
        deconv = self.deconv
        with torch.no_grad():
            if precision == "int8" and self._is_shuffle():
                weight, bias = self._shuffle_conv()
                conv = nn.Conv2d(weight.shape[1], weight.shape[0], 1)
                conv.weight.copy_(weight)
                conv.bias.copy_(bias)
                return nn.Sequential(conv, self.act, nn.PixelShuffle(2))
            if deconv.groups != 1:
                return self
            weight, bias = self._folded()
            folded = nn.ConvTranspose2d(deconv.in_channels, deconv.out_channels,
                                        deconv.kernel_size, deconv.stride, deconv.padding,
                                        deconv.output_padding, bias=True)
            folded.weight.copy_(weight)
            folded.bias.copy_(bias)
        return nn.Sequential(folded, self.act)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand (skipped when t=1), 3x3 depthwise, 1x1 linear projection."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 expand_ratio: float = 6, act: str = "relu6") -> None:
        super().__init__()
        hidden = int(round(in_channels * expand_ratio))
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNAct(in_channels, hidden, 1, act=act))
        layers += [ConvBNAct(hidden, hidden, 3, stride, groups=hidden, act=act),
                   ConvBNAct(hidden, out_channels, 1, act=None)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.use_residual else out


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet channel shuffle: [g0c0, g0c1, .., g1c0, ..] -> [g0c0, g1c0, g0c1, g1c1, ..]."""
    b, c, h, w = x.shape
    return x.reshape(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def interleave(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``channel_shuffle(cat([a, b]), 2)`` written as stack + reshape.

    Same result, but it exports as Unsqueeze/Concat/Reshape instead of a 5-D Transpose, which is
    noticeably cheaper in ONNX Runtime on small maps.
    """
    n, c, h, w = a.shape
    return torch.stack((a, b), dim=2).reshape(n, 2 * c, h, w)


class SpatialSoftmax(nn.Module):
    """Turns per-keypoint logit maps into heatmaps: a softmax over each map's pixels, scaled so
    that a map equal to the normalised Gaussian target peaks at 1 like an MSRA target.

    Training mode returns the raw logits (the cross-entropy loss takes ``log_softmax`` of them,
    which stays finite where a softmax would underflow); eval mode (and so every export) returns
    ``peak_scale * softmax``. ``peak_scale`` is the sum of an unnormalised sigma-``s`` Gaussian,
    ``2 pi s^2``, so the decoded keypoint score is about 1 for a confident, target-shaped peak and
    falls as the prediction spreads out.
    """

    def __init__(self, sigma: float = CODEC_SIGMA) -> None:
        super().__init__()
        self.peak_scale = 2.0 * 3.141592653589793 * float(sigma) ** 2

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        if self.training:
            return logits
        b, k, h, w = logits.shape
        probs = torch.softmax(logits.reshape(b, k, h * w), dim=-1)
        return (probs * self.peak_scale).reshape(b, k, h, w)

    def export_module(self, precision: str, batch: int | None,
                      shape: tuple[int, ...]) -> nn.Module:
        """The same softmax with the map size fixed, so that a free batch axis exports as a
        constant reshape (-1 for the batch) instead of per-call shape arithmetic."""
        return _FixedSizeSoftmax(self.peak_scale, tuple(int(v) for v in shape[1:]))


class _FixedSizeSoftmax(nn.Module):
    def __init__(self, peak_scale: float, size: tuple[int, ...]) -> None:
        super().__init__()
        self.peak_scale = peak_scale
        self.size = size

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        k, h, w = self.size
        probs = torch.softmax(logits.reshape(-1, k, h * w), dim=-1)
        return (probs * self.peak_scale).reshape(-1, k, h, w)


def build_heatmap_norm(name: str | None, sigma: float = CODEC_SIGMA) -> nn.Module:
    """``"none"`` (the heatmaps are the head's output) or ``"softmax"`` (:class:`SpatialSoftmax`)."""
    if name in (None, "none"):
        return nn.Identity()
    if name == "softmax":
        return SpatialSoftmax(sigma)
    raise ValueError(f"unknown heatmap_norm {name!r}; choose 'none' or 'softmax'")
