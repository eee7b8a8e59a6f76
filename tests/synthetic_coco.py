"""A tiny COCO-format keypoint dataset written on the fly, for fast engine tests (no shared data)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import yaml

# keypoints of a standing figure in a unit box (x, y), COCO-17 order
_POSE = np.array([
    [0.50, 0.10], [0.55, 0.07], [0.45, 0.07], [0.60, 0.09], [0.40, 0.09],
    [0.68, 0.25], [0.32, 0.25], [0.78, 0.42], [0.22, 0.42], [0.82, 0.58], [0.18, 0.58],
    [0.62, 0.58], [0.38, 0.58], [0.64, 0.78], [0.36, 0.78], [0.65, 0.96], [0.35, 0.96],
])


def write_dataset(root: Path, num_images: int = 6, persons_per_image: int = 2, seed: int = 0,
                  corrupt: int | None = None) -> Path:
    """``root/annotations/train.json``, ``root/annotations/val.json`` (same persons) and
    ``root/images/*.png``: coloured discs at the keypoints so that a network can learn them.
    ``corrupt``: index of an image whose file is overwritten with garbage."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    colors = rng.integers(40, 255, size=(17, 3))
    for i in range(num_images):
        h, w = 120, 160
        canvas = rng.integers(0, 30, size=(h, w, 3)).astype(np.uint8)
        for p in range(persons_per_image):
            bw, bh = rng.uniform(30, 45), rng.uniform(70, 100)
            x0 = 5 + p * (w / persons_per_image) + rng.uniform(0, 10)
            y0 = rng.uniform(5, h - bh - 5)
            points = _POSE * [bw, bh] + [x0, y0]
            visible = np.full(17, 2)
            visible[rng.random(17) < 0.1] = 0
            for k, (x, y) in enumerate(points):
                if visible[k]:
                    cv2.circle(canvas, (int(round(x)), int(round(y))), 2, colors[k].tolist(), -1)
            kps = np.concatenate([points, visible[:, None]], axis=1)
            kps[visible == 0] = 0
            annotations.append({
                "id": len(annotations) + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
                "bbox": [float(x0), float(y0), float(bw), float(bh)], "area": float(bw * bh),
                "num_keypoints": int((visible > 0).sum()),
                "keypoints": [round(float(v), 2) for v in kps.reshape(-1)],
            })
        name = f"{i + 1:06d}.png"
        cv2.imwrite(str(root / "images" / name), canvas)
        if corrupt is not None and i == corrupt:
            (root / "images" / name).write_bytes(b"not an image at all")
        images.append({"id": i + 1, "file_name": name, "height": h, "width": w})
    categories = [{"id": 1, "name": "person", "supercategory": "person",
                   "keypoints": [f"k{k}" for k in range(17)], "skeleton": []}]
    data = {"images": images, "annotations": annotations, "categories": categories}
    for split in ("train", "val"):
        (root / "annotations" / f"{split}.json").write_text(json.dumps(data))
    return root


def write_config(path: Path, data_root: Path, **train) -> Path:
    """A config for a small, fast run (lgm_pose at 64x64 input) on :func:`write_dataset` data."""
    cfg = {
        "_base_": str(Path(__file__).resolve().parents[1] / "configs" / "coco_256x192.yaml"),
        "data": {
            "root": str(data_root),
            "train": {"ann_file": "annotations/train.json", "img_dir": "images"},
            "val": {"ann_file": "annotations/val.json", "img_dir": "images"},
            "input_size": [64, 64], "heatmap_size": [16, 16], "workers": 0,
        },
        "train": {"epochs": 2, "batch_size": 4, "warmup_iters": 3, "lr_steps": [100, 200],
                  "val_interval": 1, "checkpoint_interval": 0, "tensorboard": False, **train},
        "test": {"batch_size": 8},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path
