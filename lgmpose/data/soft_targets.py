"""Soft targets: a teacher's stored heatmaps, resampled into a training crop's heatmap grid.

A folder of teacher heatmaps (written by ``lgmpose pseudo-label --heatmaps-of``) holds, per
annotation id, ``uint8 [K, s, s]`` maps and the affine map from image pixels to their cells.
:func:`resample_soft_targets` carries them through the same crop, rotation and flip as the picture,
so that the maps land where the keypoints land in the crop; a map whose mass mostly falls outside
the crop (the keypoint was cut away) gets weight 0.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from lgmpose.errors import LgmposeError

__all__ = ["TeacherHeatmaps", "resample_soft_targets", "MIN_COVERAGE"]

# a resampled map keeps weight only if at least this share of the teacher's mass is in the crop
MIN_COVERAGE = 0.5


class TeacherHeatmaps:
    """A folder of teacher heatmaps; ``get(ann_id)`` gives ``(heatmaps uint8 [K, s, s], matrix
    [2, 3] image pixels -> heatmap cells)`` or None for a person it does not hold."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        try:
            index = np.load(self.folder / "index.npz")
            self.matrices = np.asarray(index["matrix"], np.float64)
            self.rows = {int(a): i for i, a in enumerate(index["ann_id"])}
            shape = np.load(self.folder / "heatmaps.npy", mmap_mode="r").shape
        except (OSError, KeyError, ValueError) as error:
            raise LgmposeError(f"teacher heatmaps '{self.folder}': cannot read them ({error}); "
                               "write them with `lgmpose pseudo-label --heatmaps-of`") from None
        if len(shape) != 4 or shape[0] != len(self.rows):
            raise LgmposeError(f"teacher heatmaps '{self.folder}': maps of shape {shape} for "
                               f"{len(self.rows)} people")
        self._maps = None

    def __len__(self) -> int:
        return len(self.rows)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_maps"] = None           # each loader worker maps the file itself
        return state

    def get(self, ann_id: int) -> tuple[np.ndarray, np.ndarray] | None:
        row = self.rows.get(int(ann_id))
        if row is None:
            return None
        if self._maps is None:
            self._maps = np.load(self.folder / "heatmaps.npy", mmap_mode="r")
        return np.asarray(self._maps[row]), self.matrices[row]


def _as3x3(matrix: np.ndarray) -> np.ndarray:
    return np.vstack([np.asarray(matrix, np.float64).reshape(2, 3), [0.0, 0.0, 1.0]])


def resample_soft_targets(teacher_maps: np.ndarray, teacher_matrix: np.ndarray,
                          image_to_heatmap: np.ndarray, heatmap_size: Sequence[int],
                          flip_indices: Sequence[int] | None = None
                          ) -> tuple[np.ndarray, np.ndarray]:
    """``teacher_maps [K, s, s]`` (uint8 or float) whose cells are ``teacher_matrix @ [x, y, 1]``
    of image pixel ``(x, y)`` -> ``(maps float32 [K, h, w], weight float32 [K])`` on the grid whose
    cells are ``image_to_heatmap @ [x, y, 1]``. ``flip_indices``: the crop was mirrored, so map
    ``j`` becomes keypoint ``flip_indices[j]``'s. A map whose resampled mass is under
    :data:`MIN_COVERAGE` of its own gets weight 0 (and is left as resampled)."""
    h, w = int(heatmap_size[0]), int(heatmap_size[1])
    teacher_maps = np.asarray(teacher_maps)
    maps = teacher_maps.astype(np.float32)
    if teacher_maps.dtype == np.uint8:
        maps /= 255.0
    combined = _as3x3(image_to_heatmap) @ np.linalg.inv(_as3x3(teacher_matrix))
    affine = combined[:2]
    out = np.empty((maps.shape[0], h, w), np.float32)
    for j in range(maps.shape[0]):
        out[j] = cv2.warpAffine(maps[j], affine, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    # each output cell covers 1/|det| teacher cells: mass in the crop over the teacher's mass
    cell_area = 1.0 / max(abs(float(np.linalg.det(affine[:, :2]))), 1e-12)
    total = maps.reshape(maps.shape[0], -1).sum(axis=1)
    inside = out.reshape(out.shape[0], -1).sum(axis=1) * cell_area
    weight = (inside >= MIN_COVERAGE * np.maximum(total, 1e-6)).astype(np.float32)
    if flip_indices is not None:
        index = np.asarray(flip_indices)
        out, weight = out[index], weight[index]
    return out, weight
