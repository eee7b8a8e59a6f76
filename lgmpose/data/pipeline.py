"""The top-down sample: crop a person, augment (training), encode targets, normalise.

Shared by the COCO and MPII datasets; everything random comes from the ``rng`` passed in, so a
sample is a pure function of ``(record, rng)`` (the training loop seeds it from seed, epoch, index).
"""
from __future__ import annotations

import numpy as np

from lgmpose.codecs import HeatmapCodec, build_codec
from lgmpose.data import transforms as T
from lgmpose.data.crops import crop_image, crop_matrix
from lgmpose.data.metainfo import MetaInfo, load_metainfo
from lgmpose.defaults import CODEC, INPUT_SIZE

__all__ = ["TopDownPipeline"]


class TopDownPipeline:
    """``input_size=(H, W)``; ``codec`` (a codec, a name, a dict, or None: no targets).

    Augmentation (``train=True``), with the keys of a config's ``data.aug`` section: ``flip_prob``,
    ``half_body_prob``, ``half_body_min_joints`` (more visible joints than this are needed),
    ``scale_factor``, ``rot_factor``, ``rot_prob``, ``shift_factor``, ``shift_prob``,
    ``color_prob``, ``color_strength`` (brightness/contrast/saturation), ``occlusion_prob``,
    ``occlusion_max_area`` (a noise rectangle over part of the crop), ``truncation_prob`` (the
    person cut off by a picture border, see :func:`lgmpose.data.transforms.random_truncation`),
    ``person_occlusion_prob`` and ``person_occlusion_max_area`` (a piece of another person's picture
    pasted over part of the crop; the dataset cuts it and passes it as ``occluder``); the
    occlusion and truncation options default to off.
    ``use_joint_weights`` multiplies the target weights by the metainfo's joint weights.
    """

    def __init__(self, input_size=INPUT_SIZE, codec: HeatmapCodec | str | dict | None = CODEC,
                 metainfo: MetaInfo | str = "coco", train: bool = False, flip_prob: float = 0.5,
                 half_body_prob: float = 0.3, half_body_min_joints: int = 8,
                 scale_factor: float = 0.35, rot_factor: float = 45.0, rot_prob: float = 0.6,
                 shift_factor: float = 0.0, shift_prob: float = 0.3,
                 color_prob: float = 0.0, color_strength: float = 0.3,
                 occlusion_prob: float = 0.0, occlusion_max_area: float = 0.15,
                 truncation_prob: float = 0.0, person_occlusion_prob: float = 0.0,
                 person_occlusion_max_area: float = 0.25, use_joint_weights: bool = False,
                 udp: bool | None = None):
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.codec = None if codec is None else build_codec(codec, input_size=self.input_size) \
            if not isinstance(codec, HeatmapCodec) else codec
        self.metainfo = load_metainfo(metainfo)
        self.train = train
        self.flip_prob, self.half_body_prob = flip_prob, half_body_prob
        self.half_body_min_joints = half_body_min_joints
        self.scale_factor, self.rot_factor, self.rot_prob = scale_factor, rot_factor, rot_prob
        self.shift_factor, self.shift_prob = shift_factor, shift_prob
        self.color_prob, self.color_strength = color_prob, color_strength
        self.occlusion_prob, self.occlusion_max_area = occlusion_prob, occlusion_max_area
        self.truncation_prob = truncation_prob
        self.person_occlusion_prob = person_occlusion_prob
        self.person_occlusion_max_area = person_occlusion_max_area
        self.use_joint_weights = use_joint_weights
        self.udp = bool(self.codec.udp) if udp is None and self.codec is not None else bool(udp)
        self.aspect_ratio = self.input_size[1] / self.input_size[0]
        self.soft_targets = False    # set by the training set-up when teacher heatmaps are used

    def __call__(self, image: np.ndarray, center, scale, keypoints=None, visible=None,
                 rng: np.random.Generator | None = None,
                 occluder: np.ndarray | None = None,
                 soft: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
        """One sample. ``soft``: a teacher's heatmaps of this person and their image-to-cell
        matrix (:class:`~lgmpose.data.soft_targets.TeacherHeatmaps`), resampled into the
        sample's ``soft_heatmaps`` / ``soft_weight`` when :attr:`soft_targets` is on (zeros where
        a person has none, so that every sample of a batch has the keys)."""
        k = self.metainfo.num_keypoints
        center = np.asarray(center, dtype=np.float32).copy()
        scale = np.asarray(scale, dtype=np.float32).copy()
        keypoints = np.zeros((k, 2), np.float32) if keypoints is None else \
            np.asarray(keypoints, dtype=np.float32).reshape(k, 2)
        visible = np.zeros(k, np.float32) if visible is None else \
            (np.asarray(visible).reshape(k) > 0).astype(np.float32)
        rotation, flip, shift, cut = 0.0, False, np.zeros(2, np.float32), None
        uncut = visible
        if self.train:
            rng = rng if rng is not None else np.random.default_rng()
            half_body = False
            if self.half_body_prob > 0 and rng.random() < self.half_body_prob:
                ids = T.select_half_body(visible, self.metainfo.upper_body_ids,
                                         self.metainfo.lower_body_ids, rng,
                                         min_total=self.half_body_min_joints + 1)
                if ids is not None and len(ids) >= 2:
                    center, scale = T.half_body_center_scale(keypoints, ids, self.aspect_ratio)
                    half_body = True
            if self.truncation_prob > 0 and not half_body:
                center, scale, visible, cut = T.random_truncation(
                    keypoints, visible, center, scale, self.aspect_ratio, rng,
                    self.truncation_prob)
            factor, rotation = T.random_scale_rotation(rng, self.scale_factor, self.rot_factor,
                                                       self.rot_prob)
            scale = scale * factor
            shift = T.random_shift(rng, self.shift_factor, self.shift_prob)
            flip = self.flip_prob > 0 and rng.random() < self.flip_prob
        matrix = crop_matrix(center, scale, self.input_size, udp=self.udp, rot=rotation,
                             shift=shift, flip=flip)
        crop = crop_image(image, matrix, self.input_size)
        if self.train:
            crop = T.blank_beyond_cut(crop, matrix, cut)
            crop = T.random_color(crop, rng, self.color_strength, self.color_prob)
            crop = T.random_occlusion(crop, rng, self.occlusion_prob, self.occlusion_max_area)
            crop = T.paste_occluder(crop, occluder, rng, self.person_occlusion_max_area)
        crop_keypoints = T.transform_points(keypoints, matrix)
        cut_away = uncut > visible          # keypoints the truncation blanked out
        if flip:
            index = np.asarray(self.metainfo.flip_indices)
            crop_keypoints, visible = crop_keypoints[index], visible[index]
        sample = {
            "image": T.normalize_image(crop),
            "keypoints": crop_keypoints.astype(np.float32),
            "keypoints_visible": visible.astype(np.float32),
            "center": (center + shift * scale).astype(np.float32),
            "scale": scale.astype(np.float32),
            "rotation": np.float32(rotation),
            "flipped": bool(flip),
        }
        if self.codec is not None and self.soft_targets:
            sample.update(self._soft(soft, matrix, flip, cut_away))
        if self.codec is not None:
            heatmaps, weights = self.codec.encode(crop_keypoints, visible)
            if self.use_joint_weights:
                weights = weights * self.metainfo.joint_weights
            sample["heatmaps"] = heatmaps
            sample["target_weight"] = weights.astype(np.float32)
        return sample

    def _soft(self, soft, matrix: np.ndarray, flip: bool, cut_away: np.ndarray) -> dict:
        from lgmpose.data.soft_targets import resample_soft_targets

        k = self.metainfo.num_keypoints
        h, w = self.codec.heatmap_size
        if soft is None:
            return {"soft_heatmaps": np.zeros((k, h, w), np.float32),
                    "soft_weight": np.zeros(k, np.float32)}
        factor = self.codec.to_heatmap(np.ones((1, 2)))[0]       # input pixels -> cells
        to_cells = np.asarray(matrix, np.float64).reshape(2, 3) * factor[:, None]
        maps, weight = resample_soft_targets(
            soft[0], soft[1], to_cells, (h, w),
            self.metainfo.flip_indices if flip else None)
        cut_away = cut_away[np.asarray(self.metainfo.flip_indices)] if flip else cut_away
        weight[np.asarray(cut_away, bool)] = 0.0     # the crop blanked them out
        return {"soft_heatmaps": maps, "soft_weight": weight}
