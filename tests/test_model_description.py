"""One description of a model (input size, heatmap size, codec, normalisation, keypoint set) read
the same way by every reader: `lgmpose eval` decodes a checkpoint exactly as `PoseEstimator`
does, and a config whose sizes disagree fails with one clear error before training."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from lgmpose.errors import LgmposeError
from lgmpose.inference.estimator import bundled_weights
from lgmpose.runtimes.model_info import ModelInfo

PT = bundled_weights("torch")
ONNX = bundled_weights("onnxruntime")


def _pt_meta() -> tuple[dict, dict]:
    torch = pytest.importorskip("torch")
    data = torch.load(PT, map_location="cpu", weights_only=False)
    return dict(data["meta"]), dict(data["model_config"])


def test_heatmap_size_is_derived_from_the_input_size():
    info = ModelInfo.from_meta({"input_size": [384, 288],
                                "codec": {"name": "udp", "input_size": [256, 192],
                                          "heatmap_size": [64, 48], "sigma": 2.0}})
    assert info.heatmap_size == (96, 72)
    assert info.codec_config() == {"name": "udp", "sigma": 2.0, "input_size": [384, 288],
                                   "heatmap_size": [96, 72]}


def test_bundled_checkpoint_and_onnx_describe_the_same_model():
    pytest.importorskip("onnxruntime")
    from lgmpose.export.exporter import onnx_metadata

    meta, config = _pt_meta()
    from_pt = ModelInfo.from_meta(meta, tuple(config["input_size"]))
    from_onnx = ModelInfo.from_meta(onnx_metadata(ONNX))
    # the checkpoint's own codec, sizes included, is what both readers decode with
    assert from_pt.codec_config() == meta["codec"]
    assert from_onnx.codec_config() == from_pt.codec_config()
    assert from_onnx.input_size == from_pt.input_size == (256, 192)
    assert from_onnx.heatmap_size == from_pt.heatmap_size == (64, 48)
    assert from_onnx.dataset == from_pt.dataset
    np.testing.assert_allclose(from_onnx.mean, from_pt.mean)
    np.testing.assert_allclose(from_onnx.std, from_pt.std)


def test_eval_follows_the_checkpoints_codec_not_the_configs(tmp_path):
    pytest.importorskip("torch")
    from lgmpose.engine.builders import build_codec, follow_checkpoint
    from lgmpose.engine.config import load_config

    meta, config = _pt_meta()
    cfg = load_config("coco_256x192")
    assert cfg.codec.name == "msra"      # the config alone would decode another way
    followed = follow_checkpoint(cfg, meta, config)
    assert build_codec(followed).config() == meta["codec"]
    assert cfg.codec.name == "msra"      # the caller's config is left alone
    # a checkpoint that names no codec keeps the config's settings, at the model's size
    bare = follow_checkpoint(cfg, {}, {"input_size": [384, 288]})
    assert bare.codec == cfg.codec
    assert bare.data.input_size == (384, 288) and bare.data.heatmap_size == (96, 72)


@pytest.mark.parametrize("flip", [False, True])
def test_eval_and_predict_decode_the_bundled_checkpoint_identically(tmp_path, flip):
    pytest.importorskip("torch")
    from synthetic_coco import write_config, write_dataset

    from lgmpose import PoseEstimator
    from lgmpose.engine import builders
    from lgmpose.engine.config import load_config
    from lgmpose.engine.evaluate import predict
    from lgmpose.models.checkpoint import load_model

    root = write_dataset(tmp_path / "data", num_images=2, persons_per_image=2)
    cfg = load_config(write_config(tmp_path / "cfg.yaml", root))   # 64x64 msra: not the model's
    model = load_model(PT)
    # what `lgmpose eval --weights` evaluates with
    cfg = builders.follow_checkpoint(cfg, model.meta, model.model_config)
    codec = builders.build_codec(cfg)
    metainfo = builders.build_metainfo(cfg)
    dataset = builders.build_val_dataset(cfg, None, codec, metainfo, boxes="gt")
    results = predict(model, dataset, codec, metainfo.flip_indices if flip else None,
                      batch_size=4, shift_heatmap=cfg.test.shift_heatmap,
                      sigmas=metainfo.sigmas)
    assert len(results) == 4

    estimator = PoseEstimator(weights=PT, backend="torch", flip_test=flip)
    for image_id in sorted({r["image_id"] for r in results}):
        mine = [(r, dataset.records[r["index"]]) for r in results if r["image_id"] == image_id]
        image = cv2.imread(str(mine[0][1]["image_file"]))
        boxes = np.stack([record["bbox"] for _, record in mine]).astype(np.float32)
        keypoints, scores, quality = estimator.estimate(image, boxes, quality=True)
        for (result, _), kpts, conf, q in zip(mine, keypoints, scores, quality):
            np.testing.assert_allclose(result["keypoints"], kpts, atol=1e-3)
            np.testing.assert_allclose(result["scores"], conf, atol=1e-4)
            # both rank people by the same instance score
            assert 0.0 < result["quality"] <= 1.0
            assert result["quality"] == pytest.approx(float(q), abs=1e-4)


def test_a_config_whose_sizes_disagree_fails_before_training():
    from lgmpose.engine.builders import build_codec
    from lgmpose.engine.config import load_config
    from lgmpose.engine.config_types import replace

    # the heatmap size follows the input size; a stated one that does not is refused
    assert build_codec(load_config("coco_256x192", ["data.input_size=[384, 288]"])
                       ).heatmap_size == (96, 72)
    with pytest.raises(LgmposeError, match=r"heatmap_size \[64, 48\].*\[384, 288\]"):
        load_config("coco_256x192", ["data.input_size=[384, 288]", "data.heatmap_size=[64, 48]"])
    cfg = load_config("coco_256x192")
    # e.g. a config put together in code; load_config refuses such a file (above)
    odd = replace(cfg, data=replace(cfg.data, heatmap_size=(64, 64)))
    with pytest.raises(LgmposeError, match=r"\[256, 192\] gives 64x48.*\[64, 64\]"):
        build_codec(odd)
    # e.g. a codec section copied from elsewhere
    cfg = replace(cfg, codec=replace(cfg.codec, options={"input_size": [384, 288]}))
    with pytest.raises(LgmposeError, match=r"codec.input_size \[384, 288\].*\[256, 192\]"):
        build_codec(cfg)
    assert build_codec(load_config("coco_384x288")).heatmap_size == (96, 72)


# the description keys every reader (ModelInfo.from_meta, eval, predict, bench) looks at
_READ_KEYS = ("dataset", "codec", "input_size", "keypoint_names", "flip_indices", "metainfo")


def test_the_bundled_checkpoints_meta_round_trips_through_the_description():
    meta, config = _pt_meta()
    again = ModelInfo.from_meta(meta, tuple(config["input_size"])).to_meta()
    for key in _READ_KEYS:
        assert again[key] == meta[key], key
    np.testing.assert_allclose(again["mean"], meta["mean"], rtol=1e-6)
    np.testing.assert_allclose(again["std"], meta["std"], rtol=1e-6)
    assert again["heatmap_stride"] == 4
    assert ModelInfo.from_meta(again).codec_config() == meta["codec"]


def test_the_bundled_onnx_metadata_round_trips_through_the_description():
    pytest.importorskip("onnxruntime")
    from lgmpose.export.exporter import onnx_metadata

    meta = onnx_metadata(ONNX)
    again = ModelInfo.from_meta(meta).to_meta()
    for key in set(meta) - {"flip_indices"}:
        assert again[key] == meta[key], key


def test_training_writes_the_description_into_checkpoints():
    from lgmpose.engine import builders
    from lgmpose.engine.config import load_config

    cfg = load_config("coco_384x288")
    metainfo, codec = builders.build_metainfo(cfg), builders.build_codec(cfg)
    meta = builders.checkpoint_meta(cfg, metainfo, codec)
    info = ModelInfo.from_meta(meta)
    assert info.to_meta() == {k: v for k, v in meta.items()
                              if k not in ("train_sources", "config_file")}
    assert meta["codec"] == codec.config() and info.heatmap_size == (96, 72)
    assert meta["flip_indices"] == list(metainfo.flip_indices)
    assert meta["mean"] == [123.675, 116.28, 103.53]


def test_an_export_carries_the_checkpoints_description(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    from lgmpose.export.batched import export_checkpoint
    from lgmpose.export.exporter import onnx_metadata
    from lgmpose.models import create_model
    from lgmpose.models.checkpoint import load_model, save_checkpoint

    meta, _ = _pt_meta()
    meta = {**meta, "mean": [100.0, 110.0, 120.0], "input_size": [64, 64]}
    model = create_model("lgm_pose", num_keypoints=17, input_size=(64, 64))
    save_checkpoint(tmp_path / "m.pt", model, meta=meta)
    path = export_checkpoint(tmp_path / "m.pt", tmp_path / "m.onnx")
    loaded = load_model(tmp_path / "m.pt")
    expected = ModelInfo.from_meta(loaded.meta, (64, 64))
    expected.model_config = dict(loaded.model_config)
    written = onnx_metadata(path)
    assert written == expected.to_meta()
    # at the exported model's size: the codec settings of training, the sizes of the model
    assert written["codec"] == {**meta["codec"], "input_size": [64, 64], "heatmap_size": [16, 16]}
    assert written["mean"] == [100.0, 110.0, 120.0]


def test_the_torch_backend_reads_the_checkpoint_through_the_description():
    pytest.importorskip("torch")
    from lgmpose.runtimes.torch_backend import TorchPoseModel

    meta, config = _pt_meta()
    info = TorchPoseModel(PT).info
    assert info.codec_config() == meta["codec"] and info.model_config == config
    assert info.flip_indices == meta["flip_indices"] and info.heatmap_size == (64, 48)


def test_both_backends_give_the_estimator_the_same_description():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    from lgmpose.inference.estimator import PoseEstimator
    from lgmpose.runtimes.onnx_runtime import OnnxPoseModel
    from lgmpose.serve.service import _model_name

    onnx_info = OnnxPoseModel(ONNX).info
    est_onnx, est_pt = PoseEstimator(weights=ONNX), PoseEstimator(weights=PT)
    assert est_onnx.info is est_onnx.model.info
    for a, b in [(onnx_info, est_pt.info), (est_onnx.info, est_pt.info)]:
        assert a.codec_config() == b.codec_config() and a.input_size == b.input_size
        assert a.dataset == b.dataset and a.model_config == b.model_config
        assert a.model_name == b.model_name == "lgm_pose"
    # the service names the model from the description, for either file
    assert _model_name(est_onnx) == _model_name(est_pt) == "lgm_pose"


def test_the_model_name_survives_without_a_config():
    info = ModelInfo.from_meta({"model_name": "lgm_pose"})
    assert info.model_name == "lgm_pose" and info.model_config is None
    assert ModelInfo.from_meta(info.to_meta()).model_name == "lgm_pose"


def test_eval_takes_the_keypoint_set_from_the_checkpoint():
    from lgmpose.data.metainfo import load_metainfo
    from lgmpose.engine.builders import build_metainfo, follow_checkpoint
    from lgmpose.engine.config import load_config

    cfg = load_config("coco_256x192")
    custom = load_metainfo("coco").to_dict()
    custom["name"] = "coco_custom"
    custom["flip_pairs"] = [[1, 2]]            # flip only the eyes
    custom["sigmas"] = [0.5] * 17
    followed = build_metainfo(follow_checkpoint(cfg, {"metainfo": custom}))
    assert followed.name == "coco_custom"
    assert followed.flip_indices[:4] == [0, 2, 1, 3] and followed.flip_indices[5:7] == [5, 6]
    np.testing.assert_allclose(followed.sigmas, 0.5)
    # a checkpoint without a keypoint set keeps the config's
    assert build_metainfo(follow_checkpoint(cfg, {})).flip_indices[5:7] == [6, 5]
    assert cfg.data.metainfo == "coco"
