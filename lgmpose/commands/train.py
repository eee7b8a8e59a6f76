"""`lgmpose train`: train a model from a YAML config (one process, or DDP under torchrun)."""
from __future__ import annotations

import argparse

HELP = "train a pose model from a YAML config (use torchrun for several GPUs/processes)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML config file, or the name of one in configs/ "
                        "(e.g. coco_256x192)")
    parser.add_argument("--data-root", metavar="DIR",
                        help="dataset folder (replaces the config's data.root)")
    parser.add_argument("--work-dir", metavar="DIR",
                        help="where checkpoints and logs go (default: work_dirs/<config name>)")
    earlier = parser.add_mutually_exclusive_group()
    earlier.add_argument("--resume", action="store_true",
                         help="continue exactly from WORK_DIR/last.pt when it exists")
    earlier.add_argument("--overwrite", action="store_true",
                         help="start afresh in a WORK_DIR that holds an earlier run (its "
                              "checkpoints and log are replaced)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config value, e.g. train.epochs=50 "
                        "(repeatable)")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"],
                        help="auto: CUDA when available")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from lgmpose.engine.config import load_config, resolve_config_path
    from lgmpose.engine.config_types import replace
    from lgmpose.engine.train import train
    from lgmpose.utils.outdir import output_dir

    cfg = load_config(args.config, args.overrides)
    if args.data_root:
        cfg = replace(cfg, data=replace(cfg.data, root=args.data_root))
    work_dir = Path(args.work_dir or Path("work_dirs") / resolve_config_path(args.config).stem)
    with output_dir(work_dir, "--work-dir"):
        summary = train(cfg, work_dir, resume=args.resume, overwrite=args.overwrite,
                        device=args.device, progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    if summary.get("best") is not None:
        print(f"best {summary['metric']} ({summary['boxes']}): {summary['best']:.4f} at epoch "
              f"{summary['best_epoch']}; checkpoints in {summary['work_dir']}")
    else:
        print(f"trained {summary['epochs']} epochs; checkpoints in {summary['work_dir']}")
    return 0
