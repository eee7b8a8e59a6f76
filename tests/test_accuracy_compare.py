"""`lgmpose accuracy`: MoveNet and our models scored side by side on the same people."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lgmpose.cli import main
from lgmpose.errors import LgmposeError
from lgmpose.evaluation.compare import (format_breakdown_report, format_keypoint_report,
                                        format_report, model_kind, resolve_models)

MOVENET_TFLITE = "movenet_singlepose_lightning_int8.tflite"


def _tiny_onnx(path, in_shape, in_type, out_shape):
    """An ONNX file with the given input and a constant output (enough to tell the layout)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    value = helper.make_tensor("v", TensorProto.FLOAT, out_shape,
                               np.zeros(int(np.prod(out_shape))).tolist())
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["out"], value=value)], "g",
        [helper.make_tensor_value_info("input", in_type, in_shape)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, out_shape)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_model_kind_tells_movenet_from_ours(tmp_path):
    TensorProto = pytest.importorskip("onnx").TensorProto

    nhwc = _tiny_onnx(tmp_path / "converted.onnx", [1, 8, 8, 3], TensorProto.INT32, [1, 1, 17, 3])
    nchw = _tiny_onnx(tmp_path / "ours.onnx", [1, 3, 16, 12], TensorProto.FLOAT, [1, 17, 4, 3])
    named = _tiny_onnx(tmp_path / "my_movenet.onnx", ["batch", 3, 16, 16], TensorProto.FLOAT,
                       [1, 1, 17, 3])
    assert model_kind(nhwc) == "movenet"          # by the input layout
    assert model_kind(named) == "movenet"         # by the name
    assert model_kind(nchw) == "lgmpose"
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"not opened to tell the kind")
    assert model_kind(checkpoint) == "lgmpose"
    wrong = _tiny_onnx(tmp_path / "nhwc_other.onnx", [1, 8, 8, 3], TensorProto.INT32, [1, 33, 5])
    with pytest.raises(LgmposeError, match="MoveNet"):
        model_kind(wrong)
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(LgmposeError, match="unknown model file type"):
        model_kind(tmp_path / "model.bin")
    ours_pt = tmp_path / "ours.pt"
    ours_pt.write_bytes(b"x")
    specs = resolve_models(["bundled", str(nchw), str(nhwc), str(ours_pt), str(nchw)])
    assert [s.name for s in specs] == ["bundled", "ours.onnx", "converted", "ours.pt",
                                       "ours.onnx#2"]
    assert [s.kind for s in specs] == ["lgmpose", "lgmpose", "movenet", "lgmpose", "lgmpose"]
    assert specs[0].kind == "lgmpose" and specs[0].path.suffix == ".onnx"


def test_a_bad_model_file_is_one_error_line(tmp_path, capsys):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x00garbage" * 50)
    # the model is checked before the data is read
    assert main(["accuracy", "--models", str(bad), "--coco", str(tmp_path / "none.json"),
                 "--images", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.onnx" in err[0] and err[0].startswith("lgmpose accuracy:")
    assert main(["accuracy", "--models", str(tmp_path / "missing.tflite"), "--lsp", "x.mat",
                 "--images", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.tflite" in err[0] and "not found" in err[0]
    assert main(["accuracy", "--models", "bundled", "--lsp", "x.mat", "--images", str(tmp_path),
                 "--per-keypoint"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--per-keypoint needs --coco" in err[0]
    assert main(["accuracy", "--models", "bundled", "--lsp", "x.mat", "--images", str(tmp_path),
                 "--breakdown"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--breakdown needs --coco" in err[0]
    assert main(["accuracy", "--models", "bundled", "--lsp", "x.mat", "--images", str(tmp_path),
                 "--truncate"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--truncate needs --coco" in err[0]
    assert main(["accuracy", "--models", "bundled", "--lsp", "x.mat", "--images", str(tmp_path),
                 "--bootstrap", "10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--bootstrap needs --coco" in err[0]


def _coco_subset(ann_file, out, images=8):
    data = json.loads(ann_file.read_text())
    keep: list[int] = []
    for ann in data["annotations"]:
        if not ann.get("iscrowd") and ann.get("num_keypoints", 0) and ann["image_id"] not in keep:
            keep.append(ann["image_id"])
    chosen = set(keep[:images])
    subset = {**data, "images": [i for i in data["images"] if i["id"] in chosen],
              "annotations": [a for a in data["annotations"] if a["image_id"] in chosen]}
    out.write_text(json.dumps(subset))
    return sum(1 for a in subset["annotations"] if not a.get("iscrowd") and a["num_keypoints"])


def test_movenet_and_bundled_on_coco_mini_people(shared_data, tmp_path, capsys):
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("pycocotools")
    root = shared_data / "coco-mini"
    movenet = shared_data / "peers" / MOVENET_TFLITE
    if not movenet.is_file() or not root.is_dir():
        pytest.skip("coco-mini or the MoveNet TFLite model is absent")
    ann = tmp_path / "subset.json"
    persons = _coco_subset(root / "annotations" / "person_keypoints_val2017.json", ann)
    out = tmp_path / "out" / "accuracy.json"
    assert main(["accuracy", "--models", str(movenet), "bundled", "--coco", str(ann),
                 "--images", str(root / "val2017"), "--threads", "1", "--json", str(out),
                 "--markdown", "--quiet", "--per-keypoint", "--breakdown",
                 "--bootstrap", "20"]) == 0
    table = capsys.readouterr().out
    assert "95% intervals, 20 resamplings of the 8 pictures:" in table
    assert "Mean OKS similarity per keypoint" in table
    assert "| left_wrist " in table and "| right_ankle " in table
    assert "| movenet_singlepose_lightning_int8 " in table and "| bundled " in table
    report = json.loads(out.read_text())
    assert report["dataset"]["persons"] == persons and report["dataset"]["threads"] == 1
    rows = {r["name"]: r for r in report["rows"]}
    assert set(rows) == {"movenet_singlepose_lightning_int8", "bundled"}
    for row in rows.values():
        assert {"AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL"} <= set(row)
        assert row["persons"] == persons and row["ms_per_person"] > 0
    mn = rows["movenet_singlepose_lightning_int8"]
    assert mn["kind"] == "movenet" and mn["runtime"] == "tflite" and mn["input_size"] == [192, 192]
    assert 0.2 < mn["AP"] <= 1.0 and mn["AP50"] >= mn["AP"]
    assert rows["bundled"]["kind"] == "lgmpose" and 0.0 <= rows["bundled"]["AP"] <= 1.0
    assert rows["bundled"]["pose_quality"] is True and "pose_quality" not in mn
    assert "times the pose's quality for bundled" in format_report(report)
    assert "movenet_singlepose_lightning_int8" in format_report(report)  # plain table too
    counts = report["dataset"]["keypoint_counts"]
    assert len(counts) == 17 and max(counts.values()) <= persons and counts["left_shoulder"] > 0
    for row in rows.values():
        oks = row["keypoint_oks"]
        assert list(oks) == list(counts)
        assert all(v is None if counts[k] == 0 else 0.0 <= v <= 1.0 for k, v in oks.items())
    # MoveNet Lightning places shoulders well on these people (COCO's own labels)
    assert mn["keypoint_oks"]["left_shoulder"] > 0.5
    assert "left_shoulder" in format_keypoint_report(report)  # plain table too
    assert "Mean OKS per group of people" in table and "| facing " in table
    boot = report["bootstrap"]
    for row, (low, high) in zip(report["rows"], boot["ap"]):
        assert 0.0 <= low <= high <= 1.0
    assert boot["difference"][0] is None and len(boot["difference"][1]) == 2
    breakdown = report["breakdown"]
    assert breakdown["models"] == [r["name"] for r in report["rows"]]
    for group in ("size", "labelled keypoints", "overlap (IoU with a neighbour)"):
        buckets = [b for b in breakdown["buckets"] if b["group"] == group]
        assert sum(b["persons"] for b in buckets) == persons   # every person in one bucket
    for m, row in enumerate(report["rows"]):
        # the buckets' means, weighted by their people, are the mean OKS over all people
        sizes = [b for b in breakdown["buckets"] if b["group"] == "size" and b["persons"]]
        mean = sum(b["persons"] * b["mean_oks"][m] for b in sizes) / persons
        assert 0.0 < mean < 1.0
        assert sum(breakdown["turned"][m].values()) <= sum(breakdown["facing_persons"].values())
    assert "Predicted facing the other way" in format_breakdown_report(report)
    assert report["dataset"]["truncated"] is None

    # the same people cut off by a picture border: the same persons, fewer labelled keypoints
    cut_out = tmp_path / "out" / "truncated.json"
    assert main(["accuracy", "--models", "bundled", "--coco", str(ann), "--images",
                 str(root / "val2017"), "--json", str(cut_out), "--quiet", "--truncate", "3",
                 "--no-pose-quality"]) == 0
    assert "cut off by a picture border (seed 3" in capsys.readouterr().out
    cut_report = json.loads(cut_out.read_text())
    truncated = cut_report["dataset"]["truncated"]
    assert truncated["seed"] == 3 and 0 < truncated["cut"] <= persons
    assert cut_report["dataset"]["persons"] == persons
    cut_counts = cut_report["dataset"]["keypoint_counts"]
    assert sum(cut_counts.values()) < sum(counts.values())
    assert cut_report["rows"][0]["AP"] != rows["bundled"]["AP"]
    assert cut_report["rows"][0]["pose_quality"] is False
