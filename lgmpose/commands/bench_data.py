"""`lgmpose bench-data`: how many training samples per second the data pipeline delivers.

Reads, crops, augments and encodes real samples (exactly what training does) with N worker
processes and prints samples/s, so one can tell whether the loader or the network bounds training.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from lgmpose.defaults import CODEC, CODEC_SIGMA, INPUT_SIZE, MPII_INPUT_SIZE
from lgmpose.utils.sizes import format_size, parse_size

HELP = "measure data-loader throughput (samples/s with N workers) for a config or a dataset"
NAME = "bench-data"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?",
                        help="experiment config YAML (its data: and codec: sections are read)")
    parser.add_argument("--ann", help="annotation file (instead of a config): COCO json or MPII")
    parser.add_argument("--images", help="image folder for --ann")
    parser.add_argument("--dataset", choices=["coco", "mpii"], help="dataset kind (default: from "
                        "the config, else coco)")
    parser.add_argument("--data-root", help="replaces the config's data.root")
    parser.add_argument("--split", choices=["train", "val"], default="train",
                        help="which config split to read; train augments (default: train)")
    parser.add_argument("--workers", type=int, nargs="+", default=None,
                        help="worker processes, one or more counts (default: the config's "
                             "data.workers, else 2); 0 = in the main process")
    parser.add_argument("--samples", type=int, default=256, help="samples per measurement")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--codec", help="msra, dark or udp (default: the config's, else msra)")
    parser.add_argument("--input-size", help="HEIGHTxWIDTH (default: the config's, else "
                        f"{format_size(INPUT_SIZE)}; MPII: {format_size(MPII_INPUT_SIZE)})")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _dataset_spec(args: argparse.Namespace) -> dict:
    """The options of the dataset to build, from a config and/or the direct options."""
    cfg: dict = {}
    if args.config:
        try:
            from lgmpose.engine.config import load_config
            cfg = load_config(args.config).to_dict()  # read below as the plain YAML would be
        except ImportError:  # a checkout without the training engine: a plain YAML file
            import yaml
            cfg = yaml.safe_load(Path(args.config).read_text()) or {}
    data = dict(cfg.get("data") or {})
    codec = dict(cfg.get("codec") or {})
    split = data.get(args.split) or {}
    split = dict(split) if isinstance(split, dict) else {}  # several sets: built by the engine
    root = Path(args.data_root or data.get("root") or ".")
    spec = {
        "dataset": args.dataset or data.get("dataset", "coco"),
        "metainfo": data.get("metainfo"),
        "ann_file": args.ann or (str(root / split["ann_file"]) if "ann_file" in split else None),
        "img_dir": args.images or (str(root / split["img_dir"]) if "img_dir" in split else None),
        "input_size": data.get("input_size"),
        "aug": data.get("aug") or {},
        "codec": codec.get("name", CODEC),
        "sigma": codec.get("sigma", CODEC_SIGMA),
        "workers": data.get("workers", 2),
    }
    if args.codec:
        spec["codec"] = args.codec
    if args.input_size:
        spec["input_size"] = list(parse_size(args.input_size))
    if spec["input_size"] is None:
        spec["input_size"] = list(MPII_INPUT_SIZE if spec["dataset"] == "mpii" else INPUT_SIZE)
    spec["metainfo"] = spec["metainfo"] or spec["dataset"]
    return spec


def build_dataset(spec: dict, train: bool):
    from lgmpose.codecs import build_codec
    from lgmpose.errors import LgmposeError

    if not spec["ann_file"] or not spec["img_dir"]:
        raise LgmposeError("bench-data needs a config with data.<split>.ann_file and img_dir, or "
                           "--ann FILE --images DIR")
    for key, kind in (("ann_file", "annotation file"), ("img_dir", "image folder")):
        if not os.path.exists(spec[key]):
            raise LgmposeError(f"{kind} {spec[key]!r} does not exist")
    codec = build_codec(spec["codec"], input_size=spec["input_size"], sigma=spec["sigma"])
    aug = spec["aug"] if train else None
    if spec["dataset"] == "mpii":
        from lgmpose.data.mpii import MpiiDataset
        return MpiiDataset(spec["ann_file"], spec["img_dir"], metainfo=spec["metainfo"],
                           input_size=spec["input_size"], codec=codec, train=train, aug=aug)
    from lgmpose.data.coco import CocoKeypointDataset
    return CocoKeypointDataset(spec["ann_file"], spec["img_dir"], metainfo=spec["metainfo"],
                               input_size=spec["input_size"], codec=codec, train=train, aug=aug)


def _has_engine() -> bool:
    try:
        import lgmpose.engine.builders  # noqa: F401  (needs torch)
    except ImportError:
        return False
    return True


def _fetch(dataset, index: int):
    sample = dataset[index % len(dataset)]
    return sample["image"].shape


def _measure(dataset, workers: int, samples: int, batch_size: int) -> dict:
    """Samples/s over ``samples`` samples, after a warm-up batch (worker start-up not counted)."""
    indices = list(range(samples + batch_size))
    try:
        import torch  # noqa: F401  (the real training loader, when torch is installed)
        from torch.utils.data import DataLoader, Subset
    except ImportError:
        torch = None
    if torch is not None:
        loader = DataLoader(Subset(_Cycled(dataset), indices), batch_size=batch_size,
                            num_workers=workers, collate_fn=_stack)
        iterator = iter(loader)
        next(iterator)  # warm-up: workers started, first batch decoded
        start = time.perf_counter()
        count = sum(n for n in iterator)
        elapsed = time.perf_counter() - start
    else:
        import multiprocessing as mp
        from functools import partial

        fetch = partial(_fetch, dataset)
        pool = mp.get_context("fork").Pool(workers) if workers > 0 else None
        mapper = (lambda f, xs: pool.imap(f, xs, chunksize=4)) if pool else map
        list(mapper(fetch, indices[:batch_size]))
        start = time.perf_counter()
        count = len(list(mapper(fetch, indices[batch_size:])))
        elapsed = time.perf_counter() - start
        if pool:
            pool.close()
    return {"workers": workers, "samples": count, "seconds": elapsed,
            "samples_per_s": count / elapsed if elapsed > 0 else float("inf")}


class _Cycled:
    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return 1 << 30

    def __getitem__(self, index):
        return self.dataset[index % len(self.dataset)]


def _stack(samples):
    import numpy as np
    np.stack([s["image"] for s in samples])
    np.stack([s["heatmaps"] for s in samples])
    return len(samples)


def _config_dataset(args: argparse.Namespace, spec: dict, train: bool):
    """The dataset training builds from the config (several training sets included)."""
    from lgmpose.engine import builders
    from lgmpose.engine.config import load_config

    overrides = [f"codec.name={spec['codec']}",
                 f"data.input_size=[{spec['input_size'][0]},{spec['input_size'][1]}]"]
    cfg = load_config(args.config, overrides)
    metainfo = builders.build_metainfo(cfg)
    codec = builders.build_codec(cfg)
    if train:
        return builders.build_train_dataset(cfg, args.data_root, codec, metainfo)
    return builders.build_val_dataset(cfg, args.data_root, codec, metainfo)


def run(args: argparse.Namespace) -> int:
    spec = _dataset_spec(args)
    train = args.split == "train"
    if args.config and not args.ann and _has_engine():
        dataset = _config_dataset(args, spec, train)
        spec["ann_file"] = f"{args.config} data.{args.split}"
    else:
        dataset = build_dataset(spec, train)
    from lgmpose.errors import LgmposeError
    if len(dataset) == 0:
        raise LgmposeError(f"annotation file {spec['ann_file']!r} has no person to load")
    counts = args.workers if args.workers is not None else [int(spec["workers"] or 0)]
    if any(c < 0 for c in counts) or args.samples < 1 or args.batch_size < 1:
        raise LgmposeError("--workers must be >= 0, --samples and --batch-size >= 1")
    runs = [_measure(dataset, c, args.samples, args.batch_size) for c in counts]
    h, w = spec["input_size"]
    report = {"ann_file": spec["ann_file"], "dataset": spec["dataset"], "persons": len(dataset),
              "split": args.split, "augment": train, "codec": spec["codec"],
              "input_size": [h, w], "batch_size": args.batch_size, "cpu_count": os.cpu_count(),
              "runs": runs}
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"bench-data: {spec['dataset']} {args.split} ({len(dataset)} persons), input {h}x{w}, "
          f"codec {spec['codec']}, {'with' if train else 'no'} augmentation, batch {args.batch_size}")
    for r in runs:
        print(f"  workers {r['workers']:>2}: {r['samples_per_s']:8.1f} samples/s "
              f"({r['samples']} samples in {r['seconds']:.2f} s)")
    return 0
