"""The merged output of a distributed ``predict``: the COCO-results list ``lgmpose predict``
writes, from the shards' records, in input order.

Pictures keep their people as the workers found them. A video's chunks are put back in frame
order and tracked (and smoothed) over the whole video here, with the ``VideoPipeline`` the
one-process command uses, so track ids run across chunk boundaries as they do in one process.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lgmpose.distributed_inference.inputs import InputFile, image_id_for
from lgmpose.inference.estimator import Person
from lgmpose.video.pipeline import VideoPipeline

__all__ = ["merge_results"]


def _tracked_video(video: InputFile, chunks: list[dict], pipeline: VideoPipeline) -> list[dict]:
    pipeline.reset()
    out = []
    for chunk in chunks:
        for frame in chunk.get("frames", []):
            k = len(frame["boxes"])
            boxes = np.asarray(frame["boxes"], np.float32).reshape(k, 4)
            kpts = np.asarray(frame["keypoints"], np.float32).reshape(k, -1, 2)
            scores = np.asarray(frame["scores"], np.float32).reshape(k, -1)
            ids, kpts = pipeline.track(boxes, kpts, scores, frame["t"])
            for b, kp, s, bs, i, q in zip(boxes, kpts, scores, frame["box_scores"], ids,
                                          frame["quality"]):
                entry = Person(b, kp, s, float(bs), int(i), float(q)).to_coco(frame["frame"])
                entry["file_name"] = video.name
                entry["frame"] = frame["frame"]
                out.append(entry)
    return out


def merge_results(inputs: list[InputFile], records: dict[str, dict],
                  video_pipeline: Callable[[], VideoPipeline] | None,
                  max_frames: int | None = None) -> list[dict]:
    """COCO results for ``inputs`` from ``records`` (by unit key); a unit without a record or
    with an ``error`` adds nothing. ``video_pipeline`` makes the tracker (needed for videos)."""
    results: list[dict] = []
    pictures = [f for f in inputs if f.kind == "image"][:max_frames]
    for index, picture in enumerate(pictures):
        image_id = image_id_for(picture.name, index)
        for entry in records.get(picture.key, {}).get("people", []):
            results.append({**entry, "image_id": image_id, "file_name": picture.name})
    videos = [f for f in inputs if f.kind == "video"]
    if videos:
        pipeline = video_pipeline()
        by_video: dict[str, list[tuple[int, dict]]] = {}
        for key, record in records.items():
            path, _, start = key.rpartition("#")
            if path and start.isdigit():
                by_video.setdefault(path, []).append((int(start), record))
        for video in videos:
            chunks = sorted(by_video.get(video.key, []), key=lambda c: c[0])
            results.extend(_tracked_video(video, [r for _, r in chunks], pipeline))
    return results
