"""`lgmpose average`: one checkpoint whose weights are the (weighted) mean of several."""
from __future__ import annotations

import argparse

HELP = ("average the weights of checkpoints of one network (a model soup), e.g. a fine-tuning "
        "and its start")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoints", nargs="+", metavar="CKPT",
                        help="two or more checkpoints (.pt, release or training) of one network; "
                             "'bundled' is the checkpoint that ships with lgmpose")
    parser.add_argument("--output", "-o", required=True, help="the .pt file to write")
    parser.add_argument("--shares", type=float, nargs="+", metavar="S",
                        help="one share per checkpoint, e.g. 3 1 (normalised to sum to 1; "
                             "default equal)")


def run(args: argparse.Namespace) -> int:
    from lgmpose.engine.average import average_checkpoints

    path = average_checkpoints(args.checkpoints, args.output, args.shares)
    print(f"wrote {path}: the average of {len(args.checkpoints)} checkpoints")
    return 0
