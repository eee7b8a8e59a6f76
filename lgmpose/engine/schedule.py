"""Learning-rate schedules, stepped once per iteration: linear warm-up over the first iterations,
then either the standard top-down step decay at given epochs or a cosine decay to
``min_ratio`` x the base lr at the last iteration (better suited to short runs)."""
from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence

import torch

__all__ = ["lr_factor", "build_scheduler", "POLICIES"]

POLICIES = ("step", "cosine")


def lr_factor(iteration: int, iters_per_epoch: int, warmup_iters: int, warmup_ratio: float,
              steps: Sequence[int], gamma: float, policy: str = "step", total_iters: int = 0,
              min_ratio: float = 0.0) -> float:
    """Multiplier of the base lr at global ``iteration`` (0-based).

    Warm-up: from ``warmup_ratio`` to 1 linearly over ``warmup_iters`` iterations.
    ``step``: ``gamma ** (number of step epochs already reached)``, the epoch being
    ``iteration // iters_per_epoch``. ``cosine``: half a cosine from 1 after the warm-up down to
    ``min_ratio`` at ``total_iters``.
    """
    if policy == "cosine":
        span = max(total_iters - warmup_iters, 1)
        progress = min(max(iteration - warmup_iters, 0) / span, 1.0)
        factor = min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        epoch = iteration // max(iters_per_epoch, 1)
        factor = gamma ** bisect.bisect_right(sorted(steps), epoch)
    if warmup_iters > 0 and iteration < warmup_iters:
        factor *= warmup_ratio + (1.0 - warmup_ratio) * iteration / warmup_iters
    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, iters_per_epoch: int, warmup_iters: int,
                    warmup_ratio: float, steps: Sequence[int], gamma: float, policy: str = "step",
                    total_iters: int = 0, min_ratio: float = 0.0
                    ) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` over :func:`lr_factor`; its state (the iteration count) resumes exactly."""
    steps = [int(s) for s in steps]
    if policy not in POLICIES:
        from lgmpose.errors import LgmposeError

        raise LgmposeError(f"train.lr_policy {policy!r}: choose one of {', '.join(POLICIES)}")

    def factor(iteration: int) -> float:
        return lr_factor(iteration, iters_per_epoch, warmup_iters, warmup_ratio, steps, gamma,
                         policy, total_iters, min_ratio)

    fn: Callable[[int], float] = factor
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
