"""`lgmpose demo`: the main job on bundled inputs (placeholder until the inference pipeline lands)."""
from __future__ import annotations

import argparse

HELP = "run pose estimation on the bundled demo pictures and write the results to a folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo_output", help="folder for the results")


def run(args: argparse.Namespace) -> int:
    print("lgmpose demo: the inference pipeline is not available yet")
    return 0
