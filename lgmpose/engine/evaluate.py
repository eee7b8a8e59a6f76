"""Validation: run a model on the val crops (GT boxes or detections), flip test, decode, map back to
the image and score with COCO OKS AP (pycocotools) or MPII PCKh.

Under DDP every process predicts its share of the crops and process 0 computes the metrics
(the others get ``None``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from lgmpose.codecs.quality import pose_quality
from lgmpose.data.crops import crop_matrix
from lgmpose.data.transforms import transform_points
from lgmpose.engine import builders
from lgmpose.engine.config_types import Config
from lgmpose.engine.distributed import all_gather_objects, is_main
from lgmpose.engine.loading import collate

__all__ = ["evaluate_model", "predict"]


@torch.no_grad()
def _heatmaps(model: nn.Module, images: torch.Tensor, flip_indices: Sequence[int] | None,
              codec, shift: bool, amp: bool) -> np.ndarray:
    with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
        out = model(images).float().cpu().numpy()
        if flip_indices is None:
            return out
        flipped = model(torch.flip(images, dims=[3])).float().cpu().numpy()
    return codec.flip_test(out, flipped, flip_indices, shift=shift)


@torch.no_grad()
def predict(model: nn.Module, dataset, codec, flip_indices: Sequence[int] | None,
            batch_size: int = 64, device: torch.device | str = "cpu", workers: int = 0,
            shift_heatmap: bool = True, channels_last: bool = False,
            progress: bool = False, sigmas: Sequence[float] | None = None
            ) -> list[dict[str, Any]]:
    """Predict every crop of ``dataset`` (this process's share under DDP).

    Each result: ``index`` (position in the dataset), ``image_id``, ``keypoints [K, 2]`` and
    ``scores [K]`` in image pixels, ``bbox_score``, ``area`` (of the crop, for OKS-NMS) and
    ``quality`` (the pose's expected OKS by its heatmaps, :mod:`lgmpose.codecs.quality`, with
    the keypoints' OKS ``sigmas``; 1 without them).
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    indices = list(range(rank, len(dataset), world))
    loader = DataLoader(Subset(dataset, indices), batch_size=batch_size, shuffle=False,
                        num_workers=workers, collate_fn=collate)
    amp = device.type == "cuda"
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(loader), desc="val", leave=False, dynamic_ncols=True)
    results: list[dict[str, Any]] = []
    position = 0
    input_size = codec.input_size
    for batch in loader:
        images = batch["image"].to(device)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        heatmaps = _heatmaps(model, images, flip_indices, codec, shift_heatmap, amp)
        keypoints, scores = codec.decode(heatmaps)
        centers = batch["center"].numpy()
        scales = batch["scale"].numpy()
        quality = np.ones(len(keypoints), np.float32)
        if sigmas is not None:
            boxes = batch["bbox"].numpy()
            share = boxes[:, 2] * boxes[:, 3] / np.maximum(scales[:, 0] * scales[:, 1], 1e-6)
            quality = pose_quality(codec, heatmaps, keypoints, sigmas, share)
        for i in range(keypoints.shape[0]):
            inverse = crop_matrix(centers[i], scales[i], input_size, udp=codec.udp, inv=True)
            results.append({
                "index": indices[position],
                "image_id": _item(batch, "image_id", i),
                "keypoints": transform_points(keypoints[i], inverse),
                "scores": scores[i].astype(np.float32),
                "bbox_score": float(_item(batch, "bbox_score", i, 1.0)),
                "area": float(scales[i][0] * scales[i][1]),
                "quality": float(quality[i]),
            })
            position += 1
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    model.train(was_training)
    return results


def _item(batch: dict[str, Any], key: str, i: int, default: Any = None) -> Any:
    if key not in batch:
        return default
    value = batch[key][i]
    return value.item() if hasattr(value, "item") else value


def evaluate_model(model: nn.Module, cfg: Config, data_root: str | None = None,
                   device: torch.device | str = "cpu", boxes: str | None = None,
                   flip: bool | None = None, progress: bool = False,
                   channels_last: bool = False) -> dict[str, Any] | None:
    """Score ``model`` on the config's validation set; ``None`` on processes other than 0.

    ``boxes``: ``gt`` or a detection json (default: the config's ``data.boxes``);
    ``flip``: flip test (default: the config's ``test.flip``). The returned dict says which boxes
    were used (``boxes``) and whether flip test was on (``flip_test``).
    """
    boxes = boxes or cfg.data.boxes or "gt"
    flip = cfg.test.flip if flip is None else flip
    metainfo = builders.build_metainfo(cfg)
    codec = builders.build_codec(cfg)
    dataset = builders.build_val_dataset(cfg, data_root, codec, metainfo, boxes=boxes)
    results = predict(model, dataset, codec, metainfo.flip_indices if flip else None,
                      batch_size=cfg.test.batch_size, device=device,
                      workers=min(cfg.data.workers, 2), shift_heatmap=cfg.test.shift_heatmap,
                      channels_last=channels_last, progress=progress,
                      sigmas=metainfo.sigmas if cfg.test.pose_quality else None)
    gathered = all_gather_objects(results)
    if not is_main():
        return None
    merged = sorted((r for part in gathered for r in part), key=lambda r: r["index"])
    metrics = builders.validation_metrics(cfg, dataset, merged, metainfo, data_root, boxes)
    metrics["boxes"] = builders.boxes_label(cfg, boxes)
    metrics["flip_test"] = bool(flip)
    metrics["instances"] = len(merged)
    return metrics
