"""`lgmpose codec-check`: the AP a codec allows before any training.

Ground-truth keypoints go through the whole top-down path (GT box -> center/scale -> affine crop ->
encode -> decode -> back to the image) and the result is scored with COCO OKS AP against the same
file. The gap to 1.0 is what the codec and heatmap resolution cost.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from lgmpose.defaults import BOX_PADDING, CODEC_SIGMA, HEATMAP_STRIDE, INPUT_SIZE

HELP = "COCO AP of ground-truth keypoints sent through a codec's encode/decode (its upper bound)"
NAME = "codec-check"


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected HEIGHTxWIDTH, e.g. 256x192") from None
    if h < 8 or w < 8:
        raise argparse.ArgumentTypeError(f"{text!r}: too small")
    return h, w


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ann", required=True, help="COCO-format keypoint annotation file")
    parser.add_argument("--codec", default="dark",
                        help="msra, dark, udp, or a comma-separated list, or all (default: dark)")
    parser.add_argument("--input-size", type=_size, default=INPUT_SIZE,
                        help=f"model input HEIGHTxWIDTH (default: {INPUT_SIZE[0]}x{INPUT_SIZE[1]})")
    parser.add_argument("--heatmap-size", type=_size, default=None,
                        help=f"HEIGHTxWIDTH (default: the input size / {HEATMAP_STRIDE})")
    parser.add_argument("--sigma", type=float, default=CODEC_SIGMA,
                        help="Gaussian sigma in heatmap pixels")
    parser.add_argument("--metainfo", default="coco",
                        help="coco, mpii or a metainfo YAML (keypoints and OKS sigmas)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (AP, AP50, ...; keyed by codec for several)")


def codec_round_trip(annotations: list[dict], codec, metainfo, padding: float = BOX_PADDING) -> list[dict]:
    """Every person with keypoints, through crop -> encode -> decode -> image: results for
    ``coco_keypoint_ap``."""
    from lgmpose.data.crops import box_to_crop, crop_matrix
    from lgmpose.data.transforms import transform_points
    from lgmpose.evaluation import rescore

    k = metainfo.num_keypoints
    results = []
    for ann in annotations:
        if ann.get("iscrowd", 0) or not ann.get("num_keypoints", 0) or not ann.get("keypoints"):
            continue
        gt = np.asarray(ann["keypoints"], dtype=np.float32).reshape(k, 3)
        center, scale = box_to_crop(ann["bbox"], codec.input_size, padding)
        forward = crop_matrix(center, scale, codec.input_size, udp=codec.udp)
        inverse = crop_matrix(center, scale, codec.input_size, udp=codec.udp, inv=True)
        heatmaps, _ = codec.encode(transform_points(gt[:, :2], forward), gt[:, 2] > 0)
        crop_points, scores = codec.decode(heatmaps)
        points = transform_points(crop_points, inverse)
        score = float(rescore(scores[None], [1.0])[0])
        keypoints = np.concatenate([points, scores[:, None]], axis=1)
        results.append({"image_id": int(ann["image_id"]), "category_id": int(ann["category_id"]),
                        "keypoints": [float(v) for v in keypoints.reshape(-1)], "score": score})
    return results


def run(args: argparse.Namespace) -> int:
    from lgmpose.codecs import CODECS, build_codec
    from lgmpose.data.coco import load_coco_json
    from lgmpose.data.metainfo import load_metainfo
    from lgmpose.errors import LgmposeError
    from lgmpose.evaluation import coco_keypoint_ap

    names = list(CODECS) if args.codec == "all" else [c.strip() for c in args.codec.split(",")]
    metainfo = load_metainfo(args.metainfo)
    data = load_coco_json(args.ann)
    if not any(a.get("num_keypoints", 0) for a in data["annotations"]):
        raise LgmposeError(f"annotation file {args.ann!r} has no person with keypoints")
    report = {}
    for name in names:
        codec = build_codec(name, input_size=args.input_size, heatmap_size=args.heatmap_size,
                            sigma=args.sigma)
        results = codec_round_trip(data["annotations"], codec, metainfo)
        stats = coco_keypoint_ap(results, args.ann, sigmas=metainfo.sigmas)
        report[name] = {**stats, "persons": len(results), "codec": codec.config()}
    if args.json:
        out = report[names[0]] if len(names) == 1 else report
        print(json.dumps(out))
        return 0
    h, w = args.input_size
    print(f"codec round trip on {args.ann} ({report[names[0]]['persons']} persons, GT boxes, "
          f"input {h}x{w})")
    print(f"{'codec':<6} {'heatmap':>8} {'AP':>7} {'AP50':>7} {'AP75':>7} {'APM':>7} {'APL':>7} "
          f"{'AR':>7}")
    for name, stats in report.items():
        hm = "x".join(str(v) for v in stats["codec"]["heatmap_size"])
        print(f"{name:<6} {hm:>8} " + " ".join(f"{stats[key]:7.4f}" for key in
                                              ("AP", "AP50", "AP75", "APM", "APL", "AR")))
    return 0
