"""Reading images: a missing, unreadable, corrupt or truncated file raises an error naming it."""
from __future__ import annotations

import os

import cv2
import numpy as np

from lgmpose.errors import LgmposeError

__all__ = ["IMAGE_SUFFIXES", "list_images", "read_image"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def list_images(folder: str | os.PathLike, what: str = "image folder") -> list:
    """The pictures in ``folder`` (by suffix), sorted; an error naming it when it does not exist
    or holds none."""
    from pathlib import Path

    folder = Path(folder)
    if not folder.is_dir():
        raise LgmposeError(f"{what} '{folder}' does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise LgmposeError(f"{what} '{folder}' holds no images")
    return files


def read_image(path: str | os.PathLike) -> np.ndarray:
    """The image at ``path`` as BGR uint8 ``[H, W, 3]``.

    OpenCV decodes a truncated JPEG without complaint (grey lower part); those are refused too, by
    checking the end-of-image marker, so a training run never learns from half a picture.
    """
    path = os.fspath(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise LgmposeError(f"cannot read image {path!r}: {error.strerror or error}") from None
    if data.size == 0:
        raise LgmposeError(f"cannot read image {path!r}: empty file")
    head = data[:8].tobytes()
    if head.startswith(b"\xff\xd8") and b"\xff\xd9" not in data[-1024:].tobytes():
        raise LgmposeError(f"cannot read image {path!r}: truncated JPEG (no end-of-image marker)")
    if head.startswith(b"\x89PNG") and b"IEND" not in data[-64:].tobytes():
        raise LgmposeError(f"cannot read image {path!r}: truncated PNG")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise LgmposeError(f"cannot read image {path!r}: not an image file or corrupt")
    return image
