"""Output files written atomically: an interrupted or failed run never leaves a partial file."""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import cv2
import numpy as np

from lgmpose.errors import LgmposeError
from lgmpose.utils.atomic import atomic_path

__all__ = ["write_image", "write_json", "VideoWriter"]

_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _readable(path: Path) -> None:
    """Temporary files are created private (0600); a finished output gets the usual mode."""
    path.chmod(0o666 & ~_umask())


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), image):
            raise LgmposeError(f"cannot write image '{path}': unsupported format or disk error")
        _readable(tmp)


def write_json(path: str | os.PathLike, data) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, separators=(",", ":")) + "\n")
        _readable(tmp)


class VideoWriter:
    """An OpenCV video writer that appears under its final name only when closed after success.

    Use as a context manager; frames are written to a hidden temporary file next to the target.
    """

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int]) -> None:
        self.path = Path(path)
        self.fps, self.size = fps, size
        self._stack = contextlib.ExitStack()
        self._writer: cv2.VideoWriter | None = None

    def __enter__(self) -> "VideoWriter":
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._tmp = tmp
        fourcc = cv2.VideoWriter_fourcc(*_FOURCC.get(self.path.suffix.lower(), "mp4v"))
        self._writer = cv2.VideoWriter(str(tmp), fourcc, self.fps, self.size)
        if not self._writer.isOpened():
            self._stack.close()
            raise LgmposeError(f"cannot write video '{self.path}': no encoder for "
                               f"'{self.path.suffix}' in this OpenCV build")
        return self

    def write(self, frame: np.ndarray) -> None:
        self._writer.write(frame)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self._writer is not None:
            self._writer.release()
            if exc_type is None:
                _readable(self._tmp)
        # Closing the atomic context with the exception (if any) discards the temporary file.
        return self._stack.__exit__(exc_type, exc, tb)
