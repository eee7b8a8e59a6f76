"""Cutting a person crop out of an image: the one implementation behind inference, the training
pipeline, int8 calibration and ``lgmpose codec-check``. NumPy/OpenCV only.

A crop is ``center`` (x, y) and ``scale`` (w, h) in image pixels (see
:mod:`lgmpose.data.transforms`) mapped onto the model input ``(H, W)``. ``udp=True`` selects the unbiased warp that the ``udp``
codec is trained and decoded with (pass ``codec.udp``): a crop cut with the other warp is shifted
by up to half a pixel against that codec's heatmaps.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from lgmpose.data.transforms import box_to_center_scale, flip_matrix, get_affine_transform

__all__ = ["BOX_PADDING", "box_to_crop", "crop_matrix", "crop_image", "crop_batch"]

# A person box is widened by this factor on both sides before cropping (HRNet / MMPose).
BOX_PADDING = 1.25


def box_to_crop(boxes, input_size: Sequence[int], padding: float = BOX_PADDING):
    """``[x, y, w, h]`` box(es) -> ``(center, scale)`` at the aspect ratio of ``input_size``
    ``(H, W)``, widened by ``padding``."""
    return box_to_center_scale(boxes, aspect_ratio=input_size[1] / input_size[0], padding=padding)


def crop_matrix(center, scale, input_size: Sequence[int], udp: bool = False, rot: float = 0.0,
                shift=(0.0, 0.0), flip: bool = False, inv: bool = False) -> np.ndarray:
    """The 2x3 matrix taking image points to crop points (``inv=True``: crop to image).

    ``rot`` (degrees), ``shift`` (a fraction of ``scale``) and ``flip`` (mirror the crop) are the
    training augmentations; inference uses none of them.
    """
    matrix = get_affine_transform(center, scale, rot, input_size, udp=udp, shift=shift)
    if flip:
        matrix = flip_matrix(matrix, input_size[1])
    return cv2.invertAffineTransform(matrix) if inv else matrix


def crop_image(image: np.ndarray, matrix: np.ndarray, input_size: Sequence[int],
               out: np.ndarray | None = None) -> np.ndarray:
    """The crop ``[H, W, C]`` of ``image`` under ``matrix`` (bilinear; outside pixels are black).

    ``out`` (``[H, W, C]``, the image's dtype) is filled in place when given.
    """
    height, width = int(input_size[0]), int(input_size[1])
    return cv2.warpAffine(image, np.asarray(matrix, dtype=np.float64), (width, height), dst=out,
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def crop_batch(image: np.ndarray, boxes: np.ndarray, input_size: Sequence[int], udp: bool,
               mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The model input for person ``boxes [N, 4]`` of a BGR ``image``: ``[N, 3, H, W]`` float32
    (RGB, ``(pixel - mean) / std``), and for each crop the matrix mapping crop points back to
    the image."""
    h, w = int(input_size[0]), int(input_size[1])
    centers, scales = box_to_crop(boxes, (h, w))
    x = np.empty((len(boxes), 3, h, w), np.float32)
    inverse = []
    crop = np.empty((h, w, 3), np.uint8)
    for i, (center, scale) in enumerate(zip(centers, scales)):
        matrix = crop_matrix(center, scale, (h, w), udp=udp)
        crop_image(image, matrix, (h, w), out=crop)
        blue, green, red = cv2.split(crop)
        x[i, 0], x[i, 1], x[i, 2] = red, green, blue    # BGR -> RGB planes
        inverse.append(cv2.invertAffineTransform(matrix))
    # Normalising the whole batch in place was measured 10x faster than per-pixel NumPy on
    # interleaved crops.
    x -= np.asarray(mean, np.float32)[None, :, None, None]
    x *= (1.0 / np.asarray(std, np.float32))[None, :, None, None]
    return x, inverse
