"""`lgmpose complexity`: parameters, MACs and FLOPs of a registered model."""
from __future__ import annotations

import argparse
import json

from lgmpose.defaults import INPUT_SIZE
from lgmpose.utils.sizes import format_size

HELP = "print a model's parameters, multiply-accumulates (MACs) and FLOPs (= 2 x MACs)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="registered model name, e.g. lgm_pose or lite_hrnet_18")
    parser.add_argument("--input-size", default=format_size(INPUT_SIZE),
                        help=f"HEIGHTxWIDTH (default {format_size(INPUT_SIZE)})")
    parser.add_argument("--num-keypoints", type=int, default=17, help="heatmaps (default 17)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")


def run(args: argparse.Namespace) -> int:
    from lgmpose.benchmarks.flops import count_complexity
    from lgmpose.models import create_model
    from lgmpose.utils.sizes import parse_size

    size = parse_size(args.input_size)
    model = create_model(args.model, num_keypoints=args.num_keypoints, input_size=size)
    c = count_complexity(model, size)
    if args.json:
        print(json.dumps({"model": args.model, "num_keypoints": args.num_keypoints,
                          **c.as_dict()}))
        return 0
    print(f"model        {args.model} ({args.num_keypoints} keypoints, "
          f"input {format_size(size)})")
    print(f"parameters   {c.params:,} ({c.params / 1e6:.3f} M)")
    print(f"MACs         {c.macs:,} ({c.macs / 1e6:.1f} M multiply-accumulates)")
    print(f"FLOPs        {c.flops:,} ({c.flops / 1e9:.3f} G, = 2 x MACs)")
    print("note: papers that quote 'FLOPs' for Lite-HRNet/MobileNetV2 usually mean MACs")
    return 0
