"""What the COCO and MPII datasets share: a list of person records and the top-down pipeline."""
from __future__ import annotations

import os

import numpy as np

from lgmpose.data import transforms as T
from lgmpose.data.image_io import read_image
from lgmpose.data.pipeline import TopDownPipeline
from lgmpose.errors import LgmposeError

__all__ = ["TopDownDataset"]

AUG_KEYS = ("flip_prob", "half_body_prob", "half_body_min_joints", "scale_factor", "rot_factor",
            "rot_prob", "shift_factor", "shift_prob", "color_prob", "color_strength",
            "occlusion_prob", "occlusion_max_area", "truncation_prob", "person_occlusion_prob",
            "person_occlusion_max_area")


class TopDownDataset:
    """A sequence of person crops; ``self.records`` is a list of dicts with ``image_file``,
    ``image_id``, ``center``, ``scale`` (image pixels), ``keypoints [K, 2]`` and
    ``keypoints_visible [K]`` (0-based image pixels), ``bbox`` (x, y, w, h), ``bbox_score``, ``ann_id``.

    ``dataset[i]`` uses the generator ``np.random.default_rng([seed, i])`` when training;
    ``get_sample(i, rng)`` takes the generator from the caller (the training loop seeds it from
    seed, epoch and index). NumPy arrays only: wrap in a torch DataLoader with a collate function.
    """

    records: list[dict]

    def __init__(self, metainfo, input_size, codec, train: bool, aug: dict | None, seed: int,
                 use_joint_weights: bool = False):
        aug = dict(aug or {})
        unknown = set(aug) - set(AUG_KEYS)
        if unknown:
            raise LgmposeError(f"unknown augmentation option(s) {sorted(unknown)}; "
                               f"known: {', '.join(AUG_KEYS)}")
        self.pipeline = TopDownPipeline(input_size=input_size, codec=codec, metainfo=metainfo,
                                        train=train, use_joint_weights=use_joint_weights, **aug)
        self.metainfo = self.pipeline.metainfo
        self.codec = self.pipeline.codec
        self.input_size = self.pipeline.input_size
        self.train = train
        self.seed = seed
        # soft targets: a TeacherHeatmaps store keyed by ann_id (set by the training set-up)
        self.teacher_heatmaps = None

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([int(self.seed), int(index)]) if self.train else None
        return self.get_sample(index, rng)

    def get_sample(self, index: int, rng: np.random.Generator | None = None) -> dict:
        """The sample dict of record ``index`` (see DEVELOPERS.md); raises LgmposeError naming the
        image file when it cannot be read."""
        record = self.records[index]
        image = read_image(record["image_file"])
        occluder = None
        if rng is not None and self.pipeline.person_occlusion_prob > 0 \
                and rng.random() < self.pipeline.person_occlusion_prob:
            occluder = self._occluder(index, rng)
        soft = None if self.teacher_heatmaps is None else \
            self.teacher_heatmaps.get(record.get("ann_id", -1))
        sample = self.pipeline(image, record["center"], record["scale"], record["keypoints"],
                               record["keypoints_visible"], rng=rng, occluder=occluder, soft=soft)
        sample.update({
            "index": int(index),
            "image_id": int(record["image_id"]),
            "ann_id": int(record.get("ann_id", -1)),
            "image_file": os.fspath(record["image_file"]),
            "bbox": np.asarray(record["bbox"], dtype=np.float32),
            "bbox_score": float(record["bbox_score"]),
            "area": float(np.prod(record["scale"])),
        })
        return sample

    def _occluder(self, index: int, rng: np.random.Generator) -> np.ndarray | None:
        """A piece of another record's person for the person-occlusion augmentation; None when
        there is no other record or its picture cannot be read (that record's own turn reports it)."""
        if len(self.records) < 2:
            return None
        other = int(rng.integers(len(self.records) - 1))
        record = self.records[other + (other >= index)]
        try:
            image = read_image(record["image_file"])
        except LgmposeError:
            return None
        return T.cut_occluder(image, record["keypoints"], record["keypoints_visible"],
                              record["bbox"], rng)
