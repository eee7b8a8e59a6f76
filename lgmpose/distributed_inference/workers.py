"""The work a Ray actor does, as plain callable classes (Ray Data's ``map_batches`` makes an actor
of each and calls it with batches of work items): the models are loaded once, in ``__init__``.

A batch holds work items as JSON strings (column ``item``); the answer has one row per unit
(picture or video chunk): ``key`` and ``record`` (JSON). A picture or video that cannot be read
gives a record with ``error``; it never fails the batch.
"""
from __future__ import annotations

import json
import pickle
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lgmpose.distributed_inference.batching import people_in_pictures
from lgmpose.errors import LgmposeError
from lgmpose.inference.estimator import PoseEstimator
from lgmpose.inference.media import open_source, read_image
from lgmpose.video.pipeline import VideoPipeline
from lgmpose.video.predict import load_boxes_file

__all__ = ["PredictWorker", "LabelWorker", "raw_people"]

Batch = dict[str, np.ndarray]


def _answer(rows: list[tuple[str, dict]]) -> Batch:
    return {"key": np.array([k for k, _ in rows], dtype=object),
            "record": np.array([json.dumps(r) for _, r in rows], dtype=object)}


def raw_people(people) -> dict[str, list]:
    """A frame's people before tracking, at full float32 precision (JSON floats round-trip)."""
    return {"boxes": [p.box.tolist() for p in people],
            "keypoints": [p.keypoints.tolist() for p in people],
            "scores": [p.scores.tolist() for p in people],
            "box_scores": [p.box_score for p in people],
            "quality": [p.quality for p in people]}


class PredictWorker:
    """``lgmpose predict``'s estimator, loaded once per actor; ``settings`` as the run's manifest
    holds them (:func:`lgmpose.distributed_inference.predict.run_settings`)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.estimator = PoseEstimator(
            settings["weights"], backend=settings["backend"], device=settings["device"],
            detector=settings["detector"], det_thr=settings["det_thr"],
            flip_test=settings["flip_test"], threads=settings["threads"],
            pose_quality=settings["pose_quality"])
        self.boxes_for = (load_boxes_file(settings["boxes"], settings["det_thr"] or 0.0)
                          if settings["boxes"] else None)
        if self.boxes_for is None:
            self.estimator.detector  # load it now, not on the first picture

    def __call__(self, batch: Batch) -> Batch:
        rows: list[tuple[str, dict]] = []
        for text in batch["item"]:
            item = json.loads(text)
            if item["kind"] == "pictures":
                rows.extend(self._pictures(item["pictures"]))
            else:
                rows.append((item["key"], self._video_chunk(item)))
        return _answer(rows)

    def _pictures(self, pictures: list[dict]) -> list[tuple[str, dict]]:
        rows, images, readable = [], [], []
        for picture in pictures:
            try:
                images.append(read_image(picture["path"], self.settings["max_pixels"]))
                readable.append(picture)
            except LgmposeError as error:
                rows.append((picture["key"], {"error": str(error)}))
        boxes = None
        if self.boxes_for is not None:
            boxes = [self.boxes_for(Path(p["name"]).name, p["index"], p["image_id"])
                     for p in readable]
        for picture, people in zip(readable, people_in_pictures(self.estimator, images, boxes)):
            rows.append((picture["key"], {"people": [p.to_coco(0) for p in people]}))
        return rows

    def _video_chunk(self, item: dict) -> dict:
        """Frames ``start`` to ``stop`` through a fresh ``VideoPipeline`` without smoothing: chunks
        start on a detection frame, so each frame's people are those of a run over the whole video;
        tracking and smoothing are done over the whole video when the chunks are merged."""
        try:
            source = open_source(item["path"])
        except LgmposeError as error:
            return {"error": str(error)}
        s = self.settings
        pipeline = VideoPipeline(self.estimator, det_interval=s["det_interval"], smooth=False,
                                 kpt_thr=s["kpt_thr"])
        frames = []
        start, stop = item["start"], item["stop"]
        try:
            capture = source.capture
            if start and not capture.set(cv2.CAP_PROP_POS_FRAMES, start):
                return {"error": f"cannot read video '{item['path']}': cannot seek to frame "
                                 f"{start}"}
            index = start
            while stop is None or index < stop:
                ok, image = capture.read()
                if not ok or image is None:
                    break
                people = pipeline(image, index / source.fps)
                frames.append({"frame": index, "t": index / source.fps, **raw_people(people)})
                index += 1
        finally:
            source.close()
        if not frames and start == 0:
            return {"error": f"cannot read video '{item['path']}': no frame could be decoded"}
        return {"frames": frames, "fps": source.fps}


class LabelWorker:
    """``lgmpose pseudo-label``'s teacher and detector, loaded once per actor. Each entry is
    labelled by :func:`lgmpose.labels.pseudo_label.pseudo_label` itself (one entry at a time into
    a scratch file), so the rules are those of the one-process command."""

    def __init__(self, settings: dict[str, Any]) -> None:
        from lgmpose.inference.movenet import MoveNet

        self.settings = settings
        self.teacher = MoveNet(settings["teacher"], threads=settings["threads"])
        self.detector = None
        if settings["detector"] not in (None, "none", "whole_image"):
            from lgmpose.detectors import build_detector

            self.detector = build_detector(settings["detector"], det_thr=0.0)

    def __call__(self, batch: Batch) -> Batch:
        from lgmpose.labels.pseudo_label import pseudo_label

        s = self.settings
        rows = []
        for blob in batch["entry"]:
            entry = pickle.loads(blob)
            with tempfile.TemporaryDirectory() as scratch:
                out = Path(scratch) / "labels.json"
                summary = pseudo_label([entry], self.teacher, out, kpt_thr=s["kpt_thr"],
                                       min_keypoints=s["min_keypoints"], detector=self.detector,
                                       det_thr=s["det_thr"], min_height=s["min_height"],
                                       progress=False, fix_pairs=s["fix_pairs"])
                data = json.loads(out.read_text())
            rows.append((str(entry.image_id), _label_record(entry, data, summary)))
        return _answer(rows)


def _label_record(entry, data: dict, summary: dict) -> dict:
    """The line ``pseudo_label`` keeps for an entry in its resume file, from its output."""
    if not data["images"]:
        return {"image": {"id": entry.image_id, "file_name": entry.file_name},
                "skipped": summary["skipped_files"][0]}
    annotations = [{k: v for k, v in ann.items() if k not in ("id", "image_id")}
                   for ann in data["annotations"]]
    return {"image": data["images"][0], "annotations": annotations,
            "dropped": summary["dropped_persons"]}
