"""The learning-rate schedule of the standard top-down recipe: linear warm-up over the first
iterations, then step decay at given epochs. Stepped once per iteration."""
from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence

import torch

__all__ = ["lr_factor", "build_scheduler"]


def lr_factor(iteration: int, iters_per_epoch: int, warmup_iters: int, warmup_ratio: float,
              steps: Sequence[int], gamma: float) -> float:
    """Multiplier of the base lr at global ``iteration`` (0-based).

    Warm-up: from ``warmup_ratio`` to 1 linearly over ``warmup_iters`` iterations.
    Decay: ``gamma ** (number of step epochs already reached)``, the epoch being
    ``iteration // iters_per_epoch``.
    """
    epoch = iteration // max(iters_per_epoch, 1)
    factor = gamma ** bisect.bisect_right(sorted(steps), epoch)
    if warmup_iters > 0 and iteration < warmup_iters:
        factor *= warmup_ratio + (1.0 - warmup_ratio) * iteration / warmup_iters
    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, iters_per_epoch: int, warmup_iters: int,
                    warmup_ratio: float, steps: Sequence[int], gamma: float
                    ) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` over :func:`lr_factor`; its state (the iteration count) resumes exactly."""
    steps = [int(s) for s in steps]

    def factor(iteration: int) -> float:
        return lr_factor(iteration, iters_per_epoch, warmup_iters, warmup_ratio, steps, gamma)

    fn: Callable[[int], float] = factor
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
