"""Loading for training: reproducible per-sample randomness, corrupt-image skipping, batching.

Exact resume needs the n-th sample of epoch e to be the same whatever happened before, so
randomness is never taken from a stream that depends on history: the sampler draws its order from
``(seed, epoch)`` and every sample draws its augmentation from ``(seed, epoch, index)``. The
sampler hands the dataset ``(epoch, index)`` pairs, which also works with persistent workers.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from lgmpose.errors import LgmposeError

__all__ = ["EpochSampler", "SkippingDataset", "collate", "sample_rng", "weighted_epoch"]

# key of a batch that lists the files skipped while building it
SKIPPED = "skipped_files"


def sample_rng(seed: int, epoch: int, index: int, draw: int = 0) -> np.random.Generator:
    """The generator of one sample; ``draw`` tells apart repeats of an index within one epoch."""
    key = [int(seed), int(epoch), int(index)] + ([int(draw)] if draw else [])
    return np.random.default_rng(key)


def weighted_epoch(sizes: Sequence[int], weights: Sequence[float], seed: int,
                   epoch: int) -> list[tuple[int, int]]:
    """One epoch over concatenated sources, source ``i`` drawn ``weights[i] * sizes[i]`` times:
    whole passes over it plus a random subset for the fraction. ``(index, draw)`` pairs in a
    random order that depends only on ``(seed, epoch)``."""
    rng = np.random.default_rng([int(seed), int(epoch), 7919])
    picks: list[tuple[int, int]] = []
    offset = 0
    for size, weight in zip(sizes, weights):
        whole, fraction = divmod(float(weight) * size, size) if size else (0, 0)
        for draw in range(int(whole)):
            picks += [(offset + i, draw) for i in range(size)]
        extra = rng.choice(size, size=int(round(fraction)), replace=False) if size else []
        picks += [(offset + int(i), int(whole)) for i in extra]
        offset += size
    order = rng.permutation(len(picks))
    return [picks[i] for i in order]


class EpochSampler(Sampler):
    """Yields ``(epoch, index)`` for one epoch of a (distributed) sampler, optionally skipping
    the first ``skip`` positions (to resume in the middle of an epoch)."""

    def __init__(self, size: int, shuffle: bool, seed: int, rank: int = 0, world_size: int = 1,
                 drop_last: bool = False, source_sizes: Sequence[int] | None = None,
                 source_weights: Sequence[float] | None = None) -> None:
        self.weighted = source_weights is not None and any(w != 1 for w in source_weights)
        if self.weighted:
            self.sizes, self.weights = list(source_sizes), list(source_weights)
            total = len(weighted_epoch(self.sizes, self.weights, seed, 0))
            self.seed, self.rank, self.world_size = seed, rank, world_size
            size = total
        self.inner = DistributedSampler(range(size), num_replicas=world_size, rank=rank,
                                        shuffle=shuffle, seed=seed, drop_last=drop_last)
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch = epoch
        self.skip = skip
        self.inner.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        if self.weighted:
            picks = weighted_epoch(self.sizes, self.weights, self.seed, self.epoch)
            for position, slot in enumerate(self.inner):
                if position >= self.skip:
                    index, draw = picks[int(slot)]
                    yield self.epoch, index, draw
            return
        for position, index in enumerate(self.inner):
            if position >= self.skip:
                yield self.epoch, int(index)

    def __len__(self) -> int:
        return max(len(self.inner) - self.skip, 0)


class SkippingDataset(Dataset):
    """Wraps a dataset whose ``getter(index, rng)`` returns a sample dict.

    An :class:`LgmposeError` (unreadable or corrupt image: the message names the file) makes it
    move on to the next index; the sample then carries the skipped message under ``skipped_files``
    so that the main process can report each file once. Files already found bad in this process
    are not read again.
    """

    def __init__(self, getter: Callable[[int, np.random.Generator], dict[str, Any]], size: int,
                 seed: int, max_tries: int = 32) -> None:
        self.getter = getter
        self.size = size
        self.seed = seed
        self.max_tries = max_tries
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key: tuple[int, ...] | int) -> dict[str, Any]:
        epoch, index, draw = (tuple(key) + (0,))[:3] if isinstance(key, tuple) else (0, key, 0)
        skipped: list[str] = []
        for attempt in range(min(self.max_tries, self.size)):
            current = (index + attempt) % self.size
            if current in self._bad:
                continue
            rng = sample_rng(self.seed, epoch, current, draw)
            # Anything that still draws from the global generators is pinned as well.
            random.seed(int(rng.integers(2**31)))
            np.random.seed(int(rng.integers(2**31)))
            try:
                sample = dict(self.getter(current, rng))
            except LgmposeError as error:
                self._bad.add(current)
                skipped.append(str(error))
                continue
            sample[SKIPPED] = skipped
            return sample
        raise LgmposeError(f"{len(skipped)} samples in a row could not be read; last: "
                           f"{skipped[-1] if skipped else 'unknown'}")


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack the arrays of a list of sample dicts; other values become lists."""
    out: dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        if key == SKIPPED:
            out[key] = [msg for v in values for msg in v]
        elif isinstance(values[0], np.ndarray):
            out[key] = torch.from_numpy(np.stack(values))
        elif isinstance(values[0], (int, float, np.integer, np.floating)) and not isinstance(
                values[0], bool):
            out[key] = torch.as_tensor(np.asarray(values))
        else:
            out[key] = values
    return out
