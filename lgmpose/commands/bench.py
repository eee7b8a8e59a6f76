"""`lgmpose bench`: latency of our networks and of deployed CPU pose models, measured together.

Each model runs in its own process, block-interleaved with the others (see
:mod:`lgmpose.benchmarks.run`)."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from lgmpose.defaults import INPUT_SIZE
from lgmpose.utils.cli_options import positive_int
from lgmpose.utils.sizes import format_size

HELP = "measure latency and throughput of pose models side by side on this machine"

DEFAULT_MODELS = "lgm_pose,lite_hrnet_18,lite_hrnet_30,mobilenetv2_sb"


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", type=_csv, default=_csv(DEFAULT_MODELS),
                        help="comma-separated registered names; NAME_int8 for the int8 ONNX "
                             "model; a path ending in .onnx is timed as it is "
                             f"(default: {DEFAULT_MODELS})")
    parser.add_argument("--peers", metavar="DIR",
                        help="also time the deployed TFLite models found in DIR (MoveNet "
                             "Lightning int8, BlazePose lite/full); needs ai-edge-litert")
    parser.add_argument("--backend", type=_csv, default=["onnxruntime", "torch"],
                        help="comma-separated: onnxruntime, torch (default: both)")
    parser.add_argument("--threads", type=positive_int, default=2,
                        help="threads for every runtime (default: 2)")
    parser.add_argument("--batch", type=lambda t: [positive_int(b) for b in _csv(t)],
                        default=[1, 8], help="comma-separated batch sizes (default: 1,8)")
    parser.add_argument("--input-size", default=format_size(INPUT_SIZE),
                        help=f"model input HEIGHTxWIDTH (default: {format_size(INPUT_SIZE)})")
    parser.add_argument("--repeats", type=positive_int, default=5,
                        help="rounds; each round times every model for one block, each model "
                             "in its own process, the others stopped meanwhile (default: 5)")
    parser.add_argument("--block", type=positive_int, default=20,
                        help="runs per model per block (default: 20)")
    parser.add_argument("--drop", type=int, default=3,
                        help="first runs of each block not counted (default: 3)")
    parser.add_argument("--warmup", type=positive_int, default=10,
                        help="untimed runs per model before the first round (default: 10)")
    parser.add_argument("--int8", action="store_true",
                        help="also time the statically quantised int8 ONNX model of each model")
    parser.add_argument("--calib", metavar="DIR",
                        help="images (COCO layout: person boxes are used) to calibrate the int8 "
                             "models on; without it they are calibrated on noise, fine for timing")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="cuda: PyTorch with fp16 autocast and ONNX Runtime's CUDA provider "
                             "when installed")
    parser.add_argument("--num-keypoints", type=positive_int, default=17)
    parser.add_argument("--onnx-dir", metavar="DIR",
                        help="keep the exported ONNX files in DIR (default: a temporary folder)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="after timing, print the N most expensive ONNX Runtime operator "
                             "types of each fp32/int8 ONNX model at batch 1")
    parser.add_argument("--json", metavar="FILE", help="write the rows as a JSON list")
    parser.add_argument("--plot", metavar="FILE", help="write a latency-vs-parameters plot")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    from lgmpose.benchmarks.run import BenchSettings
    from lgmpose.errors import LgmposeError
    from lgmpose.utils.sizes import parse_size

    if args.drop < 0 or args.drop >= args.block:
        raise LgmposeError(f"--drop {args.drop}: must be at least 0 and below --block "
                           f"({args.block})")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise LgmposeError("--device cuda: PyTorch sees no CUDA device on this machine")
    settings = BenchSettings(
        models=args.models, backends=args.backend, batches=args.batch, threads=args.threads,
        input_size=parse_size(args.input_size), rounds=args.repeats, block=args.block,
        drop=args.drop, warmup=args.warmup, peers=args.peers, int8=args.int8, calib=args.calib,
        device=args.device, num_keypoints=args.num_keypoints, onnx_dir=args.onnx_dir)

    def log(message: str) -> None:
        if not args.quiet:
            print(f"[bench] {message}", file=sys.stderr, flush=True)

    if args.profile and not args.onnx_dir:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="lgmpose-bench-") as tmp:
            settings.onnx_dir = tmp
            return _run(args, settings, log)
    return _run(args, settings, log)


def _run(args: argparse.Namespace, settings: Any, log: Callable[[str], None]) -> int:
    from lgmpose.benchmarks.run import run_benchmark
    from lgmpose.benchmarks.timing import format_table, plot_latency_vs_params, write_json

    rows, env = run_benchmark(settings, log)
    print(format_table(rows, env))
    if args.json:
        write_json(args.json, rows, env)
        log(f"rows written to {args.json}")
    if args.plot:
        plot_latency_vs_params(args.plot, rows, env)
        log(f"plot written to {args.plot}")
    if args.profile:
        from pathlib import Path

        from lgmpose.benchmarks.operator_profile import format_profile, profile_onnx

        for path in sorted(Path(settings.onnx_dir).glob("*_b1.onnx")):
            breakdown = profile_onnx(path, settings.threads)
            print(f"\nONNX Runtime profile: {path.stem} ({settings.threads} threads)")
            print(format_profile(breakdown, args.profile))
    return 0
