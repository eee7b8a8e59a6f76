"""An exponential moving average of the weights being trained (``train.ema_decay``).

After every optimiser step the average moves towards the trained weights:
``ema = d * ema + (1 - d) * weights`` with ``d = min(decay, (1 + n) / (10 + n))`` at update ``n``,
so that the first updates, when the average would still be mostly the starting point, follow the
weights closely: until the decay is reached (after about 9,000 updates for 0.999) the average
spans roughly the last ``n / 9`` updates. BatchNorm statistics are averaged the same way; integer
buffers (batch counts) are copied. The average is what a run validates and what its checkpoints
hold as ``state_dict`` (so export, evaluation and ``train.init_from`` use it); the trained weights
themselves are kept beside it for ``--resume``.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from lgmpose.errors import LgmposeError

__all__ = ["WeightEma", "check_decay"]


def check_decay(decay: Any) -> float:
    """``train.ema_decay`` as a float; 0 means no average. Outside ``[0, 1)`` is refused."""
    try:
        value = float(decay or 0.0)
    except (TypeError, ValueError):
        raise LgmposeError(f"train.ema_decay must be a number in [0, 1), got {decay!r}") from None
    if not 0.0 <= value < 1.0:
        raise LgmposeError(f"train.ema_decay must be in [0, 1) (0 = off; 0.999 averages over "
                           f"about the last 1,000 iterations), got {decay!r}")
    return value


class WeightEma:
    """The running average of ``model``'s weights; ``model`` is a copy that is never trained."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = check_decay(decay)
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        weight = 1.0 - self.current_decay()
        source = model.state_dict()
        for name, average in self.model.state_dict().items():
            value = source[name].detach()
            if average.is_floating_point():
                average.lerp_(value.to(average.dtype), weight)
            else:
                average.copy_(value)

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "decay": self.decay}

    def load(self, weights: Mapping[str, torch.Tensor], state: Mapping[str, Any]) -> None:
        """Restore the average (``weights``, a model state dict) and its update count."""
        self.model.load_state_dict(weights)
        self.updates = int(state.get("updates", 0))
