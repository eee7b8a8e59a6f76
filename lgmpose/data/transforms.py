"""Top-down geometry: box -> (center, scale) -> affine crop, and the seeded random augmentations.

Conventions shared by training, evaluation and inference (NumPy/OpenCV only, never torch):

* points are ``(x, y)`` in pixels, pixel centres at integer coordinates (OpenCV's convention);
* a crop is ``center`` (x, y) and ``scale`` (w, h) in image pixels: the region of the image that fills
  the model input (already padded and fixed to the input aspect ratio);
* sizes are ``(H, W)``, the same order as ``input_size`` everywhere in lgmpose;
* ``rot`` is in degrees; a positive angle turns the image content counter-clockwise in the crop.

Two warps exist. The standard one (HRNet/SimpleBaseline) maps the crop centre to ``(W/2, H/2)`` and
``scale`` to ``W`` pixels. The unbiased one of UDP (Huang et al., CVPR 2020) maps it to
``((W-1)/2, (H-1)/2)`` and ``scale`` to ``W-1`` pixel intervals, which keeps flipped crops and
resized heatmaps aligned; use it with the ``udp`` codec.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from lgmpose.defaults import BOX_PADDING

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "box_to_center_scale", "fix_aspect_ratio",
    "get_affine_transform", "warp_affine", "transform_points", "flip_matrix",
    "flip_keypoints", "random_scale_rotation", "random_shift", "half_body_center_scale",
    "select_half_body", "normalize_image", "random_truncation", "cut_box", "blank_beyond_cut",
    "cut_occluder", "paste_occluder",
]

# The one definition of the input normalisation (RGB, 0-255 scale); exports store these values.
MEAN_RGB = (123.675, 116.28, 103.53)
STD_RGB = (58.395, 57.12, 57.375)
IMAGENET_MEAN = np.array(MEAN_RGB, dtype=np.float32)
IMAGENET_STD = np.array(STD_RGB, dtype=np.float32)


def fix_aspect_ratio(scale: np.ndarray, aspect_ratio: float) -> np.ndarray:
    """Grow the shorter side of ``scale[..., (w, h)]`` so that ``w / h == aspect_ratio``."""
    scale = np.asarray(scale, dtype=np.float32)
    w, h = scale[..., 0], scale[..., 1]
    wider = w > aspect_ratio * h
    return np.stack([np.where(wider, w, h * aspect_ratio),
                     np.where(wider, w / aspect_ratio, h)], axis=-1).astype(np.float32)


def box_to_center_scale(box_xywh, aspect_ratio: float, padding: float = BOX_PADDING):
    """``[x, y, w, h]`` (or ``[N, 4]``) -> ``center (x, y)``, ``scale (w, h)``, both float32.

    ``aspect_ratio`` is the model input's ``W / H`` (0.75 for 256x192). The box is first fixed to that
    ratio by growing its shorter side, then multiplied by ``padding``.
    """
    box = np.asarray(box_xywh, dtype=np.float32)
    center = box[..., :2] + box[..., 2:4] * 0.5
    scale = fix_aspect_ratio(box[..., 2:4], aspect_ratio) * padding
    return center.astype(np.float32), scale.astype(np.float32)


def get_affine_transform(center, scale, rot: float, output_size: Sequence[int], inv: bool = False,
                         udp: bool = False, shift=(0.0, 0.0)) -> np.ndarray:
    """The 2x3 matrix taking image points to crop points (``inv=True``: crop to image).

    ``output_size`` is ``(H, W)``; ``shift`` moves the crop centre by a fraction of ``scale``.
    """
    out_h, out_w = output_size
    cx, cy = (np.asarray(center, dtype=np.float64)
              + np.asarray(shift, dtype=np.float64) * np.asarray(scale, dtype=np.float64)[:2])
    scale_w, scale_h = float(scale[0]), float(scale[1])
    if udp:
        sx, sy = (out_w - 1.0) / scale_w, (out_h - 1.0) / scale_h
        dst_cx, dst_cy = (out_w - 1.0) * 0.5, (out_h - 1.0) * 0.5
    else:
        # The standard warp: one factor from the width (the aspect ratio is already fixed).
        sx = sy = out_w / scale_w
        dst_cx, dst_cy = out_w * 0.5, out_h * 0.5
    angle = math.radians(rot)
    cs, sn = math.cos(angle), math.sin(angle)
    # crop = S * R(-rot) * (p - c) + dst_c, in image axes (y down)
    linear = np.array([[sx * cs, sx * sn], [-sy * sn, sy * cs]], dtype=np.float64)
    matrix = np.empty((2, 3), dtype=np.float64)
    matrix[:, :2] = linear
    matrix[:, 2] = np.array([dst_cx, dst_cy]) - linear @ np.array([cx, cy])
    if inv:
        matrix = cv2.invertAffineTransform(matrix)
    return matrix


def flip_matrix(matrix: np.ndarray, output_width: int) -> np.ndarray:
    """Compose a crop matrix with a horizontal mirror of the crop about its pixel grid.

    The result crops exactly the mirror image of the original crop (pixel ``x -> W - 1 - x``), so a
    flipped training sample needs no full-image flip and carries no half-pixel bias.
    """
    flipped = np.array(matrix, dtype=np.float64, copy=True)
    flipped[0] = -flipped[0]
    flipped[0, 2] += output_width - 1.0
    return flipped


def warp_affine(image: np.ndarray, matrix: np.ndarray, output_size: Sequence[int],
                flags: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Crop ``image`` with ``matrix`` to ``output_size (H, W)``; outside pixels are black."""
    out_h, out_w = output_size
    return cv2.warpAffine(image, np.asarray(matrix, dtype=np.float64), (int(out_w), int(out_h)),
                          flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def transform_points(points, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 matrix to ``points[..., 2]`` (any leading shape); returns float32."""
    points = np.asarray(points, dtype=np.float64)
    matrix = np.asarray(matrix, dtype=np.float64)
    out = points[..., :2] @ matrix[:, :2].T + matrix[:, 2]
    return out.astype(np.float32)


def flip_keypoints(keypoints, visible, flip_indices: Sequence[int], width: float):
    """Mirror keypoints ``[..., K, 2]`` in an image (or crop) of ``width`` pixels, swapping left/right.

    Pixel ``x`` goes to ``width - 1 - x``; returns ``(keypoints, visible)`` reordered by ``flip_indices``.
    """
    keypoints = np.array(keypoints, dtype=np.float32, copy=True)
    keypoints[..., 0] = (width - 1) - keypoints[..., 0]
    index = np.asarray(flip_indices, dtype=np.int64)
    return keypoints[..., index, :], np.asarray(visible)[..., index]


def random_scale_rotation(rng: np.random.Generator, scale_factor: float = 0.35,
                          rotation_factor: float = 45.0, rotation_prob: float = 0.6):
    """HRNet-style draws: scale multiplier in ``[1-f, 1+f]`` (clipped normal, sd ``f``) and rotation
    in ``[-2r, 2r]`` degrees (clipped normal, sd ``r``) applied with probability ``rotation_prob``."""
    scale = float(np.clip(rng.normal() * scale_factor + 1.0, 1.0 - scale_factor, 1.0 + scale_factor))
    draw_rot = float(np.clip(rng.normal() * rotation_factor, -2 * rotation_factor, 2 * rotation_factor))
    rotation = draw_rot if rng.random() < rotation_prob else 0.0
    return scale, rotation


def random_shift(rng: np.random.Generator, shift_factor: float = 0.16, shift_prob: float = 0.3):
    """A centre shift as a fraction of ``scale`` (uniform in ``[-f, f]`` per axis), or zero."""
    if shift_factor <= 0 or rng.random() >= shift_prob:
        return np.zeros(2, dtype=np.float32)
    return rng.uniform(-shift_factor, shift_factor, size=2).astype(np.float32)


def select_half_body(visible, upper_body_ids: Sequence[int], lower_body_ids: Sequence[int],
                     rng: np.random.Generator, min_total: int = 9, min_upper: int = 2,
                     min_lower: int = 3):
    """Pick the visible joints of the upper or the lower body (upper with probability 0.5 when it has
    at least ``min_upper`` visible joints). Returns the chosen indices, or None when the person has
    fewer than ``min_total`` visible joints or the chosen half has too few."""
    visible = np.asarray(visible) > 0
    if visible.sum() < min_total:
        return None
    upper = [i for i in upper_body_ids if visible[i]]
    lower = [i for i in lower_body_ids if visible[i]]
    if len(upper) >= min_upper and (rng.random() < 0.5 or len(lower) < min_lower):
        return np.asarray(upper, dtype=np.int64)
    if len(lower) >= min_lower:
        return np.asarray(lower, dtype=np.int64)
    return None


def half_body_center_scale(keypoints, joint_ids, aspect_ratio: float, padding: float = 1.5):
    """The crop around ``keypoints[joint_ids]``: their box, fixed to ``aspect_ratio``, x ``padding``."""
    points = np.asarray(keypoints, dtype=np.float32)[np.asarray(joint_ids)]
    top_left, bottom_right = points.min(axis=0), points.max(axis=0)
    center = (top_left + bottom_right) * 0.5
    scale = fix_aspect_ratio(bottom_right - top_left, aspect_ratio) * padding
    return center.astype(np.float32), scale.astype(np.float32)


_NORMALIZE_LUT = ((np.arange(256, dtype=np.float32)[None, :] - IMAGENET_MEAN[:, None])
                  / IMAGENET_STD[:, None]).astype(np.float32)  # [3 (RGB), 256]


def normalize_image(crop_bgr: np.ndarray) -> np.ndarray:
    """A BGR uint8 crop ``[H, W, 3]`` -> the model input ``[3, H, W]`` float32 (RGB, ImageNet-normalised)."""
    crop = np.asarray(crop_bgr)
    if crop.dtype != np.uint8:
        rgb = crop[..., ::-1].astype(np.float32)
        return np.ascontiguousarray(((rgb - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1))
    # A table lookup per channel: several times faster than float arithmetic on the whole crop.
    return np.stack([_NORMALIZE_LUT[c][crop[..., 2 - c]] for c in range(3)])


def random_color(crop: np.ndarray, rng: np.random.Generator, strength: float = 0.3,
                 prob: float = 0.5) -> np.ndarray:
    """Brightness, contrast and saturation each scaled by a factor in ``[1-s, 1+s]`` (probability
    ``prob``), through one 256-entry table per channel plus a grey blend: cheap on uint8 crops."""
    if strength <= 0 or rng.random() >= prob:
        return crop
    brightness, contrast, saturation = rng.uniform(1 - strength, 1 + strength, size=3)
    mean = float(crop.mean())
    lut = np.clip((np.arange(256, dtype=np.float32) - mean) * contrast + mean * brightness, 0, 255)
    out = lut.astype(np.uint8)[crop]
    if abs(saturation - 1.0) > 1e-3:
        grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)[..., None].astype(np.float32)
        out = np.clip(grey + (out.astype(np.float32) - grey) * saturation, 0, 255).astype(np.uint8)
    return out


def random_occlusion(crop: np.ndarray, rng: np.random.Generator, prob: float = 0.3,
                     max_area: float = 0.15) -> np.ndarray:
    """With probability ``prob``, cover a random rectangle (up to ``max_area`` of the crop, aspect
    1:3 to 3:1) with noise: people in COCO are often partly hidden, those in sports photos rarely.
    The keypoints under it keep their targets, so the network learns to infer hidden joints."""
    if prob <= 0 or rng.random() >= prob:
        return crop
    h, w = crop.shape[:2]
    area = rng.uniform(0.02, max_area) * h * w
    aspect = np.exp(rng.uniform(np.log(1 / 3), np.log(3)))
    rh = int(min(h, np.sqrt(area * aspect)))
    rw = int(min(w, np.sqrt(area / aspect)))
    if rh < 2 or rw < 2:
        return crop
    y, x = int(rng.integers(0, h - rh + 1)), int(rng.integers(0, w - rw + 1))
    out = crop.copy()
    out[y:y + rh, x:x + rw] = rng.integers(0, 256, size=(rh, rw, crop.shape[2]), dtype=np.uint8)
    return out


def cut_occluder(image: np.ndarray, keypoints: np.ndarray, visible: np.ndarray, bbox,
                 rng: np.random.Generator) -> np.ndarray | None:
    """A piece of another person's picture to paste over a crop (:func:`paste_occluder`): a square
    around one of their visible joints (a limb, a head, a torso), a quarter to a half of their box's
    longer side wide, clipped to the picture. None when the person has no visible joint or less than
    4 x 4 pixels of the square lie inside the picture."""
    ids = np.flatnonzero(np.asarray(visible).reshape(-1) > 0)
    if len(ids) == 0:
        return None
    x, y = np.asarray(keypoints, dtype=np.float32).reshape(-1, 2)[int(rng.choice(ids))]
    half = 0.5 * rng.uniform(0.25, 0.5) * max(float(bbox[2]), float(bbox[3]))
    h, w = image.shape[:2]
    x0, x1 = int(max(0, round(x - half))), int(min(w, round(x + half)))
    y0, y1 = int(max(0, round(y - half))), int(min(h, round(y + half)))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    return image[y0:y1, x0:x1].copy()


def paste_occluder(crop: np.ndarray, patch: np.ndarray | None, rng: np.random.Generator,
                   max_area: float = 0.25) -> np.ndarray:
    """Paste ``patch`` (a piece of another person, see :func:`cut_occluder`), resized to cover 5% to
    ``max_area`` of the crop and mirrored at random, at a random place. COCO's boxes hold other
    people's limbs and bodies, LSPET's rarely; the keypoints under the patch keep their targets, so
    the network learns to tell the framed person from a neighbour and to infer what is hidden."""
    if patch is None or patch.size == 0:
        return crop
    h, w = crop.shape[:2]
    area = rng.uniform(0.05, max_area) * h * w
    ph, pw = patch.shape[:2]
    factor = math.sqrt(area / (ph * pw))
    rh, rw = min(h, max(2, int(round(ph * factor)))), min(w, max(2, int(round(pw * factor))))
    piece = cv2.resize(patch, (rw, rh), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        piece = piece[:, ::-1]
    y, x = int(rng.integers(0, h - rh + 1)), int(rng.integers(0, w - rw + 1))
    out = crop.copy()
    out[y:y + rh, x:x + rw] = piece
    return out


# Which border of the picture cuts a truncated person, and how often: COCO's people are cut off
# mostly at the bottom (legs below the frame), sometimes at a side, rarely at the top.
_TRUNCATION_SIDES = (("bottom", 0.6), ("left", 0.15), ("right", 0.15), ("top", 0.1))


def random_truncation(keypoints, visible, center, scale, aspect_ratio: float,
                      rng: np.random.Generator, prob: float = 0.0, keep: tuple[float, float] = (
                          0.4, 0.85), min_joints: int = 4, padding: float = BOX_PADDING):
    """Simulate a person cut off by the picture's border (COCO has many; sports photos few).

    With probability ``prob``, one side is drawn (bottom mostly) and the picture ends at a line
    that keeps a fraction ``keep`` of the visible joints' extent: joints beyond it lose their
    targets, and the crop is rebuilt around what remains of the person's box, as a detector or a
    COCO box would frame it. Returns ``(center, scale, visible, cut)``, where ``cut`` is
    ``(axis, value, keep_below)`` in image pixels (``None`` when nothing was cut); pass it to
    :func:`blank_beyond_cut` after cropping so that the region beyond the border is black, as
    outside the picture. Needs ``min_joints`` joints left visible, or nothing is cut.
    """
    visible = np.asarray(visible, np.float32)
    if prob <= 0 or rng.random() >= prob:
        return center, scale, visible, None
    points = np.asarray(keypoints, np.float32)
    seen = visible > 0
    if seen.sum() < min_joints + 2:
        return center, scale, visible, None
    names = [s for s, _ in _TRUNCATION_SIDES]
    weights = np.array([w for _, w in _TRUNCATION_SIDES])
    side = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    axis = 1 if side in ("bottom", "top") else 0
    lo, hi = float(points[seen, axis].min()), float(points[seen, axis].max())
    if hi - lo < 2.0:
        return center, scale, visible, None
    fraction = rng.uniform(*keep)
    keep_below = side in ("bottom", "right")   # the kept part lies at smaller coordinates
    value = lo + fraction * (hi - lo) if keep_below else hi - fraction * (hi - lo)
    inside = points[:, axis] <= value if keep_below else points[:, axis] >= value
    new_visible = visible * inside
    if (new_visible > 0).sum() < min_joints:
        return center, scale, visible, None
    half = np.asarray(scale, np.float32) / padding / 2.0
    box = cut_box([center[0] - half[0], center[1] - half[1], center[0] + half[0],
                   center[1] + half[1]], (axis, value, keep_below))
    size = np.maximum(box[2:] - box[:2], 1.0)
    new_center = ((box[:2] + box[2:]) / 2.0).astype(np.float32)
    new_scale = (fix_aspect_ratio(size, aspect_ratio) * padding).astype(np.float32)
    return new_center, new_scale, new_visible.astype(np.float32), (axis, float(value), keep_below)


def cut_box(box_xyxy, cut) -> np.ndarray:
    """The box ``[x1, y1, x2, y2]`` ending at ``cut`` ``(axis, value, keep_below)`` of
    :func:`random_truncation` (unchanged where the line lies beyond it)."""
    axis, value, keep_below = cut
    box = np.array(box_xyxy, np.float32)
    if keep_below:
        box[2 + axis] = min(box[2 + axis], value)
    else:
        box[axis] = max(box[axis], value)
    return box


def blank_beyond_cut(crop: np.ndarray, matrix: np.ndarray, cut) -> np.ndarray:
    """Black out the part of ``crop`` (made with the image-to-crop ``matrix``) beyond ``cut`` from
    :func:`random_truncation`; the crop is returned unchanged when ``cut`` is None."""
    if cut is None:
        return crop
    axis, value, keep_below = cut
    h, w = crop.shape[:2]
    inverse = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    source = inverse[axis, 0] * xs + inverse[axis, 1] * ys + inverse[axis, 2]
    beyond = source > value if keep_below else source < value
    out = crop.copy()
    out[beyond] = 0
    return out
