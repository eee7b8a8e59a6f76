"""`lgmpose predict`: poses on an image, a folder, a video file or a camera."""
from __future__ import annotations

import argparse
import json
import sys

from lgmpose.commands._ray_options import add_engine_options, ray_options
from lgmpose.defaults import KPT_THR, MAX_PIXELS
from lgmpose.utils.cli_options import add_model_options, positive_float, positive_int, score

HELP = "estimate poses on an image, a folder of images, a video or a camera"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="image, folder, video file, or camera index (0, 1, ...); "
                        "--engine ray: also a glob, a text file listing paths, folders searched "
                        "recursively")
    parser.add_argument("--out", default="lgmpose_output",
                        help="folder for annotated outputs and results.json (default: %(default)s)")
    add_model_options(parser, "auto (= nanodet, the bundled NanoDet-m), nanodet, blazepose, hog, "
                      "motion (fixed-camera video), whole_image, a YOLOX/YOLOv8 .onnx file "
                      "or a BlazePose .tflite file (default: auto)")
    parser.add_argument("--boxes", help="JSON person boxes [x, y, w, h] instead of a detector")
    parser.add_argument("--kpt-thr", type=score, default=KPT_THR,
                        help="keypoints scoring below this (0 to 1) are not drawn (default: %(default)s)")
    parser.add_argument("--flip-test", action="store_true", help="average with mirrored crops")
    parser.add_argument("--no-pose-quality", dest="pose_quality", action="store_false",
                        help="a person's score without the pose's quality (the published "
                             "protocol's: box score x mean confident keypoint score)")
    parser.add_argument("--det-every", type=positive_int, default=1, metavar="N",
                        help="video: run the detector every N frames, follow keypoints between")
    smooth = parser.add_mutually_exclusive_group()
    smooth.add_argument("--smooth", dest="smooth", action="store_true", default=None,
                        help="One-Euro smoothing (default: on for video, off for images)")
    smooth.add_argument("--no-smooth", dest="smooth", action="store_false")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="CPU threads for the networks")
    parser.add_argument("--max-megapixels", type=positive_float, default=MAX_PIXELS / 1e6,
                        metavar="MP", help="refuse pictures larger than this, from their header "
                                           "(default: %(default)g)")
    parser.add_argument("--max-frames", type=positive_int, default=None, metavar="N",
                        help="stop after N frames")
    parser.add_argument("--json", action="store_true",
                        help="print the COCO-format results as JSON on stdout")
    parser.add_argument("--show", action="store_true", help="show frames in a window")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_engine_options(parser)


def run(args: argparse.Namespace) -> int:
    from lgmpose.video.predict import PredictOptions, run_predict

    options = PredictOptions(
        out_dir=args.out, weights=args.weights, backend=args.backend, device=args.device,
        detector=args.detector, det_thr=args.det_thr, boxes_file=args.boxes,
        kpt_thr=args.kpt_thr, flip_test=args.flip_test, pose_quality=args.pose_quality,
        det_interval=args.det_every,
        smooth=args.smooth, threads=args.threads, max_frames=args.max_frames, show=args.show,
        progress=False if args.no_progress else None,
        max_pixels=int(args.max_megapixels * 1e6))
    ray = ray_options(args, progress=not args.no_progress)
    if ray is not None:
        return _run_on_ray(args, options, ray)
    report = run_predict(args.source, options)
    for line in report.warnings():
        print(f"lgmpose predict: {line}", file=sys.stderr)
    if args.json:
        json.dump(report.results, sys.stdout)
        sys.stdout.write("\n")
        print(report.summary(), file=sys.stderr)
    else:
        print(report.summary())
        print(f"wrote {len(report.outputs)} file(s) to {args.out}/ "
              f"(results: {args.out}/results.json, summary: {args.out}/summary.json)")
    if report.removed:
        print(f"lgmpose predict: removed {len(report.removed)} file(s) an earlier run wrote to "
              f"{args.out}/ and this one did not", file=sys.stderr)
    # The outputs are written, but the input was not read whole: say so in the exit status too.
    return 1 if report.incomplete else 0


def _run_on_ray(args: argparse.Namespace, options, ray) -> int:
    from lgmpose.distributed_inference.predict import predict_distributed

    report = predict_distributed([args.source], options, ray)
    if args.json:
        json.dump(report.results, sys.stdout)
        sys.stdout.write("\n")
    print(report.summary(), file=sys.stderr if args.json else sys.stdout)
    if not args.json:
        print(f"wrote {report.results_path} (shards and manifest in {args.out}/; no annotated "
              "pictures with --engine ray)")
    return 0
