"""What a distributed run works on: SOURCE specs expanded to pictures and videos, then planned as
work items (groups of pictures, chunks of video frames), each a JSON-able dict.

A SOURCE is a folder (searched recursively for pictures and videos), a glob pattern, a text file
listing one path per line (relative paths are relative to the list's folder; ``#`` starts a
comment), or a single picture or video.
"""
from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

import cv2

from lgmpose.data.image_io import IMAGE_SUFFIXES
from lgmpose.errors import LgmposeError
from lgmpose.inference.media import VIDEO_SUFFIXES
from lgmpose.utils.quiet import quiet_stderr

__all__ = ["InputFile", "list_inputs", "image_id_for", "plan_items", "video_frame_count"]

MEDIA_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES


@dataclass(frozen=True)
class InputFile:
    path: Path
    name: str           # written into the results: relative to the folder or glob, or as listed
    kind: str           # "image" or "video"

    @property
    def key(self) -> str:
        return str(self.path.resolve())


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def _from_folder(folder: Path) -> list[InputFile]:
    found = sorted(p for p in folder.rglob("*") if p.is_file() and _kind(p))
    return [InputFile(p, p.relative_to(folder).as_posix(), _kind(p)) for p in found]


def _from_glob(pattern: str) -> list[InputFile]:
    root = Path(pattern.split("*")[0].split("?")[0].split("[")[0] or ".")
    root = root if root.is_dir() else root.parent
    found = sorted(Path(p) for p in glob.glob(pattern, recursive=True))
    out = []
    for p in found:
        if p.is_file() and _kind(p):
            try:
                name = p.relative_to(root).as_posix()
            except ValueError:
                name = str(p)
            out.append(InputFile(p, name, _kind(p)))
    return out


def _from_list(list_file: Path) -> list[InputFile]:
    try:
        lines = list_file.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise LgmposeError(f"input list '{list_file}': cannot read it ({error})") from None
    out = []
    for line in lines:
        line = line.split("#")[0].strip()
        if not line:
            continue
        path = Path(line) if Path(line).is_absolute() else list_file.parent / line
        kind = _kind(path)
        if kind is None:
            raise LgmposeError(f"input list '{list_file}': '{line}' is not a picture or a video "
                               f"({', '.join(sorted(MEDIA_SUFFIXES))})")
        # A missing file is planned all the same: it is counted as unreadable, not fatal.
        out.append(InputFile(path, line, kind))
    return out


def list_inputs(specs: list[str]) -> list[InputFile]:
    """The pictures and videos of ``specs``, each once, in order (sorted within a spec)."""
    found: list[InputFile] = []
    for spec in specs:
        path = Path(spec)
        if any(c in spec for c in "*?[") and not path.exists():
            matches = _from_glob(spec)
            if not matches:
                raise LgmposeError(f"input '{spec}': the pattern matches no picture or video")
        elif path.is_dir():
            matches = _from_folder(path)
            if not matches:
                raise LgmposeError(f"folder '{path}': contains no pictures or videos")
        elif path.is_file() and _kind(path):
            matches = [InputFile(path, path.name if _kind(path) == "image" else spec,
                                 _kind(path))]
        elif path.is_file():
            matches = _from_list(path)
        else:
            raise LgmposeError(f"input '{spec}': no such file or folder")
        found.extend(matches)
    seen, unique = set(), []
    for item in found:
        if item.key not in seen:
            seen.add(item.key)
            unique.append(item)
    return unique


def image_id_for(name: str, index: int) -> int:
    """The ``image_id`` ``lgmpose predict`` gives a picture: its file name if that is a number,
    else its position among the pictures."""
    stem = Path(name).stem
    return int(stem) if re.fullmatch(r"\d+", stem) else index


def video_frame_count(path: str | os.PathLike) -> int | None:
    """The frame count a video's header gives, or None when it cannot be opened."""
    with quiet_stderr():
        capture = cv2.VideoCapture(str(path))
        try:
            if not capture.isOpened():
                return None
            return max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        finally:
            capture.release()


def plan_items(inputs: list[InputFile], done: set[str], pictures_per_item: int,
               chunk_frames: int, max_frames: int | None = None) -> tuple[list[dict], list[str]]:
    """Work items for the units not in ``done``, and the key of every unit of the run in order.

    A unit is a picture (key: its resolved path) or a chunk of a video (key: ``path#first``).
    Pictures go ``pictures_per_item`` to an item, so the network sees their crops together; a
    video chunk is an item of its own. ``max_frames`` caps the pictures and each video's frames.
    """
    items: list[dict] = []
    keys: list[str] = []
    pictures = [f for f in inputs if f.kind == "image"][:max_frames]
    group: list[dict] = []
    for index, picture in enumerate(pictures):
        keys.append(picture.key)
        if picture.key in done:
            continue
        group.append({"key": picture.key, "path": str(picture.path), "name": picture.name,
                      "index": index, "image_id": image_id_for(picture.name, index)})
        if len(group) == pictures_per_item:
            items.append({"kind": "pictures", "pictures": group})
            group = []
    if group:
        items.append({"kind": "pictures", "pictures": group})
    for video in (f for f in inputs if f.kind == "video"):
        count = video_frame_count(video.path)
        if max_frames:
            count = min(count, max_frames) if count else max_frames
        starts = list(range(0, count, chunk_frames)) if count else [0]
        for n, start in enumerate(starts):
            key = f"{video.key}#{start}"
            keys.append(key)
            if key in done:
                continue
            # The last chunk reads to the end: headers can under-count a video's frames.
            last = n == len(starts) - 1
            stop = (max_frames if max_frames else None) if last else start + chunk_frames
            items.append({"kind": "video", "key": key, "path": str(video.path),
                          "name": video.name, "start": start, "stop": stop})
    return items, keys
