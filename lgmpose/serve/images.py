"""Turning the bytes of an HTTP request into a BGR image, or into one clear reason why not
(the checks before decoding are :mod:`lgmpose.data.image_probe`'s). NumPy/OpenCV only."""
from __future__ import annotations

import numpy as np

from lgmpose.data.image_probe import FORMATS, ImageError, ImageHeader, _corrupt, probe_image

__all__ = ["ImageError", "ImageHeader", "FORMATS", "probe_image", "decode_image"]


def decode_image(data: bytes, max_pixels: int | None = None) -> tuple[np.ndarray, ImageHeader]:
    """A BGR uint8 image from encoded bytes (EXIF orientation applied, as ``lgmpose predict``
    reads files) and its header, or an ``ImageError``."""
    import cv2

    header = probe_image(data, max_pixels)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        raise _corrupt(header.format, "the decoder could not read it")
    return image, header
