"""`lgmpose eval`: score a checkpoint on the config's validation set (COCO AP or MPII PCKh)."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lgmpose.engine.config_types import Config

HELP = "evaluate a checkpoint: COCO keypoint AP (GT or detected boxes) or MPII PCKh, flip test"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML config file, or the name of one in configs/")
    parser.add_argument("--weights", required=True, metavar="CKPT",
                        help="checkpoint (.pt), or 'bundled' for the one that ships with lgmpose")
    parser.add_argument("--data-root", metavar="DIR",
                        help="dataset folder (replaces the config's data.root)")
    parser.add_argument("--boxes", metavar="gt|FILE",
                        help="COCO: `gt` for ground-truth boxes or a detection json "
                        "(default: the config's data.boxes)")
    parser.add_argument("--no-flip", action="store_true", help="no flip test")
    parser.add_argument("--json", action="store_true",
                        help="print the metrics as one JSON object")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config value (repeatable)")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    import torch

    from lgmpose.engine.builders import build_codec, follow_checkpoint
    from lgmpose.engine.config import load_config
    from lgmpose.engine.config_types import replace
    from lgmpose.engine.evaluate import evaluate_model
    from lgmpose.models.checkpoint import load_model

    cfg = load_config(args.config, args.overrides)
    if args.data_root:
        cfg = replace(cfg, data=replace(cfg.data, root=args.data_root))
    want_cuda = torch.cuda.is_available() if args.device == "auto" else args.device == "cuda"
    device = torch.device("cuda" if want_cuda else "cpu")
    model = load_model(args.weights, map_location=device)
    # Input size and codec are properties of the trained model: follow the checkpoint, as
    # `lgmpose predict` does, so that one .pt is decoded one way by both.
    followed = follow_checkpoint(cfg, model.meta, model.model_config)
    for label, theirs, ours in (
            ("input size", followed.data.input_size, cfg.data.input_size),
            ("heatmap size", followed.data.heatmap_size, cfg.data.heatmap_size)):
        if list(theirs) != list(ours):
            print(f"note: {args.weights} has {label} {list(theirs)}; evaluating at that "
                  f"(the config says {list(ours)})", file=sys.stderr)
    # The codec the config builds, defaults filled in, so that a value left out because it is
    # the default (e.g. udp's refine: dark) is no difference.
    configured = {k: v for k, v in build_codec(cfg).config().items()
                  if k not in ("input_size", "heatmap_size")}
    if followed.codec.to_dict() != configured:
        print(f"note: decoding with the checkpoint's codec {followed.codec.to_dict()} (the config "
              f"says {configured})", file=sys.stderr)
    cfg = followed
    metrics = evaluate_model(model, cfg, device=device, boxes=args.boxes,
                             flip=False if args.no_flip else None, progress=not args.json)
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(format_metrics(metrics, cfg))
    return 0


def format_metrics(metrics: dict, cfg: Config) -> str:
    where = f"{cfg.data.dataset} val ({metrics.get('boxes')}, " \
            f"{'flip test' if metrics.get('flip_test') else 'no flip'}, " \
            f"{metrics.get('instances')} instances)"
    values = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()
                       if isinstance(v, float) and k not in ("flip_test",))
    return f"{where}: {values}"
