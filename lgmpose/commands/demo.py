"""`lgmpose demo`: `lgmpose predict` on the bundled demo pictures; prints where the results are."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "run pose estimation on the bundled demo pictures and write the results to a folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo_output", help="folder for the results")
    parser.add_argument("--detector", default="auto", help="person detector (default: auto)")


def run(args: argparse.Namespace) -> int:
    from lgmpose.inference.detectors import default_detector_name
    from lgmpose.inference.predict import PredictOptions, run_predict

    assets = Path(__file__).resolve().parents[1] / "assets"
    detector = default_detector_name() if args.detector == "auto" else args.detector
    print(f"lgmpose demo: bundled pictures in {assets}, person detector '{detector}'")
    report = run_predict(str(assets), PredictOptions(out_dir=args.out, detector=args.detector,
                                                     progress=False))
    print(report.summary())
    out = Path(args.out).resolve()
    for path in report.outputs:
        print(f"  {out / path.name}")
    print(f"annotated pictures and results.json (COCO keypoint results) are in {out}")
    return 0
