"""Accuracy of several pose models on the same people, side by side (``lgmpose accuracy``).

Every model sees the same ground-truth person boxes (clipped to the image, as
:class:`~lgmpose.inference.estimator.PoseEstimator` clips them) and every image is decoded once
and handed to all models in turn, so the rows differ only by the model.

A model is given as:

* ``bundled``: the package's default model (ONNX Runtime);
* a ``.onnx`` export or ``.pt`` checkpoint of ours, run through ``PoseEstimator`` (``flip``
  turns on its flip test);
* a MoveNet single-pose model: a ``.tflite`` file, or an ``.onnx`` whose input is NHWC
  ``[1, S, S, 3]`` (the TF.js conversion) or whose file name contains ``movenet``; run through
  :class:`~lgmpose.inference.movenet.MoveNet` (square crop of side ``max(w, h)`` around the box;
  it has no flip test).

COCO: every non-crowd person with ``num_keypoints > 0``, rescored by
:func:`~lgmpose.evaluation.coco.make_coco_results` (the mean of the keypoint scores above 0.2,
times, for our models unless ``pose_quality=False``, the pose's quality of
:mod:`lgmpose.codecs.quality`; no NMS), scored by pycocotools OKS AP (all ten stats). LSP / LSPET: PCK@0.2 of the torso
(:func:`~lgmpose.data.lsp.lsp_pck`) with its per-joint-group figures. Both report the time per
person (the model call, crops included, over the persons; ours run every person of an image in
one batch).

Nothing here imports torch unless a ``.pt`` model is asked for.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lgmpose.defaults import RESCORE_THR
from lgmpose.errors import LgmposeError
from lgmpose.utils.bundled import BUNDLED, bundled_weights

__all__ = ["ModelSpec", "model_kind", "resolve_models", "load_runner", "compare_coco",
           "compare_lsp", "format_report", "format_keypoint_report", "format_breakdown_report"]

COCO_COLUMNS = ("AP", "AP50", "AP75", "APM", "APL", "AR")
LSP_COLUMNS = ("PCK", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle")

Log = Callable[[str], None]


@dataclass
class ModelSpec:
    name: str           # the row's name: file stem, or "bundled"
    spec: str           # as given on the command line
    path: Path
    kind: str           # "movenet" or "lgmpose"


def _onnx_io_shapes(path: Path) -> tuple[list[Any], list[Any], str]:
    """``(input shape, first output shape, input type)`` of an ONNX file (one light session)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise LgmposeError(f"model '{path}': not a valid ONNX model ({first[:200]})") from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or not outputs:
        raise LgmposeError(f"model '{path}': expected one image input, got "
                           f"{[(i.name, i.shape) for i in inputs]}")
    return list(inputs[0].shape), list(outputs[0].shape), inputs[0].type


def _is_nhwc_image(shape: Sequence[Any]) -> bool:
    return (len(shape) == 4 and shape[3] == 3 and isinstance(shape[1], int)
            and shape[1] == shape[2] and shape[1] != 3)


def _static_size(shape: Sequence[Any]) -> int | None:
    return int(np.prod(shape)) if all(isinstance(s, int) for s in shape) else None


def _check_movenet_output(path: Path, out_shape: Sequence[Any]) -> None:
    size = _static_size(out_shape)
    if size is not None and size != 17 * 3:
        raise LgmposeError(f"model '{path}': output shape {list(out_shape)} is not MoveNet "
                           "single-pose's [1, 1, 17, 3]")


def model_kind(path: str | os.PathLike) -> str:
    """``"movenet"`` or ``"lgmpose"`` for a model file, from its type and input layout.

    ``.pt`` / ``.pth``: ours. ``.tflite``: MoveNet (checked: NHWC image in, 17 x 3 out).
    ``.onnx``: MoveNet if its input is ``[1, S, S, 3]`` or its name contains ``movenet``, ours
    otherwise. Missing or unreadable files raise :class:`LgmposeError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise LgmposeError(f"model '{path}': file not found")
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth"):
        return "lgmpose"
    if suffix == ".tflite":
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise LgmposeError(f"model '{path}': a .tflite file needs the ai-edge-litert "
                               "package") from None
        try:
            interpreter = Interpreter(model_path=str(path), num_threads=1)
            in_shape = [int(s) for s in interpreter.get_input_details()[0]["shape"]]
            out_shape = [int(s) for s in interpreter.get_output_details()[0]["shape"]]
        except Exception as error:  # litert raises ValueError, RuntimeError, ...
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise LgmposeError(f"model '{path}': not a readable TFLite model "
                               f"({first[:200]})") from None
        if not _is_nhwc_image(in_shape):
            raise LgmposeError(f"model '{path}': input {in_shape} is not MoveNet's "
                               "[1, S, S, 3]; only MoveNet single-pose .tflite files are supported")
        _check_movenet_output(path, out_shape)
        return "movenet"
    if suffix == ".onnx":
        in_shape, out_shape, _ = _onnx_io_shapes(path)
        if _is_nhwc_image(in_shape) or "movenet" in path.name.lower():
            _check_movenet_output(path, out_shape)
            return "movenet"
        return "lgmpose"
    raise LgmposeError(f"model '{path}': unknown model file type '{suffix or '(none)'}'; "
                       "expected .onnx, .pt, .tflite or 'bundled'")


def resolve_models(specs: Sequence[str]) -> list[ModelSpec]:
    """Command-line model entries -> :class:`ModelSpec` with unique row names."""
    if not specs:
        raise LgmposeError("no model given (--models)")
    resolved: list[ModelSpec] = []
    for spec in specs:
        if spec == BUNDLED:
            path = bundled_weights("onnxruntime")
            if not path.is_file():
                raise LgmposeError(f"bundled model '{path.name}' is missing from this install")
            name, kind = BUNDLED, "lgmpose"
        else:
            path = Path(spec)
            kind = model_kind(path)
            name = path.stem
        resolved.append(ModelSpec(name=name, spec=spec, path=path, kind=kind))
    # Clashing stems (model.onnx and model.pt) take the file name; still equal ones get #2, #3.
    stems = [m.name for m in resolved]
    used: dict[str, int] = {}
    for model in resolved:
        if model.spec != BUNDLED and stems.count(model.name) > 1:
            model.name = model.path.name
        used[model.name] = used.get(model.name, 0) + 1
        if used[model.name] > 1:
            model.name = f"{model.name}#{used[model.name]}"
    return resolved


class _Runner:
    """``runner(image_bgr, boxes[N, 4]) -> (keypoints [N, 17, 2], scores [N, 17], quality [N])``;
    the quality is a factor of the instance score (1 for models that give none)."""

    name: str
    info: dict[str, Any]

    def __call__(self, image: np.ndarray, boxes: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError


class _MoveNetRunner(_Runner):
    def __init__(self, spec: ModelSpec, threads: int | None) -> None:
        from lgmpose.inference.movenet import MoveNet

        self.name = spec.name
        self.model = MoveNet(spec.path, threads=threads)
        self.info = {"kind": "movenet", "runtime": "tflite" if spec.path.suffix.lower() ==
                     ".tflite" else "onnxruntime",
                     "input_size": [self.model.size, self.model.size], "flip": False}

    def __call__(self, image, boxes):
        kpts = np.zeros((len(boxes), 17, 2), np.float32)
        scores = np.zeros((len(boxes), 17), np.float32)
        for i, box in enumerate(boxes):
            kpts[i], scores[i] = self.model(image, box)
        return kpts, scores, np.ones(len(boxes), np.float32)


class _EstimatorRunner(_Runner):
    def __init__(self, spec: ModelSpec, threads: int | None, flip: bool,
                 pose_quality: bool = True) -> None:
        from lgmpose.inference.estimator import PoseEstimator

        self.name = spec.name
        self.model = PoseEstimator(weights=spec.path, threads=threads, flip_test=flip,
                                   pose_quality=pose_quality)
        k = self.model.metainfo.num_keypoints
        if k != 17:
            raise LgmposeError(f"model '{spec.path}': predicts {k} keypoints "
                               f"({self.model.metainfo.name}); the comparison is on COCO's 17")
        self.info = {"kind": "lgmpose", "runtime": self.model.backend,
                     "input_size": list(self.model.input_size), "flip": bool(flip),
                     "pose_quality": bool(pose_quality)}

    def __call__(self, image, boxes):
        return self.model.estimate(image, boxes, quality=True)


def load_runner(spec: ModelSpec, threads: int | None = 1, flip: bool = False,
                pose_quality: bool = True) -> _Runner:
    if spec.kind == "movenet":
        return _MoveNetRunner(spec, threads)
    return _EstimatorRunner(spec, threads, flip, pose_quality)


@dataclass
class _Group:
    """The people of one image: their boxes and where their predictions go."""

    image_file: Path
    boxes: np.ndarray       # [n, 4] xywh as given
    slots: list[int]        # positions in the flat list of persons
    cut: Any = None         # the picture ends here (lgmpose.evaluation.truncation), or None


def _clip(boxes: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes clipped to the image as PoseEstimator clips them, and which are still >= 1 px."""
    from lgmpose.detectors.boxes import clip_boxes

    clipped = clip_boxes(np.asarray(boxes, np.float32).reshape(-1, 4), width, height)
    return clipped, (clipped[:, 2] >= 1.0) & (clipped[:, 3] >= 1.0)


def _predict(runners: Sequence[_Runner], groups: Sequence[_Group], count: int, log: Log | None
             ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], np.ndarray,
                        list[float]]:
    """Run every model on every group; ``(keypoints, scores, qualities, kept, seconds)``, the
    first three and the seconds per model.

    ``kept[n]`` is False for a person whose clipped box is empty (no model sees it).
    """
    from lgmpose.inference.media import read_image

    kpts = [np.zeros((count, 17, 2), np.float32) for _ in runners]
    scores = [np.zeros((count, 17), np.float32) for _ in runners]
    qualities = [np.ones(count, np.float32) for _ in runners]
    kept = np.zeros(count, bool)
    seconds = [0.0 for _ in runners]
    step = max(1, len(groups) // 10)
    for g, group in enumerate(groups):
        image = read_image(group.image_file)
        if group.cut is not None:
            from lgmpose.evaluation.truncation import blank_beyond

            image = blank_beyond(image, group.cut)
        height, width = image.shape[:2]
        boxes, ok = _clip(group.boxes, width, height)
        slots = np.asarray(group.slots)[ok]
        boxes = boxes[ok]
        if len(slots) == 0:
            continue
        kept[slots] = True
        for m, runner in enumerate(runners):
            start = time.perf_counter()
            k, s, q = runner(image, boxes)
            seconds[m] += time.perf_counter() - start
            kpts[m][slots], scores[m][slots], qualities[m][slots] = k, s, q
        if log and ((g + 1) % step == 0 or g + 1 == len(groups)):
            log(f"{g + 1}/{len(groups)} images")
    return kpts, scores, qualities, kept, seconds


def _load_runners(specs: Sequence[ModelSpec], threads: int | None, flip: bool,
                  pose_quality: bool = True) -> list[_Runner]:
    return [load_runner(spec, threads, flip, pose_quality) for spec in specs]


def _row(spec: ModelSpec, runner: _Runner, persons: int, seconds: float) -> dict[str, Any]:
    return {"name": spec.name, "model": str(spec.path), **runner.info, "persons": persons,
            "ms_per_person": round(1000.0 * seconds / max(persons, 1), 3)}


def _images_dir(img_dir: str | os.PathLike) -> Path:
    folder = Path(img_dir)
    if not folder.is_dir():
        raise LgmposeError(f"image folder '{folder}' does not exist")
    return folder


def compare_coco(models: Sequence[str], ann_file: str | os.PathLike, img_dir: str | os.PathLike,
                 flip: bool = False, threads: int | None = 1, log: Log | None = None,
                 truncate: int | None = None, pose_quality: bool = True,
                 bootstrap: int = 0) -> dict[str, Any]:
    """COCO OKS AP of every model with ground-truth boxes: ``{"dataset": ..., "rows": [...],
    "breakdown": ..., "bootstrap": ...}``. With ``truncate`` (a seed), every person is first cut
    off by a picture border (:mod:`lgmpose.evaluation.truncation`) and scored on what is left.
    ``pose_quality``: our models' instance scores count the pose's quality
    (:mod:`lgmpose.codecs.quality`). ``bootstrap``: that many resamplings of the pictures give 95%
    intervals of each AP and of each model's difference to the first
    (:mod:`lgmpose.evaluation.bootstrap`); 0: none."""
    from lgmpose.data.coco import load_coco_json
    from lgmpose.data.facing import facing
    from lgmpose.data.metainfo import load_metainfo
    from lgmpose.evaluation.breakdown import breakdown_rows, group_people, max_overlap, person_oks
    from lgmpose.evaluation.coco import coco_keypoint_ap, keypoint_similarity, make_coco_results

    specs = resolve_models(models)  # a bad model file fails before any data is read
    folder = _images_dir(img_dir)
    data = load_coco_json(ann_file)
    files = {img["id"]: img["file_name"] for img in data["images"]}
    by_image: dict[Any, list[dict]] = {}
    every_box: dict[Any, list[dict]] = {}   # every person box of an image, for the overlaps
    for ann in data["annotations"]:
        every_box.setdefault(ann["image_id"], []).append(ann)
        if ann.get("iscrowd", 0) or not ann.get("num_keypoints", 0):
            continue
        if ann["image_id"] not in files:
            raise LgmposeError(f"annotation file {str(ann_file)!r}: annotation {ann.get('id')} "
                               f"refers to image {ann['image_id']}, which it does not list")
        by_image.setdefault(ann["image_id"], []).append(ann)
    if not by_image:
        raise LgmposeError(f"annotation file {str(ann_file)!r} has no non-crowd person with "
                           "keypoints")
    groups, image_ids, people, overlaps = [], [], [], []
    for image_id, anns in by_image.items():
        slots = list(range(len(image_ids), len(image_ids) + len(anns)))
        image_ids += [image_id] * len(anns)
        people += anns
        boxes = np.asarray([a["bbox"] for a in anns], np.float32)
        groups.append(_Group(folder / files[image_id], boxes, slots))
        neighbours = every_box[image_id]
        overlaps.append(max_overlap(boxes, [a["bbox"] for a in neighbours],
                                    [_index_of(neighbours, a) for a in anns]))
    truncated, ground_truth = None, ann_file
    if truncate is not None:
        from lgmpose.evaluation.truncation import EVAL_KEEP, truncate_people

        originals = people
        people, cuts = truncate_people(originals, truncate)
        # one group per person: each sees the picture cut at their own line
        groups = [_Group(g.image_file, np.asarray([people[n]["bbox"]], np.float32), [n],
                         cuts[n]) for g in groups for n in g.slots]
        swap = {id(a): b for a, b in zip(originals, people)}
        ground_truth = {**data, "annotations": [swap.get(id(a), a) for a in data["annotations"]]}
        truncated = {"seed": truncate, "keep": list(EVAL_KEEP),
                     "cut": sum(c is not None for c in cuts)}
    runners = _load_runners(specs, threads, flip, pose_quality)
    kpts, scores, qualities, kept, seconds = _predict(runners, groups, len(image_ids), log)
    coco = load_metainfo("coco")
    sigmas = coco.sigmas
    ids = [i for i, k in zip(image_ids, kept) if k]
    boxes = np.concatenate([g.boxes for g in groups])[kept]
    areas = boxes[:, 2] * boxes[:, 3]
    truth = np.asarray([a["keypoints"] for a in people], np.float64).reshape(len(people), -1, 3)
    truth_areas = np.asarray([a.get("area") or a["bbox"][2] * a["bbox"][3] for a in people])
    overlaps = np.concatenate(overlaps)[kept]
    truth_facing = facing(truth[kept], truth[kept][..., 2] > 0)
    groups_of = group_people(truth_areas[kept], (truth[kept][..., 2] > 0).sum(axis=1), overlaps,
                             truth_facing)
    rows, counts, oks, turned, every_result = [], None, [], [], []
    for spec, runner, k, s, q, sec in zip(specs, runners, kpts, scores, qualities, seconds):
        oks.append(person_oks(k[kept], truth[kept], truth_areas[kept], sigmas))
        turned.append(facing(k[kept]))
        results = make_coco_results(ids, k[kept], s[kept], q[kept], areas, sigmas,
                                    nms_threshold=None)
        stats = coco_keypoint_ap(results, ground_truth, sigmas=sigmas)
        every_result.append(results)
        similarity, counts = keypoint_similarity(k[kept], truth[kept], truth_areas[kept], sigmas)
        rows.append({**_row(spec, runner, len(ids), sec),
                     **{key: round(value, 4) for key, value in stats.items()},
                     **({} if truncated is None else
                        _cut_away_scores(s[kept], originals, people, np.flatnonzero(kept))),
                     "keypoint_oks": {name: (None if np.isnan(v) else round(float(v), 4))
                                      for name, v in zip(coco.keypoint_names, similarity)}})
    return {"dataset": {"kind": "coco", "ann_file": os.fspath(ann_file),
                        "img_dir": os.fspath(img_dir), "images": len(groups),
                        "persons": int(kept.sum()), "skipped": int((~kept).sum()),
                        "boxes": "ground truth", "threads": threads, "truncated": truncated,
                        "keypoint_counts": dict(zip(coco.keypoint_names,
                                                    (int(c) for c in counts)))},
            "rows": rows,
            "breakdown": {"models": [r["name"] for r in rows],
                          **breakdown_rows(groups_of, oks, truth_facing, turned)},
            "bootstrap": _bootstrap(ground_truth if truncated else data, every_result, bootstrap,
                                    sigmas, log)}


def _cut_away_scores(scores: np.ndarray, originals: Sequence[dict], cut: Sequence[dict],
                     slots: np.ndarray) -> dict[str, float]:
    """How confident a model is about the keypoints a cut removed from the picture (labelled in
    the original, beyond the border after the cut) against those still in it: a model that
    draws body parts it cannot see scores the first high. ``cut_drawn``: the share of cut-away
    keypoints scoring at least the drawing threshold (``KPT_THR``)."""
    from lgmpose.defaults import KPT_THR

    before = np.asarray([a["keypoints"] for a in originals], np.float64).reshape(
        len(originals), -1, 3)[slots, :, 2] > 0
    after = np.asarray([a["keypoints"] for a in cut], np.float64).reshape(
        len(cut), -1, 3)[slots, :, 2] > 0
    away = before & ~after
    if not away.any():
        return {}
    return {"cut_score": round(float(scores[away].mean()), 4),
            "kept_score": round(float(scores[after].mean()), 4),
            "cut_drawn": round(float((scores[away] >= KPT_THR).mean()), 4)}


def _bootstrap(ground_truth: dict, results: list[list[dict]], replicates: int, sigmas,
               log: Log | None) -> dict[str, Any] | None:
    if replicates <= 0:
        return None
    from lgmpose.evaluation.bootstrap import bootstrap_ap

    if log:
        log(f"bootstrap: {replicates} resamplings of the pictures")
    return bootstrap_ap(ground_truth, results, replicates=replicates, sigmas=sigmas)


def _index_of(annotations: list[dict], person: dict) -> int:
    return next(i for i, a in enumerate(annotations) if a is person)


def compare_lsp(models: Sequence[str], mat_file: str | os.PathLike, img_dir: str | os.PathLike,
                split: str | None = "val", flip: bool = False, threads: int | None = 1,
                log: Log | None = None) -> dict[str, Any]:
    """LSP / LSPET PCK@0.2 (torso) of every model with the boxes of
    :func:`~lgmpose.data.lsp.lsp_box`: ``{"dataset": ..., "rows": [...]}``."""
    from lgmpose.data.lsp import PCK_THR, load_lsp, lsp_pck

    specs = resolve_models(models)
    _images_dir(img_dir)
    records = [r for r in load_lsp(mat_file, img_dir, split)
               if r["bbox"][2] > 0 and r["bbox"][3] > 0]
    if not records:
        raise LgmposeError(f"LSP joints file {os.fspath(mat_file)!r}: no person with labelled "
                           f"joints and an image in '{img_dir}' (split {split})")
    groups = [_Group(Path(r["image_file"]), np.asarray(r["bbox"], np.float32)[None], [i])
              for i, r in enumerate(records)]
    runners = _load_runners(specs, threads, flip)
    kpts, _, _, kept, seconds = _predict(runners, groups, len(records), log)
    records = [r for r, k in zip(records, kept) if k]
    rows = []
    for spec, runner, k, sec in zip(specs, runners, kpts, seconds):
        pck = lsp_pck(k[kept], records, threshold=PCK_THR)
        rows.append({**_row(spec, runner, len(records), sec),
                     **{key: (round(v, 2) if isinstance(v, float) else v)
                        for key, v in pck.items() if key not in ("persons",)},
                     "pck_persons": pck.get("persons")})
    return {"dataset": {"kind": "lsp", "mat_file": os.fspath(mat_file),
                        "img_dir": os.fspath(img_dir), "split": split or "all",
                        "persons": int(kept.sum()), "skipped": int((~kept).sum()),
                        "threshold": PCK_THR, "boxes": "joint extent (lsp_box)", "threads": threads},
            "rows": rows}


def format_report(report: dict[str, Any], markdown: bool = False) -> str:
    """The rows as a plain or markdown table, with a one-line header."""
    dataset = report["dataset"]
    if dataset["kind"] == "coco":
        columns = [c for c in COCO_COLUMNS]
        title = (f"COCO OKS AP, {dataset['persons']} persons with ground-truth boxes "
                 f"({dataset['ann_file']})")
        cut = dataset.get("truncated")
        if cut:
            title += (f"; {cut['cut']} of them cut off by a picture border (seed {cut['seed']}, "
                      f"keeping {cut['keep'][0]:.0%}-{cut['keep'][1]:.0%} of their keypoints' "
                      "extent)")
        digits = 4
    else:
        columns = [c for c in LSP_COLUMNS if any(c in r for r in report["rows"])]
        scored = {r.get("pck_persons") for r in report["rows"]} - {None}
        with_torso = f" ({scored.pop()} with a torso to normalise by)" if len(scored) == 1 else ""
        title = (f"PCK@{dataset['threshold']:g} (torso), {dataset['persons']} persons{with_torso}, split "
                 f"{dataset['split']} ({dataset['mat_file']})")
        digits = 2
    header = ["model", "runtime", "input", "flip", *columns, "ms/person"]
    lines = []
    for row in report["rows"]:
        size = "x".join(str(v) for v in row["input_size"])
        values = [f"{row[c]:.{digits}f}" if row.get(c) is not None else "-" for c in columns]
        lines.append([row["name"], row["runtime"], size, "yes" if row["flip"] else "no", *values,
                      f"{row['ms_per_person']:.1f}"])
    out = [title, *_table(header, lines, text_columns=4, markdown=markdown)]
    out.append(f"threads: {dataset['threads']}; ms/person: the model call with its crops, "
               "ours batched per image")
    for row in report["rows"]:
        if "cut_score" in row:
            out.append(f"  {row['name']}: mean score of the cut-away keypoints "
                       f"{row['cut_score']:.3f} ({row['cut_drawn']:.0%} drawn), of those left "
                       f"{row['kept_score']:.3f}")
    if dataset["kind"] == "coco":
        ranked = [r["name"] for r in report["rows"] if r.get("pose_quality")]
        out.append(f"instance score: the mean of the keypoint scores above {RESCORE_THR:g}"
                   + (f", times the pose's quality for {', '.join(ranked)}" if ranked else ""))
        boot = report.get("bootstrap")
        if boot:
            first = report["rows"][0]["name"]
            out.append(f"{boot['level']:.0%} intervals, {boot['replicates']} resamplings of the "
                       f"{boot['pictures']} pictures:")
            for row, ap, diff in zip(report["rows"], boot["ap"], boot["difference"]):
                line = f"  {row['name']}: AP {ap[0]:.3f} to {ap[1]:.3f}"
                if diff is not None:
                    line += f"; minus {first}'s: {diff[0]:+.3f} to {diff[1]:+.3f}"
                out.append(line)
    return "\n".join(out)


def format_keypoint_report(report: dict[str, Any], markdown: bool = False) -> str:
    """A COCO report's per-keypoint table: each keypoint's mean OKS similarity for every model."""
    dataset = report["dataset"]
    if dataset["kind"] != "coco":
        raise LgmposeError("the per-keypoint table is for COCO OKS reports (--coco)")
    counts = dataset["keypoint_counts"]
    header = ["keypoint", "labelled", *(r["name"] for r in report["rows"])]
    lines = [[name, str(count), *("-" if r["keypoint_oks"].get(name) is None
                                  else f"{r['keypoint_oks'][name]:.3f}" for r in report["rows"])]
             for name, count in counts.items()]
    title = ("Mean OKS similarity per keypoint, over the persons where it is labelled "
             "(exp(-d^2 / (2 area (2 sigma)^2)); 1 is exact)")
    return "\n".join([title, *_table(header, lines, text_columns=1, markdown=markdown)])


def format_breakdown_report(report: dict[str, Any], markdown: bool = False) -> str:
    """A COCO report's breakdown: every model's mean OKS per group of people (size, labelled
    keypoints, overlap, facing), then how many people each model turned the other way."""
    if report["dataset"]["kind"] != "coco" or "breakdown" not in report:
        raise LgmposeError("the breakdown is for COCO OKS reports (--coco)")
    breakdown = report["breakdown"]
    header = ["group", "people", "persons", *breakdown["models"]]
    lines = [[b["group"], b["bucket"], str(b["persons"]),
              *("-" if v is None else f"{v:.3f}" for v in b["mean_oks"])]
             for b in breakdown["buckets"]]
    title = ("Mean OKS per group of people (ground-truth boxes; see "
             "lgmpose.evaluation.breakdown for the groups)")
    persons = breakdown["facing_persons"]
    turned = [f"{name}: {t['towards']} of {persons['towards']} facing the camera, {t['away']} of "
              f"{persons['away']} facing away" for name, t in zip(breakdown["models"],
                                                                  breakdown["turned"])]
    return "\n".join([title, *_table(header, lines, text_columns=2, markdown=markdown), "",
                      "Predicted facing the other way (a whole-body left/right mix-up):",
                      *(f"  {line}" for line in turned)])


def _table(header: list[str], lines: list[list[str]], text_columns: int, markdown: bool
           ) -> list[str]:
    """Rows of a plain or markdown table; the first ``text_columns`` left-aligned, the rest (numbers)
    right-aligned. A markdown table starts with an empty line."""
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]

    def cells(values: list[str]) -> list[str]:
        return [v.ljust(w) if i < text_columns else v.rjust(w)
                for i, (v, w) in enumerate(zip(values, widths))]

    if not markdown:
        return ["  ".join(cells(line)) for line in [header, *lines]]
    rule = ["-" * w if i < text_columns else "-" * (w - 1) + ":" for i, w in enumerate(widths)]
    return ["", *("| " + " | ".join(c) + " |"
                  for c in [[h.ljust(w) for h, w in zip(header, widths)], rule,
                            *(cells(line) for line in lines)])]
