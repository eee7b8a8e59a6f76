"""What the live page needs to run the models itself (no web framework here): the description it
reads (``models/model.json``), the model files it fetches, and a static copy of the whole page.

The page runs the pose model and the bundled NanoDet detector with ONNX Runtime Web and
reproduces the Python pre- and post-processing (``lgmpose/serve/static/inpage/``), so the
description carries everything ``PoseEstimator`` reads from the model's metadata: input size,
mean/std, codec, keypoint set, and the detector's thresholds.

    from lgmpose.serve.inpage import write_static_site
    write_static_site("site/")        # index.html, static/, models/: host with any web server
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from lgmpose.defaults import BOX_PADDING, KPT_THR, LOST_RATIO, TRACK_THR
from lgmpose.errors import LgmposeError

__all__ = ["POSE_FILE", "DETECTOR_FILE", "ISOLATION_HEADERS", "page_config", "model_files",
           "write_static_site"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
POSE_FILE = "pose.onnx"
DETECTOR_FILE = "detector.onnx"
# Threaded WebAssembly needs SharedArrayBuffer, which browsers give only to cross-origin isolated
# pages: these two headers on the page (and CORP on what it loads) make it so.
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin",
                     "Cross-Origin-Embedder-Policy": "require-corp",
                     "Cross-Origin-Resource-Policy": "same-origin"}


def _detector_path() -> Path:
    from lgmpose.detectors.nanodet import bundled_nanodet_path

    path = bundled_nanodet_path()
    if not path.is_file():
        raise LgmposeError(f"the bundled detector '{path.name}' is missing from this install: "
                           "the page cannot run in the browser without it")
    return path


def model_files(estimator) -> dict[str, Path]:
    """The files the page fetches, by the name it asks for. Only ONNX pose models can run in the
    browser; a ``.pt`` checkpoint must be exported first."""
    weights = Path(estimator.weights)
    if weights.suffix.lower() != ".onnx":
        raise LgmposeError(f"weights '{weights}': the page runs ONNX models only; export the "
                           "checkpoint first (lgmpose export)")
    return {POSE_FILE: weights, DETECTOR_FILE: _detector_path()}


def page_config(estimator, server: bool = True) -> dict:
    """``models/model.json``: the model description of ``GET /v1/model`` (names, skeleton,
    colours) plus what the page needs to preprocess, decode and detect as the estimator does."""
    from lgmpose.detectors.nanodet import NANODET_DET_THR, NANODET_IOU_THR

    files = model_files(estimator)
    info, meta, codec = estimator.info, estimator.metainfo, estimator.codec
    return {
        "name": str(info.model_name or files[POSE_FILE].stem),
        "weights": files[POSE_FILE].name,
        "dataset": meta.name,
        "input_size": [int(v) for v in estimator.input_size],
        "num_keypoints": meta.num_keypoints,
        "keypoint_names": list(meta.keypoint_names),
        "skeleton": [list(map(int, link)) for link in meta.skeleton],
        "keypoint_colors": [list(map(int, c)) for c in meta.keypoint_colors],
        "skeleton_colors": [list(map(int, c)) for c in meta.skeleton_colors],
        "kpt_thr": KPT_THR,
        "server": server,
        "in_browser": True,
        "pose": {
            "file": POSE_FILE, "bytes": files[POSE_FILE].stat().st_size,
            "input_size": [int(v) for v in estimator.input_size],
            "num_keypoints": meta.num_keypoints,
            "mean": [float(v) for v in info.mean], "std": [float(v) for v in info.std],
            "box_padding": BOX_PADDING,
            "codec": {"name": codec.name, "sigma": codec.sigma, "refine": codec.refine},
            "sigmas": [float(v) for v in meta.sigmas],
        },
        "video": {"track_thr": TRACK_THR, "lost_ratio": LOST_RATIO},
        "detector": {"name": "nanodet", "file": DETECTOR_FILE,
                     "source": files[DETECTOR_FILE].name,
                     "bytes": files[DETECTOR_FILE].stat().st_size,
                     "det_thr": float(estimator.det_thr if estimator.det_thr is not None
                                      else NANODET_DET_THR),
                     "iou_thr": NANODET_IOU_THR, "max_people": int(estimator.max_people)},
    }


HEADERS_FILE = "/*\n" + "".join(f"  {k}: {v}\n" for k, v in ISOLATION_HEADERS.items())


def write_static_site(out_dir: str | Path, weights: str | Path | None = None) -> Path:
    """The page, its scripts, ONNX Runtime Web and the models as a folder any web server can host
    (in-browser mode only: there is no ``/v1/pose`` behind it). ``_headers`` gives the isolation
    headers to hosts that read it (Netlify, Cloudflare Pages); elsewhere (GitHub Pages) the page
    runs single-threaded."""
    from lgmpose.inference.estimator import PoseEstimator

    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LgmposeError(f"--static-site '{out}': exists and is not an empty folder")
    estimator = PoseEstimator(weights, backend="onnxruntime" if weights is None else None,
                              detector="whole_image", threads=1)
    config = page_config(estimator, server=False)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(STATIC_DIR, tmp / "static",
                        ignore=shutil.ignore_patterns("__pycache__", "index.html"))
        shutil.copy2(STATIC_DIR / "index.html", tmp / "index.html")
        (tmp / "models").mkdir()
        for name, path in model_files(estimator).items():
            shutil.copy2(path, tmp / "models" / name)
        (tmp / "models" / "model.json").write_text(json.dumps(config, indent=1) + "\n")
        (tmp / "_headers").write_text(HEADERS_FILE)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
