"""The ``lgmpose predict`` pipeline: read, detect, estimate, track, draw, write; timed per stage.

Outputs in ``out_dir``: one annotated image per input image (same name), or one annotated video
(``<name>.mp4``), ``results.json`` in the COCO keypoint-results format (plus ``file_name`` and,
on video, ``frame`` and ``track_id``) and ``summary.json`` (frames read and announced, pictures
skipped, the files written). Every file is written atomically; the files an earlier run listed in
its ``summary.json`` and this one did not rewrite are removed, so that stale pictures never sit
beside new results. A folder that this run created is removed again if the run fails.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lgmpose.defaults import KPT_THR, MAX_PIXELS
from lgmpose.errors import LgmposeError
from lgmpose.inference.draw import draw_poses
from lgmpose.inference.estimator import PoseEstimator
from lgmpose.inference.media import Source, open_source
from lgmpose.utils.outdir import output_dir
from lgmpose.video.pipeline import VideoPipeline
from lgmpose.video.writers import VideoWriter, write_image, write_json

__all__ = ["PredictOptions", "PredictReport", "run_predict", "load_boxes_file", "STAGES"]

STAGES = ("decode", "detect", "pose", "track", "draw", "encode")


@dataclass
class PredictOptions:
    out_dir: str | os.PathLike = "lgmpose_output"
    weights: str | None = None
    backend: str | None = None
    device: str = "cpu"
    detector: str = "auto"
    det_thr: float | None = None
    boxes_file: str | None = None
    kpt_thr: float = KPT_THR
    flip_test: bool = False
    pose_quality: bool = True         # a person's score counts the pose's quality
    det_interval: int = 1
    smooth: bool | None = None        # None: on for video, off for images
    threads: int | None = None
    max_frames: int | None = None
    draw: bool = True
    show: bool = False
    progress: bool | None = None      # None: a bar on a terminal for inputs of more than 1 frame
    max_pixels: int | None = MAX_PIXELS


@dataclass
class PredictReport:
    source: str
    kind: str
    frames: int = 0
    people: int = 0
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    outputs: list[Path] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)
    frames_announced: int | None = None     # video: the frame count in its header
    ended_early: bool = False               # video: fewer frames than announced
    skipped: list[dict] = field(default_factory=list)   # folder: {"file", "error"}
    removed: list[str] = field(default_factory=list)    # an earlier run's stale outputs

    @property
    def incomplete(self) -> bool:
        """The input was not read whole: a video cut short, or pictures skipped."""
        return self.ended_early or bool(self.skipped)

    def warnings(self) -> list[str]:
        lines = []
        if self.ended_early:
            lines.append(f"warning: '{self.source}': read {self.frames} of the "
                         f"{self.frames_announced} frames its header announces; the video is "
                         f"cut short or corrupt after frame {self.frames}")
        for entry in self.skipped:
            lines.append(f"warning: skipping: {entry['error']}")
        if self.skipped:
            lines.append(f"warning: skipped {len(self.skipped)} of "
                         f"{len(self.skipped) + self.frames} pictures (unreadable)")
        return lines

    def to_dict(self) -> dict:
        return {"source": self.source, "kind": self.kind, "frames": self.frames,
                "frames_announced": self.frames_announced, "ended_early": self.ended_early,
                "skipped": self.skipped, "people": self.people,
                "seconds": round(self.seconds, 3),
                "outputs": [Path(p).name for p in self.outputs]}

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def shares(self) -> dict[str, float]:
        total = sum(self.stages.values()) or 1.0
        return {k: v / total for k, v in self.stages.items()}

    def summary(self) -> str:
        shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in self.shares().items())
        ms = 1000 * self.seconds / max(self.frames, 1)
        frames = f"{self.frames} frame(s)"
        if self.ended_early:
            frames = f"{self.frames} of {self.frames_announced} announced frame(s) (ended early)"
        elif self.skipped:
            frames += f" ({len(self.skipped)} unreadable picture(s) skipped)"
        return (f"{self.source}: {frames}, {self.people} person detection(s) in "
                f"{self.seconds:.2f} s = {self.fps:.1f} fps end to end ({ms:.1f} ms/frame; "
                f"{shares})")


def _image_id(name: str, index: int) -> int:
    stem = Path(name).stem
    return int(stem) if re.fullmatch(r"\d+", stem) else index


def _is_box(value) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) >= 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _checked_boxes(value, path: Path, where: str):
    """``value`` if it is a list of ``[x, y, w, h]`` boxes (or one box, or empty), else an error
    naming the file and the entry."""
    if isinstance(value, list) and (not value or _is_box(value) or all(_is_box(b) for b in value)):
        return value
    raise LgmposeError(f"boxes file '{path}': {where} must be a list of [x, y, w, h] boxes, got "
                       f"{_short(value)}")


class _BoxLookup:
    """``(name, index, image_id) -> boxes``; ``keys``: the names of a mapping file, else None."""

    def __init__(self, lookup, keys: set[str] | None = None) -> None:
        self._lookup, self.keys = lookup, keys

    def __call__(self, name: str, index: int, image_id):
        return self._lookup(name, index, image_id)


def load_boxes_file(path: str | os.PathLike, min_score: float = 0.0):
    """Caller boxes from JSON: a list ``[[x, y, w, h], ...]`` for every frame, a mapping
    ``{file_name or frame index: [[x, y, w, h], ...]}``, or COCO detection results
    ``[{"image_id", "bbox", "score"}, ...]`` (those scoring below ``min_score`` are dropped).
    Returns a function ``(name, index, image_id) -> boxes``. A file of another shape is an
    ``LgmposeError`` naming it.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise LgmposeError(f"boxes file '{path}': file not found") from None
    except IsADirectoryError:
        raise LgmposeError(f"boxes file '{path}': is a folder, not a JSON file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LgmposeError(f"boxes file '{path}': not valid JSON ({error})") from None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        by_id: dict = {}
        for i, det in enumerate(data):
            if not isinstance(det, dict) or "bbox" not in det or "image_id" not in det:
                raise LgmposeError(f"boxes file '{path}': detection entries need 'image_id' and "
                                   f"'bbox' (entry {i}: {_short(det)})")
            if not _is_box(det["bbox"]):
                raise LgmposeError(f"boxes file '{path}': entry {i}: 'bbox' must be [x, y, w, h], "
                                   f"got {_short(det['bbox'])}")
            score = det.get("score", 1.0)
            if not isinstance(score, (int, float)) or isinstance(score, bool):
                raise LgmposeError(f"boxes file '{path}': entry {i}: 'score' must be a number, "
                                   f"got {_short(score)}")
            if det.get("category_id", 1) == 1 and score >= min_score:
                by_id.setdefault(det["image_id"], []).append(det["bbox"])
        return _BoxLookup(lambda name, index, image_id: by_id.get(image_id, by_id.get(name, [])))
    if isinstance(data, list):
        _checked_boxes(data, path, "the list")
        return _BoxLookup(lambda name, index, image_id: data)
    if isinstance(data, dict):
        for key, value in data.items():
            _checked_boxes(value, path, f"entry {key!r}")
        return _BoxLookup(lambda name, index, image_id: data.get(
            name, data.get(str(index), data.get(Path(name).stem, []))), keys=set(data))
    raise LgmposeError(f"boxes file '{path}': expected a list of boxes, a mapping or COCO "
                       f"detection results, got {_short(data)}")


def _check_box_keys(boxes_for: _BoxLookup, source: Source, path) -> None:
    """A mapping file none of whose keys names an input frame would give no person anywhere."""
    keys = getattr(boxes_for, "keys", None)
    if not keys:
        return
    if source.paths is not None:
        names = {n for i, p in enumerate(source.paths) for n in (p.name, p.stem, str(i))}
        what = "an input picture (file name, name without suffix, or index)"
    else:
        names = {k for k in keys if k.isdigit()}
        what = "a frame index"
    if not keys & names:
        shown = ", ".join(sorted(keys)[:3]) + (", ..." if len(keys) > 3 else "")
        raise LgmposeError(f"boxes file '{path}': none of its keys ({shown}) is {what}")


def _check_options(options: PredictOptions) -> None:
    for name in ("kpt_thr", "det_thr"):
        value = getattr(options, name)
        if value is not None and not 0.0 <= float(value) <= 1.0:
            raise LgmposeError(f"{name} {value}: a score threshold must be in [0, 1]")
    for name in ("max_frames", "det_interval", "threads", "max_pixels"):
        value = getattr(options, name)
        if value is not None and (isinstance(value, bool) or int(value) < 1):
            raise LgmposeError(f"{name} {value}: must be a positive integer")


def _check_out_dir(out_dir: Path) -> None:
    """The output folder, or its first existing parent, must be a folder (before any output)."""
    for path in (out_dir, *out_dir.parents):
        if path.exists():
            if not path.is_dir():
                where = "is an existing file" if path == out_dir else f"'{path}' is a file"
                raise LgmposeError(f"--out '{out_dir}': {where}, not a folder; choose another "
                                   "--out")
            return


def _progress(source: Source, enabled: bool | None):
    total = len(source) or None
    if enabled is None:
        enabled = (total or 2) > 1 and sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc=Path(source.spec).name, dynamic_ncols=True,
                file=sys.stderr)


def run_predict(source_spec: str, options: PredictOptions,
                estimator: PoseEstimator | None = None) -> PredictReport:
    """Run the whole pipeline on one input; ``estimator`` may be a ready ``PoseEstimator``."""
    _check_options(options)
    out_dir = Path(options.out_dir)
    _check_out_dir(out_dir)
    source = open_source(source_spec, max_frames=options.max_frames,
                         max_pixels=options.max_pixels)
    if source.paths is not None and options.draw and any(
            p.parent.resolve() == out_dir.resolve() for p in source.paths):
        raise LgmposeError(f"--out '{out_dir}': is the input's own folder; annotated pictures "
                           "would overwrite the originals, choose another folder")
    boxes_for = (load_boxes_file(options.boxes_file, options.det_thr or 0.0)
                 if options.boxes_file else None)
    if boxes_for is not None:
        _check_box_keys(boxes_for, source, options.boxes_file)
    if estimator is None:
        estimator = PoseEstimator(options.weights, backend=options.backend,
                                  device=options.device, detector=options.detector,
                                  det_thr=options.det_thr, flip_test=options.flip_test,
                                  threads=options.threads, pose_quality=options.pose_quality)
    if boxes_for is None:
        estimator.detector  # build it now: loading a model is not per-frame time
    smooth = source.is_video if options.smooth is None else options.smooth
    video = (VideoPipeline(estimator, det_interval=options.det_interval, smooth=smooth,
                           kpt_thr=options.kpt_thr) if source.is_video else None)
    report = PredictReport(source=str(source_spec), kind=source.kind)
    earlier = _earlier_outputs(out_dir)
    with output_dir(out_dir, "--out"):
        _run_frames(source, options, estimator, video, boxes_for, report, out_dir)
        report.frames_announced = source.frames_announced or None
        report.ended_early = source.ended_early
        report.skipped = [{"file": name, "error": error} for name, error in source.skipped]
        if report.frames == 0 and source.skipped:
            raise LgmposeError(f"folder '{source.spec}': none of its {len(source.skipped)} "
                               f"pictures could be read (first: {source.skipped[0][1]})")
        json_path = out_dir / "results.json"
        write_json(json_path, report.results)
        report.outputs.append(json_path)
        written = {Path(p).name for p in report.outputs} | {"summary.json"}
        for name in sorted(earlier - written):
            with contextlib.suppress(OSError):
                (out_dir / name).unlink()
                report.removed.append(name)
        write_json(out_dir / "summary.json", report.to_dict())
    return report


def _earlier_outputs(out_dir: Path) -> set[str]:
    """The outputs an earlier run listed in ``out_dir/summary.json`` (plain names only)."""
    try:
        data = json.loads((out_dir / "summary.json").read_text())
        names = data.get("outputs", []) if isinstance(data, dict) else []
    except (OSError, ValueError):
        return set()
    return {n for n in names if isinstance(n, str) and n == Path(n).name and n not in (".", "..")}


def _run_frames(source: Source, options: PredictOptions, estimator: PoseEstimator,
                video: VideoPipeline | None, boxes_for, report: PredictReport,
                out_dir: Path) -> None:
    stages = report.stages
    bar = _progress(source, options.progress)
    video_out = None
    if source.is_video:
        name = (f"camera{source.spec.split()[-1]}" if source.kind == "camera"
                else Path(source.spec).stem)
        target = out_dir / f"{name}.mp4"
        if source.kind == "video" and target.resolve() == Path(source.spec).resolve():
            raise LgmposeError(f"--out '{out_dir}': the annotated video would overwrite the "
                               f"input '{source.spec}', choose another folder")
        video_out = VideoWriter(target, source.fps, source.size)
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        # Closing the stack on an error discards the temporary video; on success renames it.
        stack.callback(source.close)
        if bar is not None:
            stack.callback(bar.close)
        if video_out is not None:
            stack.enter_context(video_out)
        frames = iter(source)
        while True:
            t0 = time.perf_counter()
            frame = next(frames, None)
            t1 = time.perf_counter()
            stages["decode"] += t1 - t0
            if frame is None:
                break
            image_id = frame.index if source.is_video else _image_id(frame.name, frame.index)
            boxes = boxes_for(frame.name, frame.index, image_id) if boxes_for else None
            if video is not None and boxes is None:
                people = video(frame.image, frame.timestamp)
                timings = video.timings
            else:
                people = estimator(frame.image, boxes=boxes)
                timings = estimator.timings
            for stage in ("detect", "pose", "track"):
                stages[stage] += timings.get(stage, 0.0)
            t2 = time.perf_counter()
            canvas = (draw_poses(frame.image, people, estimator.metainfo, options.kpt_thr,
                                 copy=False) if options.draw else frame.image)
            if options.show:
                _show(canvas)
            t3 = time.perf_counter()
            stages["draw"] += t3 - t2
            if video_out is not None:
                video_out.write(canvas)
            elif options.draw:
                out_path = out_dir / frame.name
                write_image(out_path, canvas)
                report.outputs.append(out_path)
            stages["encode"] += time.perf_counter() - t3
            for person in people:
                entry = person.to_coco(image_id)
                entry["file_name"] = source.spec if source.is_video else frame.name
                if source.is_video:
                    entry["frame"] = frame.index
                report.results.append(entry)
            report.frames += 1
            report.people += len(people)
            if bar is not None:
                bar.update(1)  # tqdm shows the rate in frames per second
    if video_out is not None:
        report.outputs.append(video_out.path)
    report.seconds = time.perf_counter() - start


def _show(image: np.ndarray) -> None:
    import cv2

    try:
        cv2.imshow("lgmpose", image)
        key = cv2.waitKey(1)
    except cv2.error:
        raise LgmposeError("--show: this OpenCV build cannot open windows (the headless "
                           "package, or no display); drop --show and open the written files") \
            from None
    if key in (27, ord("q")):
        raise KeyboardInterrupt
