"""`lgmpose demo`: `lgmpose predict` on the bundled demo pictures; prints where the results are."""
from __future__ import annotations

import argparse
from pathlib import Path

from lgmpose.defaults import KPT_THR
from lgmpose.utils.cli_options import score

HELP = "run pose estimation on the bundled demo pictures and write the results to a folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo_output", help="folder for the results")
    parser.add_argument("--detector", default="auto", help="person detector (default: auto)")
    parser.add_argument("--kpt-thr", type=score, default=KPT_THR,
                        help="keypoints scoring below this (0 to 1) are not drawn (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from lgmpose.detectors import default_detector_name
    from lgmpose.video.predict import PredictOptions, run_predict

    assets = Path(__file__).resolve().parents[1] / "assets"
    detector = default_detector_name() if args.detector == "auto" else args.detector
    print(f"lgmpose demo: bundled pictures in {assets}, person detector '{detector}'")
    report = run_predict(str(assets), PredictOptions(out_dir=args.out, detector=args.detector,
                                                     kpt_thr=args.kpt_thr, progress=False))
    print(report.summary())
    out = Path(args.out).resolve()
    for path in report.outputs:
        print(f"  {out / path.name}")
    print(f"annotated pictures and results.json (COCO keypoint results) are in {out}")
    scores = [s for r in report.results for s in r["keypoints"][2::3]]
    shown = sum(s >= args.kpt_thr for s in scores)
    if scores and shown < 0.5 * len(scores):
        print(f"note: only {shown} of {len(scores)} keypoints reached the drawing threshold "
              f"{args.kpt_thr}, so the rest are not drawn. The model's confidence "
              "is low: the bundled checkpoint is still a weak model (see "
              "lgmpose/weights/README.md for what it was trained on and how it scores). `lgmpose demo --kpt-thr 0` draws every predicted "
              "keypoint; --weights on `lgmpose predict` takes a better model.")
    return 0
