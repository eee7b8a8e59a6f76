"""Parameter and multiply-accumulate (MAC) counts. FLOPs are reported as 2 x MACs.

Counted, by forward hooks on one batch-1 forward pass (each call counted, so shared modules
and repeated calls add up):

- ``nn.Conv2d``: ``out_elements * in_channels / groups * kh * kw``;
- ``nn.ConvTranspose2d``: ``in_elements * out_channels / groups * kh * kw`` (every input pixel
  scatters a full kernel);
- ``nn.Linear``: ``out_elements * in_features``;
- ``torch.matmul`` / ``@`` / ``bmm`` inside the forward (attention): ``prod(out) * inner``, caught
  with a ``TorchFunctionMode`` while the model runs;
- functional ``F.conv2d`` calls (e.g. weight-shared grouped convs), also caught by that mode.

Not counted: biases, normalisation, activations, pooling, resampling, element-wise sums and
products. These are what the published Lite-HRNet / MobileNetV2 "FLOPs" figures (which are
really MACs) leave out or keep negligible too.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from lgmpose.defaults import INPUT_SIZE


@dataclass
class Complexity:
    params: int
    macs: int
    input_size: tuple[int, int]

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def as_dict(self) -> dict:
        return {**asdict(self), "input_size": list(self.input_size), "flops": self.flops}


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def _conv_macs(out: torch.Tensor, weight: torch.Tensor) -> int:
    # weight: [out, in/groups, kh, kw]; every output element needs in/groups*kh*kw MACs
    return _numel(out.shape) * _numel(weight.shape[1:])


class _FunctionalCounter(TorchFunctionMode):
    """Counts MACs of matmuls and functional convs that do not go through a counted module."""

    def __init__(self) -> None:
        super().__init__()
        self.macs = 0
        self.module_depth = 0  # >0 while inside a hooked module: its own call is counted there

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.module_depth:
            return out
        if func in (torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.bmm):
            self.macs += _numel(out.shape) * int(args[0].shape[-1])
        elif func is F.conv2d:
            self.macs += _conv_macs(out, args[1])
        return out


def count_complexity(model: nn.Module, input_size: Sequence[int] = INPUT_SIZE) -> Complexity:
    """Parameters and MACs of ``model`` for one ``[1, 3, H, W]`` image."""
    counter = _FunctionalCounter()
    module_macs = 0
    handles = []

    def pre(_module, _inputs):
        counter.module_depth += 1

    def post(module, inputs, output):
        nonlocal module_macs
        counter.module_depth -= 1
        if isinstance(module, nn.Conv2d):
            module_macs += _conv_macs(output, module.weight)
        elif isinstance(module, nn.ConvTranspose2d):
            module_macs += _numel(inputs[0].shape) * _numel(module.weight.shape[1:])
        elif isinstance(module, nn.Linear):
            module_macs += _numel(output.shape) * module.in_features

    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            handles.append(m.register_forward_pre_hook(pre))
            handles.append(m.register_forward_hook(post))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), counter:
            model(torch.zeros(1, 3, int(input_size[0]), int(input_size[1])))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return Complexity(params, module_macs + counter.macs, (int(input_size[0]), int(input_size[1])))
