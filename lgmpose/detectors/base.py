"""What a person detector is: a callable from a BGR image to person boxes and scores."""
from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = ["PersonDetector"]


class PersonDetector(Protocol):
    name: str

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``image`` BGR uint8 ``[H, W, 3]`` -> (boxes ``[N, 4]`` xywh float32, scores ``[N]``)."""
        ...
