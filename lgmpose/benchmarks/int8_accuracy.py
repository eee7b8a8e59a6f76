"""What int8 costs in accuracy: COCO keypoint AP of a checkpoint in PyTorch, fp32 ONNX and int8 ONNX.

The ONNX models are scored by the same evaluation code as the checkpoint (the config's
validation set, its codec, flip test, OKS AP), through a thin module that hands each crop to an
ONNX Runtime session, so the only difference between the rows is the runtime and the precision.

    python -m lgmpose.benchmarks.int8_accuracy --weights lgmpose/weights/lgm_pose_coco_256x192.pt \\
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

from lgmpose.defaults import BOX_PADDING


def onnx_module(path: str | os.PathLike, threads: int = 2) -> Any:
    """An ``nn.Module`` whose forward runs the ONNX model crop by crop (its batch is static)."""
    import numpy as np
    import torch
    from torch import nn

    from lgmpose.benchmarks.targets import onnx_input_shape, ort_session

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
                       method: str = "percentile", workdir: str | None = None) -> list[dict[str, Any]]:
    """Rows for the checkpoint in torch, its fp32 ONNX export and its int8 quantisation.

    Each row has the COCO metrics (GT boxes) and how far its keypoints moved from the torch
    fp32 ones: ``shift_px_median`` / ``_mean`` / ``_p90`` in model-input pixels, and
    ``oks_vs_fp32``, the mean OKS of its keypoints against the fp32 keypoints taken as truth.
    The shift measures what quantisation changes even when the weights are too weak for AP to
    move (the bundled checkpoint has seen 98 persons).
    """
    from lgmpose.engine import builders
    from lgmpose.engine.config import load_config
    from lgmpose.engine.evaluate import predict
    from lgmpose.export.exporter import export_onnx
    from lgmpose.export.quantize import export_int8
    from lgmpose.models.checkpoint import load_model

    model = load_model(weights).eval()
    # the checkpoint's input size and codec, as `lgmpose eval` and PoseEstimator decode it
    cfg = builders.follow_checkpoint(load_config(config), model.meta, model.model_config)
    metainfo = builders.build_metainfo(cfg)
    codec = builders.build_codec(cfg)
    dataset = builders.build_val_dataset(cfg, data_root, codec, metainfo, boxes="gt")
    flip_indices = metainfo.flip_indices if flip else None
    rows: list[dict[str, Any]] = []
    reference: list[dict[str, Any]] | None = None
    with tempfile.TemporaryDirectory(prefix="lgmpose-ap-") as tmp:
        folder = Path(workdir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        fp32 = export_onnx(model, folder / "model_fp32.onnx")
        int8 = export_int8(model, folder / "model_int8.onnx", calib_dir,
                           per_channel=per_channel, method=method)
        runs = [("torch", "fp32", model), ("onnxruntime", "fp32", onnx_module(fp32, threads)),
                ("onnxruntime", "int8", onnx_module(int8, threads))]
        for backend, precision, module in runs:
            results = predict(module, dataset, codec, flip_indices,
                              batch_size=cfg.test.batch_size,
                              shift_heatmap=cfg.test.shift_heatmap)
            metrics = builders.validation_metrics(cfg, dataset, results, metainfo, data_root, "gt")
            reference = reference or results
            rows.append({"backend": backend, "precision": precision,
                         "boxes": "GT boxes", "flip_test": flip, "instances": len(results),
                         **_plain(metrics),
                         **_shift(results, reference, cfg.data.input_size, metainfo)})
    for row in rows:
        row["quantisation"] = {"per_channel": per_channel, "method": method}
    return rows


def _shift(results: list[dict[str, Any]], reference: list[dict[str, Any]],
           input_size: Sequence[int], metainfo: Any) -> dict[str, float]:
    """Keypoint displacement from the reference predictions, in model-input pixels, and OKS."""
    import numpy as np

    sigmas = np.asarray(metainfo.sigmas, dtype=np.float64)
    height, width = input_size
    shifts, oks = [], []
    for ours, ref in zip(results, reference):
        distance = np.linalg.norm(ours["keypoints"] - ref["keypoints"], axis=-1)
        # crop scale (w, h) has the input aspect ratio: w = sqrt(area * W / H)
        crop_width = float(np.sqrt(ref["area"] * width / height))
        shifts.append(distance * width / crop_width)
        box_area = ref["area"] / BOX_PADDING ** 2  # the crop is the box padded
        oks.append(float(np.mean(np.exp(-distance ** 2 / (2 * box_area * (2 * sigmas) ** 2)))))
    flat = np.concatenate(shifts)
    return {"shift_px_median": round(float(np.median(flat)), 4),
            "shift_px_mean": round(float(flat.mean()), 4),
            "shift_px_p90": round(float(np.percentile(flat, 90)), 4),
            "oks_vs_fp32": round(float(np.mean(oks)), 4)}


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
    parser.add_argument("--method", default="percentile", help="minmax, percentile or entropy")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args(argv)
    rows = compare_precisions(args.weights, args.calib, args.config, args.data_root,
                              flip=not args.no_flip, threads=args.threads,
                              per_channel=not args.per_tensor, method=args.method)
    for row in rows:
        print(f"{row['backend']:<12} {row['precision']:<5} AP {row.get('AP', float('nan')):.4f}"
              f"  AP50 {row.get('AP50', float('nan')):.4f}  AR {row.get('AR', float('nan')):.4f}"
              f"  shift vs torch fp32: median {row['shift_px_median']:.2f} px, "
              f"mean {row['shift_px_mean']:.2f} px, "
              f"p90 {row['shift_px_p90']:.3f} px, OKS {row['oks_vs_fp32']:.4f}")
    if args.json:
        from lgmpose.utils.atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
