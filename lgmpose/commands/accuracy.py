"""`lgmpose accuracy`: several pose models scored on the same people with the same boxes.

    lgmpose accuracy --models bundled movenet_thunder.onnx movenet_lightning_int8.tflite \\
        --coco person_keypoints_val2017.json --images val2017 --markdown
    lgmpose accuracy --models ... --lsp lspet/joints.mat --images lspet/images --split val

Models: ``bundled``, our ``.onnx`` / ``.pt`` files, MoveNet ``.tflite`` or converted ``.onnx``
files (see :mod:`lgmpose.evaluation.compare`).
"""
from __future__ import annotations

import argparse
import json
import sys

from lgmpose.errors import LgmposeError
from lgmpose.utils.cli_options import positive_int

HELP = "COCO AP or LSP PCK of several pose models (ours, MoveNet) on the same people, side by side"
NAME = "accuracy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", nargs="+", required=True, metavar="MODEL",
                        help="'bundled', our .onnx/.pt files, MoveNet .tflite or converted .onnx "
                             "files (MoveNet is told by an NHWC [1, S, S, 3] input or 'movenet' in "
                             "the file name)")
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--coco", metavar="ANN", help="COCO keypoint annotation file (OKS AP)")
    data.add_argument("--lsp", metavar="MAT", help="LSP / LSPET joints.mat (PCK@0.2)")
    parser.add_argument("--images", required=True, metavar="DIR", help="the images' folder")
    parser.add_argument("--split", default="val", choices=["val", "train", "all"],
                        help="LSP split (default: val, the image numbers divisible by 20)")
    parser.add_argument("--flip", action="store_true",
                        help="flip test for our models (MoveNet has none)")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="CPU threads for every runtime (default: 1)")
    parser.add_argument("--json", metavar="OUT", help="write the dataset and rows as JSON")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--per-keypoint", action="store_true",
                        help="with --coco: also print each keypoint's mean OKS similarity")
    parser.add_argument("--breakdown", action="store_true",
                        help="with --coco: also print every model's mean OKS by person size, "
                             "labelled keypoints, overlap with a neighbour and facing, and how "
                             "many people it turned the other way")
    parser.add_argument("--truncate", type=int, nargs="?", const=0, default=None, metavar="SEED",
                        help="with --coco: first cut every person off by a picture border (mostly "
                             "the bottom) at a random line keeping 25-85%% of their keypoints' "
                             "extent, as in close-ups; SEED (default 0) fixes the cuts")
    parser.add_argument("--no-pose-quality", dest="pose_quality", action="store_false",
                        help="with --coco: rank our models' people by the published protocol's "
                             "score alone (mean confident keypoint score), not also by the pose's "
                             "expected OKS by its heatmaps")
    parser.add_argument("--bootstrap", type=positive_int, default=0, metavar="N",
                        help="COCO: 95%% intervals of each AP and of each model's difference to the "
                             "first, from N resamplings of the pictures (e.g. 1000)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    from lgmpose.evaluation.compare import (compare_coco, compare_lsp, format_breakdown_report,
                                            format_keypoint_report, format_report)

    if args.per_keypoint and not args.coco:
        raise LgmposeError("--per-keypoint needs --coco (an LSP report already gives PCK per "
                           "joint group)")
    if args.truncate is not None and not args.coco:
        raise LgmposeError("--truncate needs --coco")
    if args.bootstrap and not args.coco:
        raise LgmposeError("--bootstrap needs --coco (it resamples COCO pictures for OKS AP)")
    if args.breakdown and not args.coco:
        raise LgmposeError("--breakdown needs --coco (it groups COCO people by OKS)")

    def log(message: str) -> None:
        if not args.quiet:
            print(f"[accuracy] {message}", file=sys.stderr, flush=True)

    if args.coco:
        report = compare_coco(args.models, args.coco, args.images, flip=args.flip,
                              threads=args.threads, log=log, truncate=args.truncate,
                              pose_quality=args.pose_quality, bootstrap=args.bootstrap)
    else:
        report = compare_lsp(args.models, args.lsp, args.images, split=args.split,
                             flip=args.flip, threads=args.threads, log=log)
    print(format_report(report, markdown=args.markdown))
    if args.per_keypoint:
        print()
        print(format_keypoint_report(report, markdown=args.markdown))
    if args.breakdown:
        print()
        print(format_breakdown_report(report, markdown=args.markdown))
    if args.json:
        from lgmpose.utils.atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(report, indent=1) + "\n")
        log(f"written to {args.json}")
    return 0
