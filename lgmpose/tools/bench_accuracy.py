"""What int8 costs in accuracy: COCO keypoint AP of a checkpoint in PyTorch, fp32 ONNX and int8 ONNX.

The ONNX models are scored by the same evaluation code as the checkpoint (the config's
validation set, its codec, flip test, OKS AP), through a thin module that hands each crop to an
ONNX Runtime session, so the only difference between the rows is the runtime and the precision.

    python -m lgmpose.tools.bench_accuracy --weights lgmpose/weights/lgm_pose_coco_256x192.pt \\
        --calib ../shared/data/coco-mini/train2017 --config coco_mini_256x192.yaml
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def onnx_module(path: str | os.PathLike, threads: int = 2) -> Any:
    """An ``nn.Module`` whose forward runs the ONNX model crop by crop (its batch is static)."""
    import numpy as np
    import torch
    from torch import nn

    from lgmpose.tools.bench_targets import onnx_input_shape, ort_session

    session = ort_session(path, threads)
    batch = onnx_input_shape(session)[0]
    name = session.get_inputs()[0].name

    class OnnxModule(nn.Module):
        def forward(self, images: torch.Tensor) -> torch.Tensor:
            data = images.detach().cpu().numpy().astype(np.float32)
            outputs = []
            for start in range(0, data.shape[0], batch):
                chunk = data[start:start + batch]
                pad = batch - chunk.shape[0]
                if pad:
                    chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
                outputs.append(session.run(None, {name: chunk})[0][:batch - pad])
            return torch.from_numpy(np.concatenate(outputs))

    return OnnxModule().eval()


def compare_precisions(weights: str | os.PathLike, calib_dir: str | os.PathLike,
                       config: str = "coco_mini_256x192.yaml", data_root: str | None = None,
                       flip: bool = True, threads: int = 2, per_channel: bool = True,
                       method: str = "minmax", workdir: str | None = None) -> list[dict[str, Any]]:
    """AP rows for the checkpoint in torch, its fp32 ONNX export and its int8 quantisation."""
    from lgmpose.engine.checkpoint import load_model
    from lgmpose.engine.config import load_config
    from lgmpose.engine.evaluate import evaluate_model
    from lgmpose.tools.export import export_onnx
    from lgmpose.tools.quantize import quantize_onnx

    cfg = load_config(config)
    model = load_model(weights).eval()
    size = list(model.model_config["input_size"])
    cfg["data"]["input_size"] = size
    cfg["data"]["heatmap_size"] = [size[0] // 4, size[1] // 4]
    cfg["data"]["workers"] = 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="lgmpose-ap-") as tmp:
        folder = Path(workdir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        fp32 = export_onnx(model, folder / "model_fp32.onnx")
        int8 = quantize_onnx(fp32, folder / "model_int8.onnx", calib_dir,
                             per_channel=per_channel, method=method)
        runs = [("torch", "fp32", model), ("onnxruntime", "fp32", onnx_module(fp32, threads)),
                ("onnxruntime", "int8", onnx_module(int8, threads))]
        for backend, precision, module in runs:
            metrics = evaluate_model(module, cfg, data_root=data_root, boxes="gt", flip=flip)
            rows.append({"backend": backend, "precision": precision, **_plain(metrics)})
    return rows


def _plain(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if hasattr(v, "__float__") and not isinstance(v, (bool, int)) else v)
            for k, v in metrics.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="checkpoint (.pt)")
    parser.add_argument("--calib", required=True, help="calibration images (COCO layout)")
    parser.add_argument("--config", default="coco_mini_256x192.yaml")
    parser.add_argument("--data-root", help="replaces the config's data.root")
    parser.add_argument("--no-flip", action="store_true")
    parser.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor")
    parser.add_argument("--method", default="minmax", help="minmax, percentile or entropy")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args(argv)
    rows = compare_precisions(args.weights, args.calib, args.config, args.data_root,
                              flip=not args.no_flip, threads=args.threads,
                              per_channel=not args.per_tensor, method=args.method)
    for row in rows:
        print(f"{row['backend']:<12} {row['precision']:<5} AP {row.get('AP', float('nan')):.4f}"
              f"  AP50 {row.get('AP50', float('nan')):.4f}  AR {row.get('AR', float('nan')):.4f}")
    if args.json:
        from lgmpose.utils.atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
