"""`lgmpose export`: write a static-shape ONNX model with its metadata (optionally int8)."""
from __future__ import annotations

import argparse
from pathlib import Path

from lgmpose.defaults import INPUT_SIZE
from lgmpose.utils.sizes import format_size

HELP = "export a model (optionally with trained weights) to ONNX, fp32 or int8"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="?", default=None,
                        help="registered model name (optional with --weights)")
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--weights", help="checkpoint (or 'bundled'); its model name and input "
                                           "size are used")
    weights.add_argument("--random-weights", action="store_true",
                         help="export MODEL untrained (random weights: for timing and tests "
                              "only, its poses mean nothing)")
    parser.add_argument("--input-size", default=None,
                        help=f"HEIGHTxWIDTH (default {format_size(INPUT_SIZE)})")
    parser.add_argument("--num-keypoints", type=int, default=None, help="heatmaps (default 17)")
    parser.add_argument("--batch-size", type=int, default=1, help="static batch size (default 1)")
    parser.add_argument("--dynamic-batch", action="store_true",
                        help="leave the batch axis free (what `lgmpose predict` runs fastest: "
                             "all crops of an image in one call)")
    parser.add_argument("--output", "-o", required=True,
                        help="the .onnx file to write; a .pt name writes a release checkpoint "
                             "(weights, config and meta, no optimiser state) of --weights")
    parser.add_argument("--int8", action="store_true", help="also quantise statically to int8")
    parser.add_argument("--calib", help="folder of calibration images/crops for --int8")


def run(args: argparse.Namespace) -> int:
    from lgmpose.utils.outdir import output_dir

    output = Path(args.output)
    # The folder first: one that cannot be made fails before the model is loaded and traced.
    with output_dir(output.parent, "--output"):
        return _export(args, output)


def _export(args: argparse.Namespace, output: Path) -> int:
    from lgmpose.errors import LgmposeError
    from lgmpose.export.exporter import export_onnx
    from lgmpose.utils.sizes import parse_size

    if args.int8 and not args.calib:
        raise LgmposeError("--int8 needs --calib DIR (images to calibrate the quantiser on)")
    if args.int8 and args.dynamic_batch:
        raise LgmposeError("--int8 quantises a static batch: leave out --dynamic-batch")
    keypoint_names = None
    extra_metadata = None
    if args.weights:
        from lgmpose.models.checkpoint import load_model

        overrides = {}
        if args.input_size:
            overrides["input_size"] = list(parse_size(args.input_size))
        model = load_model(args.weights, expected_name=args.model, **overrides)
        from lgmpose.export.batched import checkpoint_metadata

        meta = getattr(model, "meta", {}) or {}
        keypoint_names = meta.get("keypoint_names")
        extra_metadata = checkpoint_metadata(meta)
    else:
        if not args.model:
            raise LgmposeError("give a MODEL name or --weights CKPT")
        if not args.random_weights:
            raise LgmposeError(f"model '{args.model}': no --weights CKPT given; pass the trained "
                               "checkpoint, or --random-weights to export the untrained network "
                               "(for timing only)")
        from lgmpose.models import create_model

        model = create_model(args.model, num_keypoints=args.num_keypoints or 17,
                             input_size=parse_size(args.input_size or INPUT_SIZE))
    if output.suffix == ".pt":
        # A release checkpoint: weights, model config and meta, without the training state.
        if not args.weights or args.int8:
            raise LgmposeError("a .pt output is a release of a training checkpoint: give --weights "
                               "CKPT, without --int8")
        from lgmpose.engine.release import release_checkpoint

        release_checkpoint(args.weights, output)
        print(f"wrote {output} (weights, model config and meta of {args.weights})")
        return 0
    untrained = " (untrained: random weights)" if args.random_weights else ""
    fp32_path = output.with_name(output.stem + ".fp32.onnx") if args.int8 else output
    export_onnx(model, fp32_path, keypoint_names=keypoint_names, batch_size=args.batch_size,
                extra_metadata=extra_metadata, dynamic_batch=args.dynamic_batch)
    if args.int8:
        from lgmpose.export.quantize import export_int8

        export_int8(model, output, args.calib, batch_size=args.batch_size,
                    keypoint_names=keypoint_names, extra_metadata=extra_metadata)
        print(f"wrote {fp32_path} (fp32) and {output} (int8){untrained}")
    else:
        print(f"wrote {output}{untrained}")
    return 0
