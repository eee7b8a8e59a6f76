"""`lgmpose bench` on tiny settings: the JSON structure, the block timing, peers, int8 quantisation.

Speed targets are not asserted here: they live in the benchmark output (docs/speed.md).
"""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from lgmpose.benchmarks.timing import (ROW_KEYS, BenchTarget, add_peer_ratios, add_ratios,
                                 format_table, summarise, time_in_blocks)
from lgmpose.cli import main

TINY = ["--batch", "1", "--repeats", "2", "--block", "4", "--drop", "1", "--warmup", "1",
        "--input-size", "64x64", "--threads", "1", "--quiet"]


def _fake_target(name: str, calls: list[str], seconds: float = 0.0) -> BenchTarget:
    def run() -> None:
        calls.append(name)
        if seconds:
            time.sleep(seconds)

    return BenchTarget(model=name, backend="onnxruntime", batch=1, threads=1,
                       input_size=(64, 64), run=run, params=10, macs=100)


def test_time_in_blocks_runs_blocks_and_drops_the_first_runs():
    calls: list[str] = []
    targets = [_fake_target("a", calls), _fake_target("b", calls)]
    times = time_in_blocks(targets, rounds=2, block=5, drop=2, warmup=1)
    assert [t.size for t in times] == [6, 6]  # 2 rounds x (5 - 2)
    # warm-up a, b; then blocks a x5, b x5, a x5, b x5: never strict alternation
    assert calls[2:] == ["a"] * 5 + ["b"] * 5 + ["a"] * 5 + ["b"] * 5
    with pytest.raises(ValueError):
        time_in_blocks(targets, block=3, drop=3)


def test_ratios_are_per_crop_against_lgm_pose():
    calls: list[str] = []
    ref = summarise(_fake_target("lgm_pose", calls), np.full(10, 2.0))
    other = summarise(_fake_target("lite_hrnet_18", calls), np.full(10, 5.0))
    peer = summarise(BenchTarget("blazepose_lite", "tflite", 1, 1, (256, 256), lambda: None),
                     np.full(10, 3.0))
    rows = [ref, other, peer]
    add_ratios(rows)
    assert [r["ratio_vs_reference"] for r in rows] == [1.0, 2.5, 1.5]
    assert ref["fps"] == 500.0
    table = format_table(rows, {"device": "cpu", "cpu": "test", "cores": 1, "python": "3",
                                "versions": {}})
    assert "input sizes differ" in table and "blazepose_lite" in table


def test_peer_ratios_pair_the_rounds_of_one_timing_group():
    calls: list[str] = []
    ours = summarise(_fake_target("lgm_pose", calls), np.array([[1.0, 1.0], [2.0, 2.0]]))
    peer = summarise(_fake_target("movenet_lightning_int8", calls),
                     np.array([[2.0, 2.0], [4.0, 4.0]]))
    later = summarise(_fake_target("lgm_pose", calls), np.array([[1.0], [1.0]]))
    ours["timing_group"] = peer["timing_group"] = 0
    later["timing_group"] = 1
    rows = [ours, peer, later]
    add_peer_ratios(rows, "movenet_lightning_int8")
    # the machine got twice as slow in round 2: per-round ratios cancel that out
    assert ours["round_medians_ms"] == [1.0, 2.0] and ours["ratio_vs_peer"] == 0.5
    assert peer["ratio_vs_peer"] == 1.0
    assert later["ratio_vs_peer"] is None  # not timed in the peer's rounds
    table = format_table(rows, {"device": "cpu", "cpu": "test", "cores": 1, "python": "3",
                                "versions": {}, "load_average": [0.5, 0.5, 0.5]})
    assert "x movenet_lightning_int8" in table and "load average 0.50" in table


def test_bench_command_writes_rows_with_the_documented_fields(tmp_path, capsys):
    out = tmp_path / "bench.json"
    plot = tmp_path / "bench.png"
    assert main(["bench", "--models", "lgm_pose", *TINY, "--json", str(out),
                 "--plot", str(plot)]) == 0
    table = capsys.readouterr().out
    assert "lgm_pose" in table and "median ms" in table and "versions:" in table
    rows = json.loads(out.read_text())
    assert isinstance(rows, list) and {r["backend"] for r in rows} == {"onnxruntime", "torch"}
    for row in rows:
        assert set(ROW_KEYS) <= set(row)
        assert row["model"] == "lgm_pose" and row["batch"] == 1 and row["threads"] == 1
        assert row["input_size"] == "64x64" and row["runs"] == 6
        assert row["params"] > 0 and row["macs"] > 0
        assert 0 < row["latency_ms_median"] <= row["latency_ms_p90"]
        assert row["fps"] == pytest.approx(1000.0 / row["latency_ms_median"], rel=1e-3)
        assert row["ratio_vs_reference"] == 1.0
        assert row["environment"]["versions"]["onnxruntime"]
        # each model ran in its own process, stopped while the other was timed
        assert len(row["round_medians_ms"]) == 2 and row["idle_cpu_ms_max"] >= 0
        env = row["environment"]
        assert env["cpu"] and len(env["load_average"]) == 3 and "process" in env["isolation"]
    assert plot.stat().st_size > 0


def test_bench_rejects_bad_settings(capsys):
    assert main(["bench", "--models", "no_such_model", *TINY]) == 2
    assert "no_such_model" in capsys.readouterr().err
    assert main(["bench", "--models", "lgm_pose", "--block", "3", "--drop", "3"]) == 2
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        assert main(["bench", "--models", "lgm_pose", "--device", "cuda", *TINY]) == 2
        assert "CUDA" in capsys.readouterr().err


def test_an_onnx_file_is_timed_as_given(tmp_path):
    path = _tiny_onnx(tmp_path / "tiny.onnx")
    out = tmp_path / "rows.json"
    assert main(["bench", "--models", str(path), *TINY, "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    assert row["model"] == "tiny" and row["backend"] == "onnxruntime"
    assert row["input_size"] == "32x32" and row["params"] > 0 and row["macs"] is None


def test_an_onnx_file_with_a_free_batch_axis_is_timed_at_batch_1(tmp_path):
    from bench_fakes import conv_stack_onnx

    path = conv_stack_onnx(tmp_path / "free.onnx", channels=4, size=16, layers=1, batch="N")
    out = tmp_path / "rows.json"
    assert main(["bench", "--models", str(path), *TINY, "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    assert row["model"] == "free" and row["batch"] == 1 and row["input_size"] == "16x16"


def test_peers_are_timed_in_the_same_run(shared_data, tmp_path):
    pytest.importorskip("ai_edge_litert")
    out = tmp_path / "bench.json"
    assert main(["bench", "--models", "lgm_pose", "--backend", "onnxruntime", *TINY,
                 "--peers", str(shared_data / "peers"), "--json", str(out)]) == 0
    rows = {r["model"]: r for r in json.loads(out.read_text())}
    assert {"movenet_lightning_int8", "blazepose_lite", "blazepose_full"} <= set(rows)
    assert rows["movenet_lightning_int8"]["input_size"] == "192x192"
    assert rows["movenet_lightning_int8"]["precision"] == "int8"
    assert rows["blazepose_full"]["input_size"] == "256x256"
    assert rows["blazepose_full"]["params"] > rows["blazepose_lite"]["params"] > 0
    for name in ("movenet_lightning_int8", "blazepose_lite", "blazepose_full"):
        assert rows[name]["backend"] == "tflite" and rows[name]["threads"] == 1
        assert rows[name]["ratio_vs_reference"] > 0


def _tiny_movenet_like_onnx(path, size=16):
    """int32 NHWC image in, one 3x3 conv (4 channels): the layout of the converted MoveNets."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Cast", ["input"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Transpose", ["f"], ["nchw"], perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["nchw", "w", "b"], ["Identity"], pads=[1, 1, 1, 1])]
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(np.zeros(4, np.float32), "b")]
    graph = helper.make_graph(
        nodes, "movenet_like", [helper.make_tensor_value_info("input", TensorProto.INT32,
                                                              [1, size, size, 3])],
        [helper.make_tensor_value_info("Identity", TensorProto.FLOAT, [1, 4, size, size])],
        initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_converted_movenet_onnx_peers_run_on_onnx_runtime(tmp_path, monkeypatch):
    from lgmpose.benchmarks import peers
    from lgmpose.errors import LgmposeError

    _tiny_movenet_like_onnx(tmp_path / "movenet_lightning.onnx")
    (tmp_path / "blazepose_landmark_lite.tflite").write_bytes(b"never opened here")
    monkeypatch.setattr(peers, "litert_available", lambda: False)
    with pytest.warns(UserWarning, match="blazepose_landmark_lite.tflite"):
        (target,) = peers.peer_targets(tmp_path, threads=1)
    assert target.model == "movenet_lightning" and target.backend == "onnxruntime"
    assert target.input_size == (16, 16) and target.batch == 1 and target.threads == 1
    assert target.params == 4 * 27 + 4 and target.macs == 4 * 16 * 16 * 27
    assert target.precision == "fp32"
    (out,) = target.run()
    assert out.shape == (1, 4, 16, 16)
    (tmp_path / "movenet_lightning.onnx").unlink()
    with pytest.raises(LgmposeError, match="ai-edge-litert"):
        peers.peer_targets(tmp_path, threads=1)


def test_real_movenet_onnx_peers_when_present(shared_data):
    from lgmpose.benchmarks.peers import peer_targets

    folder = shared_data / "peers"
    names = {"movenet_thunder.onnx": 256, "movenet_lightning.onnx": 192}
    if not any((folder / name).is_file() for name in names):
        pytest.skip(f"no converted MoveNet ONNX in {folder}")
    targets = {t.model: t for t in peer_targets(folder, threads=1)}
    for name, size in names.items():
        if not (folder / name).is_file():
            continue
        target = targets[name[:-len(".onnx")]]
        assert target.backend == "onnxruntime" and target.input_size == (size, size)
        assert target.params > 1_000_000
        (keypoints,) = target.run()
        assert keypoints.shape == (1, 1, 17, 3)


def _tiny_onnx(path, size=(32, 32)):
    torch = pytest.importorskip("torch")
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU(),
                          nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)).eval()
    with torch.no_grad():
        torch.onnx.export(model, (torch.zeros(1, 3, *size),), str(path), input_names=["images"],
                          output_names=["heatmaps"], opset_version=17, dynamo=False)
    return path


def _write_coco_folder(root, count=3, size=(120, 160)):
    cv2 = pytest.importorskip("cv2")
    images = root / "val"
    images.mkdir()
    (root / "annotations").mkdir()
    rng = np.random.default_rng(0)
    coco = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "person"}]}
    for i in range(count):
        name = f"{i:03d}.jpg"
        cv2.imwrite(str(images / name), rng.integers(0, 255, (*size, 3), dtype=np.uint8))
        coco["images"].append({"id": i, "file_name": name, "height": size[0], "width": size[1]})
        coco["annotations"].append({"id": i, "image_id": i, "category_id": 1, "iscrowd": 0,
                                    "bbox": [10, 10, 40, 80], "num_keypoints": 3})
    (root / "annotations" / "person_keypoints_val.json").write_text(json.dumps(coco))
    return images


def test_quantize_writes_a_qdq_model_that_tracks_fp32(tmp_path):
    import onnxruntime as ort

    from lgmpose.export.quantize import calibration_crops, describe_quantised, quantize_onnx

    fp32 = _tiny_onnx(tmp_path / "tiny.onnx")
    images = _write_coco_folder(tmp_path)
    crops = calibration_crops(images, (32, 32))  # finds ../annotations/person_keypoints_val.json
    assert crops.shape == (3, 3, 32, 32) and crops.dtype == np.float32
    int8 = quantize_onnx(fp32, tmp_path / "tiny_int8.onnx", images)
    ops = describe_quantised(int8)
    assert ops.get("QuantizeLinear", 0) > 0 and ops.get("DequantizeLinear", 0) > 0
    feed = {"images": crops[:1]}
    reference = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).run(None, feed)
    quantised = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"]).run(None, feed)
    assert np.corrcoef(reference[0].ravel(), quantised[0].ravel())[0, 1] > 0.95


def test_quantize_reports_bad_inputs(tmp_path):
    from lgmpose.errors import LgmposeError
    from lgmpose.export.quantize import quantize_onnx

    fp32 = _tiny_onnx(tmp_path / "tiny.onnx")
    with pytest.raises(LgmposeError, match="does not exist"):
        quantize_onnx(fp32, tmp_path / "out.onnx", tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LgmposeError, match="no images"):
        quantize_onnx(fp32, tmp_path / "out.onnx", tmp_path / "empty")
    with pytest.raises(LgmposeError, match="calibration method"):
        quantize_onnx(fp32, tmp_path / "out.onnx", None, method="magic")


def test_calibration_uses_real_coco_person_boxes(shared_data):
    from lgmpose.export.quantize import calibration_crops

    crops = calibration_crops(shared_data / "coco-mini" / "val2017", (64, 64), max_crops=4)
    assert crops.shape == (4, 3, 64, 64)
    assert 0.2 < float(crops.std()) < 3.0  # normalised real pixels, not black padding


def test_onnx_module_runs_a_static_batch_model_on_any_batch(tmp_path):
    torch = pytest.importorskip("torch")
    import onnxruntime as ort

    from lgmpose.benchmarks.int8_accuracy import onnx_module

    path = _tiny_onnx(tmp_path / "tiny.onnx")
    images = torch.randn(3, 3, 32, 32)
    out = onnx_module(path, threads=1)(images)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = np.concatenate([session.run(None, {"images": images[i:i + 1].numpy()})[0]
                               for i in range(3)])
    assert out.shape == (3, 4, 64, 64)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)
