"""Reading images: a missing, unreadable, corrupt or truncated file raises an error naming it."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from lgmpose.data.image_probe import ImageError, probe_image, sniff_format
from lgmpose.defaults import MAX_PIXELS
from lgmpose.errors import LgmposeError

__all__ = ["IMAGE_SUFFIXES", "folder_names", "list_images", "read_image"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def list_images(folder: str | os.PathLike, what: str = "image folder") -> list:
    """The pictures in ``folder`` (by suffix), sorted; an error naming it when it does not exist
    or holds none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LgmposeError(f"{what} '{folder}' does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise LgmposeError(f"{what} '{folder}' holds no images")
    return files


def folder_names(folder: str | os.PathLike, what: str = "image folder") -> set[str]:
    """The names of the files in ``folder`` (a dataset's pictures, of which a label file may name
    only some); an error naming the folder when it cannot be read."""
    try:
        return set(os.listdir(folder))
    except OSError as error:
        raise LgmposeError(f"{what} '{folder}' cannot be read: {error.strerror or error}") from None


def read_image(path: str | os.PathLike, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """The image at ``path`` as BGR uint8 ``[H, W, 3]``, or an ``LgmposeError`` naming it and
    saying why not: the one reader of picture files (training data, labelling, predict).

    JPEG, PNG, WebP and BMP files are checked from their bytes before decoding
    (:mod:`lgmpose.data.image_probe`): OpenCV decodes a truncated JPEG without complaint (grey
    lower part), so a file cut short is refused, as is one over ``max_pixels`` (width x height;
    ``None``: no limit).
    """
    path = Path(path)
    if not path.exists():
        raise LgmposeError(f"cannot read image '{path}': file not found")
    if path.is_dir():
        raise LgmposeError(f"cannot read image '{path}': it is a folder")
    try:
        data = np.fromfile(str(path), dtype=np.uint8)  # works with non-ASCII paths too
    except OSError as error:
        raise LgmposeError(f"cannot read image '{path}': {error.strerror or error}") from None
    if data.size == 0:
        raise LgmposeError(f"cannot read image '{path}': empty file")
    if sniff_format(data[:16].tobytes()) is not None:
        try:
            header = probe_image(data.tobytes())
        except ImageError as error:
            raise LgmposeError(f"cannot read image '{path}': {error}") from None
        if max_pixels is not None and header.width * header.height > max_pixels:
            raise LgmposeError(f"cannot read image '{path}': {header.width}x{header.height} = "
                               f"{header.width * header.height / 1e6:.0f} megapixels, over the "
                               f"limit of {max_pixels / 1e6:g} (--max-megapixels)")
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error:  # e.g. a picture over OpenCV's own pixel limit
        image = None
    if image is None:
        raise LgmposeError(f"cannot read image '{path}': not an image file, or corrupt")
    return image
