"""`lgmpose eval` end to end on the synthetic set and on the real coco-mini files."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from lgmpose.cli import main
from lgmpose.engine.config import load_config
from lgmpose.engine.train import train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_coco import write_config, write_dataset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "lgmpose" / "weights" / "lgm_pose_coco_256x192.pt"


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evalcli")
    data = write_dataset(tmp / "data")
    cfg_path = write_config(tmp / "cfg.yaml", data, epochs=1, val_interval=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(load_config(cfg_path), tmp / "run", progress=False)
    finally:
        torch.set_num_threads(threads)
    return tmp, data, cfg_path


def test_eval_json_with_gt_boxes(trained, capsys):
    tmp, data, cfg = trained
    assert main(["eval", str(cfg), "--weights", str(tmp / "run" / "last.pt"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"AP", "AP50", "AP75", "APM", "APL", "AR"} <= set(metrics)
    assert metrics["boxes"] == "GT boxes" and metrics["flip_test"] is True
    assert metrics["instances"] == 12


def test_eval_notes_only_a_real_codec_difference(trained, capsys):
    """The config leaves the codec's refinement at its default: that is no difference from the
    checkpoint, which records it; another sigma is, and the note names both."""
    tmp, data, cfg = trained
    weights = str(tmp / "run" / "last.pt")
    assert main(["eval", str(cfg), "--weights", weights, "--json"]) == 0
    assert "note:" not in capsys.readouterr().err
    assert main(["eval", str(cfg), "--weights", weights, "--json", "--set", "codec.sigma=3"]) == 0
    err = capsys.readouterr().err
    assert "note: decoding with the checkpoint's codec" in err
    assert "'sigma': 2.0" in err and "'sigma': 3" in err


def test_eval_with_a_detection_file_and_no_flip(trained, capsys):
    tmp, data, cfg = trained
    ann = json.loads((data / "annotations" / "val.json").read_text())
    dets = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.9}
            for a in ann["annotations"]]
    dets.append({"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.01})
    det_file = tmp / "dets.json"
    det_file.write_text(json.dumps(dets))
    assert main(["eval", str(cfg), "--weights", str(tmp / "run" / "last.pt"), "--boxes",
                 str(det_file), "--no-flip"]) == 0
    out = capsys.readouterr().out
    assert "detected boxes dets.json" in out and "no flip" in out and "AP " in out


def test_eval_errors_are_one_line(trained, capsys):
    tmp, data, cfg = trained
    assert main(["eval", str(cfg), "--weights", str(tmp / "missing.pt")]) == 2
    assert "missing.pt" in capsys.readouterr().err
    assert main(["eval", str(cfg), "--weights", str(tmp / "run" / "last.pt"), "--boxes",
                 str(tmp / "nope.json")]) == 2
    assert "nope.json" in capsys.readouterr().err


@pytest.mark.slow
def test_shipped_checkpoint_on_coco_mini_val(shared_data, capsys):
    if not SHIPPED.is_file():
        pytest.skip("no shipped checkpoint")
    assert main(["eval", "coco_mini_256x192", "--weights", str(SHIPPED), "--data-root",
                 str(shared_data), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["instances"] == 68 and metrics["boxes"] == "GT boxes"
    assert 0.0 <= metrics["AP"] <= 1.0


def test_mpii_config_trains_on_the_mmpose_samples(shared_data, tmp_path):
    samples = shared_data / "mmpose-samples" / "mpii"
    cfg = load_config("mpii_256x256", [
        f"data.root={samples}", "data.train.ann_file=test_mpii.json", "data.train.img_dir=.",
        "data.val=null", "data.input_size=[64, 64]", "data.heatmap_size=[16, 16]",
        "data.workers=0", "train.epochs=1", "train.batch_size=5", "train.tensorboard=false"])
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary["epochs"] == 1 and summary["metric"] == "PCKh"
    from lgmpose.models.checkpoint import load_checkpoint

    meta = load_checkpoint(tmp_path / "run" / "last.pt")["meta"]
    assert meta["dataset"] == "mpii" and len(meta["keypoint_names"]) == 16


def test_mpii_scoring_of_ground_truth_is_perfect(shared_data):
    from lgmpose.engine import builders

    cfg = load_config("mpii_256x256", [
        f"data.root={shared_data / 'mpii'}", "data.val.ann_file=mpii_annotations.json.gz",
        "data.val.split=val", "data.val.gt_file=mpii_gt_val.mat"])
    metainfo, codec = builders.build_metainfo(cfg), builders.build_codec(cfg)
    dataset = builders.build_val_dataset(cfg, None, codec, metainfo)
    assert len(dataset) == 2958
    results = [{"index": i, "keypoints": r["keypoints"]} for i, r in enumerate(dataset.records)]
    metrics = builders.validation_metrics(cfg, dataset, results, metainfo, None, "gt")
    # 13 of the ~37,000 joints differ between the record file and the .mat (two releases of the
    # annotations), hence not exactly 100
    assert metrics["PCKh"] > 99.9
    assert builders.boxes_label(cfg) == "GT boxes" and builders.main_metric(cfg) == "PCKh"
