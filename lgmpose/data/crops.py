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
from lgmpose.defaults import BOX_PADDING

__all__ = ["BOX_PADDING", "box_to_crop", "crop_matrix", "area_prefilter", "crop_image", "crop_batch"]



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


def area_prefilter(image: np.ndarray, matrix: np.ndarray,
                   output_size: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """``(source, matrix)`` to warp instead of ``(image, matrix)`` so that a shrinking warp does
    not alias.

    A bilinear warp that shrinks reads 4 pixels around each sample and skips the rest, turning
    fine detail into noise; where the crop shrinks, the region it covers is first area-averaged
    to the crop's scale (``cv2.INTER_AREA``, in one step) and the matrix rewritten for that
    smaller source; where it enlarges, both come back unchanged. ``output_size`` is ``(H, W)``.
    docs/data.md has what it gains and costs, and the approximations that were not adopted.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    shrink = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if shrink >= 1.0:
        return image, matrix
    out_h, out_w = int(output_size[0]), int(output_size[1])
    inverse = cv2.invertAffineTransform(matrix)
    # The crop's outer pixel edges: symmetric, so a mirrored crop covers the same region and
    # stays the exact mirror image.
    corners = np.array([[-0.5, -0.5], [out_w - 0.5, -0.5], [-0.5, out_h - 0.5],
                        [out_w - 0.5, out_h - 0.5]], np.float64)
    covered = corners @ inverse[:, :2].T + inverse[:, 2]
    # A margin of 2 pixels keeps the bilinear taps at the region's edge inside it.
    x0, y0 = (max(int(np.floor(v)) - 2, 0) for v in covered.min(axis=0))
    x1 = min(int(np.ceil(covered[:, 0].max())) + 2, image.shape[1])
    y1 = min(int(np.ceil(covered[:, 1].max())) + 2, image.shape[0])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return image, matrix
    width, height = max(1, round((x1 - x0) * shrink)), max(1, round((y1 - y0) * shrink))
    source = cv2.resize(image[y0:y1, x0:x1], (width, height), interpolation=cv2.INTER_AREA)
    fx, fy = width / (x1 - x0), height / (y1 - y0)
    # Pixel centres: source pixel u covers image x = (u + 0.5) / fx - 0.5 + x0.
    to_image = np.array([[1.0 / fx, 0.0, 0.5 / fx - 0.5 + x0],
                         [0.0, 1.0 / fy, 0.5 / fy - 0.5 + y0]])
    rewritten = np.empty((2, 3), np.float64)
    rewritten[:, :2] = matrix[:, :2] @ to_image[:, :2]
    rewritten[:, 2] = matrix[:, :2] @ to_image[:, 2] + matrix[:, 2]
    return source, rewritten


def crop_image(image: np.ndarray, matrix: np.ndarray, input_size: Sequence[int],
               out: np.ndarray | None = None) -> np.ndarray:
    """The crop ``[H, W, C]`` of ``image`` under ``matrix`` (bilinear, area-averaged first where
    the crop shrinks the image: :func:`area_prefilter`; outside pixels are black).

    ``out`` (``[H, W, C]``, the image's dtype) is filled in place when given.
    """
    height, width = int(input_size[0]), int(input_size[1])
    source, matrix = area_prefilter(image, matrix, (height, width))
    return cv2.warpAffine(source, matrix, (width, height), dst=out,
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
