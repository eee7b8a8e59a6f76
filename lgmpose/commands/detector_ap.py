"""`lgmpose detector-ap`: person-box AP (pycocotools) and speed of person detectors on COCO."""
from __future__ import annotations

import argparse
import json

from lgmpose.utils.cli_options import positive_int, score

HELP = "person-box AP, precision/recall and ms per image of person detectors on a COCO json"
NAME = "detector-ap"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ann", required=True,
                        help="COCO annotations (e.g. person_keypoints_val2017.json)")
    parser.add_argument("--images", required=True, help="the folder of its images")
    parser.add_argument("--detectors", default="auto,blazepose,hog,whole_image",
                        help="comma-separated detector names or files (default: %(default)s)")
    parser.add_argument("--ap-thr", type=score, default=0.01,
                        help="score threshold for the AP columns (default: %(default)s); the "
                             "'at it' columns use each detector's default threshold")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="CPU threads per detector (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lgmpose.errors import LgmposeError
    from lgmpose.evaluation.detector_ap import detector_ap_rows, format_ap_table

    if not Path(args.ann).is_file():
        raise LgmposeError(f"annotation file '{args.ann}' not found")
    if not Path(args.images).is_dir():
        raise LgmposeError(f"image folder '{args.images}' not found")
    specs = [s.strip() for s in args.detectors.split(",") if s.strip()]
    if not specs:
        raise LgmposeError("--detectors: give at least one detector")
    rows = detector_ap_rows(specs, args.ann, args.images, ap_thr=args.ap_thr,
                            threads=args.threads)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(f"person boxes of {args.ann} (pycocotools bbox; AP at score >= {args.ap_thr:g}; "
              f"{args.threads} thread(s) per detector)")
        print(format_ap_table(rows))
    return 0
