"""What the estimator and ``lgmpose predict`` read: an image, a folder of images, a video file or
a camera.

Every problem is an ``LgmposeError`` naming the input: a missing path, a file that is not an image,
an empty folder, a video that cannot be opened, an absent camera.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lgmpose.data.image_io import IMAGE_SUFFIXES, read_image
from lgmpose.defaults import MAX_PIXELS
from lgmpose.errors import LgmposeError
from lgmpose.utils.quiet import quiet_stderr

__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "read_image", "as_image", "Frame", "Source",
           "open_source"]

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}


def as_image(image) -> np.ndarray:
    """A path (read) or an array (checked) as a BGR uint8 ``[H, W, 3]`` image; grey and BGRA
    arrays are converted."""
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2BGR)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.size == 0:
        raise LgmposeError(f"image: expected a BGR array [H, W, 3], got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise LgmposeError(f"image: expected uint8 pixels, got {arr.dtype}")
    return arr


@dataclass
class Frame:
    index: int
    name: str               # file name (images) or frame number (video), used in outputs
    image: np.ndarray
    timestamp: float        # seconds since the start (video), 0 for images


class Source:
    """Iterate ``Frame``s; ``kind`` is ``image``, ``folder``, ``video`` or ``camera``."""

    def __init__(self, kind: str, spec: str, paths: list[Path] | None = None,
                 capture: "cv2.VideoCapture | None" = None, max_frames: int | None = None,
                 max_pixels: int | None = MAX_PIXELS) -> None:
        self.kind, self.spec, self.paths, self.capture = kind, spec, paths, capture
        self.max_frames, self.max_pixels = max_frames, max_pixels
        self.cached: dict[Path, np.ndarray] = {}
        # A folder's unreadable pictures, skipped: (file name, reason).
        self.skipped: list[tuple[str, str]] = []
        self.frames_read = 0
        # Video: the frame count its header announces (0 when unknown).
        self.frames_announced = 0
        self.fps = 0.0
        self.size: tuple[int, int] | None = None  # (W, H) for video
        if capture is not None:
            self.fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
            if not 0 < self.fps < 1000:
                self.fps = 30.0
            self.size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                         int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
            if kind == "video":
                self.frames_announced = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)

    @property
    def ended_early(self) -> bool:
        """A video that gave fewer frames than its header announces (cut short or corrupt)."""
        wanted = self.frames_announced
        if self.max_frames:
            wanted = min(wanted, self.max_frames)
        return self.kind == "video" and 0 < self.frames_read < wanted

    @property
    def is_video(self) -> bool:
        return self.kind in ("video", "camera")

    def __len__(self) -> int:
        if self.paths is not None:
            n = len(self.paths)
        elif self.kind == "video":
            n = max(int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        else:
            n = 0
        return min(n, self.max_frames) if self.max_frames and n else (n or (self.max_frames or 0))

    def __iter__(self) -> Iterator[Frame]:
        if self.paths is not None:
            for i, path in enumerate(self.paths[:self.max_frames]):
                image = self.cached.pop(path, None)
                if image is None:
                    try:
                        image = read_image(path, self.max_pixels)
                    except LgmposeError as error:
                        if self.kind != "folder":
                            raise
                        # One bad picture must not stop a folder: report, skip, go on, count.
                        self.skipped.append((path.name, str(error)))
                        continue
                self.frames_read += 1
                yield Frame(i, path.name, image, 0.0)
            return
        index = 0
        try:
            while self.max_frames is None or index < self.max_frames:
                ok, image = self.capture.read()
                if not ok or image is None:
                    if index == 0:
                        raise LgmposeError(f"cannot read video '{self.spec}': no frame could be "
                                           "decoded")
                    break
                index += 1
                self.frames_read = index
                yield Frame(index - 1, f"{index - 1:06d}", image, (index - 1) / self.fps)
        finally:
            self.close()

    def close(self) -> None:
        if self.capture is not None:
            self.capture.release()


def open_source(spec: str | os.PathLike | int, max_frames: int | None = None,
                max_pixels: int | None = MAX_PIXELS) -> Source:
    """An image, a folder (its images, sorted by name), a video file, or a camera index."""
    text = str(spec)
    if text.isdigit() and not Path(text).exists():
        with quiet_stderr():
            capture = cv2.VideoCapture(int(text))
            opened = capture.isOpened()
        if not opened:
            capture.release()
            raise LgmposeError(f"camera {text}: not available (no such device, or it is busy)")
        return Source("camera", f"camera {text}", capture=capture, max_frames=max_frames)
    path = Path(text)
    if not path.exists():
        raise LgmposeError(f"input '{path}': no such file or folder")
    if path.is_dir():
        paths = sorted(p for p in path.iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise LgmposeError(f"folder '{path}': contains no images "
                               f"({', '.join(sorted(IMAGE_SUFFIXES))})")
        return Source("folder", text, paths=paths, max_frames=max_frames, max_pixels=max_pixels)
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        with quiet_stderr():
            capture = cv2.VideoCapture(str(path))
            opened = capture.isOpened()
        if not opened:
            capture.release()
            raise LgmposeError(f"cannot open video '{path}': not a video OpenCV can decode")
        return Source("video", text, capture=capture, max_frames=max_frames)
    if suffix in IMAGE_SUFFIXES:
        source = Source("image", text, paths=[path], max_frames=max_frames,
                        max_pixels=max_pixels)
        source.cached[path] = read_image(path, max_pixels)  # fail now, before any output is created
        return source
    raise LgmposeError(f"input '{path}': unknown file type '{suffix or '(none)'}'; expected an "
                       "image, a video, a folder or a camera index")
