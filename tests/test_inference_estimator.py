"""PoseEstimator: crops -> model -> decode -> image pixels, batching, flip test, caller boxes,
backends and the errors a user can cause."""
from __future__ import annotations

import numpy as np
import pytest

from inference_fakes import bright_spot_pose_model, constant_output_model, spot_image
from lgmpose import PoseEstimator
from lgmpose.errors import LgmposeError
from lgmpose.inference.draw import draw_poses
from lgmpose.inference.estimator import bundled_weights


@pytest.fixture(scope="module")
def spot_model(tmp_path_factory):
    return bright_spot_pose_model(tmp_path_factory.mktemp("m") / "spot.onnx")


def test_keypoints_land_on_the_spot_in_image_pixels(spot_model):
    est = PoseEstimator(spot_model, detector="whole_image")
    assert est.backend == "onnxruntime" and est.input_size == (256, 192)
    people = est(spot_image(spot=(200, 80)))
    assert len(people) == 1
    person = people[0]
    assert person.keypoints.shape == (17, 2) and person.scores.shape == (17,)
    assert np.allclose(person.box, [0, 0, 320, 240])
    assert np.all(np.abs(person.keypoints - [200, 80]).max(axis=1) < 12)
    assert person.track_id is None


def test_caller_boxes_run_as_one_batch(spot_model, monkeypatch):
    est = PoseEstimator(spot_model, detector="whole_image")
    calls = []
    model = est.model
    monkeypatch.setattr(est, "model", lambda x: calls.append(x.shape) or model(x))
    people = est(spot_image(spot=(200, 80)), boxes=[[150, 30, 100, 100], [0, 0, 60, 60],
                                                    [170, 60, 60, 50]])
    assert calls == [(3, 3, 256, 192)]
    assert len(people) == 3
    for i in (0, 2):
        assert np.all(np.abs(people[i].keypoints - [200, 80]).max(axis=1) < 6)
    # the spot is outside box 1: its keypoints stay inside that box's padded crop
    assert np.all(people[1].keypoints.max(axis=0) < 100)


def test_fixed_batch_model_runs_crop_by_crop(tmp_path):
    path = bright_spot_pose_model(tmp_path / "b1.onnx", batch=1)
    est = PoseEstimator(path, detector="whole_image")
    people = est(spot_image(spot=(100, 100)), boxes=[[50, 50, 100, 100], [60, 60, 90, 90],
                                                     [0, 0, 320, 240]])
    assert len(people) == 3
    assert all(np.abs(p.keypoints - [100, 100]).max() < 12 for p in people)


def test_flip_test_agrees(spot_model):
    image = spot_image(spot=(150, 120))
    plain = PoseEstimator(spot_model, detector="whole_image")(image)[0]
    flip = PoseEstimator(spot_model, detector="whole_image", flip_test=True)(image)[0]
    assert np.abs(plain.keypoints - flip.keypoints).max() < 8


def test_path_input_and_drawing(spot_model, tmp_path):
    import cv2

    path = tmp_path / "spot.png"
    cv2.imwrite(str(path), spot_image())
    est = PoseEstimator(spot_model, detector="whole_image")
    people = est(str(path))
    canvas = draw_poses(cv2.imread(str(path)), people, est.metainfo, kpt_thr=-1e9)
    assert canvas.shape == (240, 320, 3) and (canvas != cv2.imread(str(path))).any()
    gray = est(np.zeros((50, 40), np.uint8))
    assert len(gray) == 1


def test_bad_inputs_name_the_input_and_the_problem(spot_model, tmp_path):
    est = PoseEstimator(spot_model, detector="whole_image")
    with pytest.raises(LgmposeError, match="zero area"):
        est(spot_image(), boxes=[[10, 10, 0, 5]])
    with pytest.raises(LgmposeError, match="outside"):
        est(spot_image(), boxes=[[1000, 10, 20, 20]])
    with pytest.raises(LgmposeError, match="missing.jpg.*not found"):
        est(str(tmp_path / "missing.jpg"))
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    with pytest.raises(LgmposeError, match="notes.jpg.*not an image"):
        est(str(text))
    with pytest.raises(LgmposeError, match="expected a BGR array"):
        est(np.zeros((4, 4, 2), np.uint8))


def test_wrong_model_files(tmp_path):
    with pytest.raises(LgmposeError, match="unknown model file type"):
        PoseEstimator(tmp_path / "weights.txt")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(LgmposeError, match="junk.onnx.*not a valid ONNX model"):
        PoseEstimator(junk)
    detector = constant_output_model(tmp_path / "det.onnx",
                                     {"out": np.zeros((1, 6, 10), np.float32)})
    with pytest.raises(LgmposeError, match="det.onnx': not a pose model of the expected form"):
        PoseEstimator(detector)
    with pytest.raises(LgmposeError, match="not found"):
        PoseEstimator(tmp_path / "absent.onnx")
    with pytest.raises(LgmposeError, match="backend='torch'"):
        PoseEstimator(tmp_path / "model.pt", backend="onnxruntime")
    with pytest.raises(LgmposeError, match="backend"):
        PoseEstimator(junk, backend="tensorflow")


def test_pose_model_shapes_are_checked(tmp_path):
    with pytest.raises(LgmposeError, match=r"tiny.onnx': not a pose model .*4x4 is not a multiple"):
        PoseEstimator(bright_spot_pose_model(tmp_path / "tiny.onnx", input_size=(4, 4),
                                             metadata=False))
    # heatmaps at 1/8 of the input where the metadata says nothing (1/4 expected)
    coarse = constant_output_model(tmp_path / "coarse.onnx",
                                   {"heatmaps": np.zeros((1, 17, 8, 8), np.float32)})
    with pytest.raises(LgmposeError, match=r"coarse.onnx'.*heatmaps of 8x8 for a 64x64 input"):
        PoseEstimator(coarse)
    channels = constant_output_model(tmp_path / "gray.onnx",
                                     {"heatmaps": np.zeros((1, 17, 16, 16), np.float32)},
                                     input_shape=(1, 1, 64, 64))
    with pytest.raises(LgmposeError, match=r"gray.onnx'.*1 input channels instead of 3"):
        PoseEstimator(channels)
    # the right shapes (64x64 in, 16x16 out) load
    PoseEstimator(constant_output_model(tmp_path / "ok.onnx",
                                        {"heatmaps": np.zeros((1, 17, 16, 16), np.float32)}),
                  detector="whole_image")


def test_video_pipeline_gives_ids_and_smooths(spot_model):
    from lgmpose import VideoPipeline

    video = VideoPipeline(PoseEstimator(spot_model, detector="whole_image"), det_interval=3,
                          smooth=True)
    ids = []
    for i in range(6):
        people = video(spot_image(spot=(100 + 2 * i, 100)), timestamp=i / 30)
        ids.append([p.track_id for p in people])
        assert set(video.timings) == {"detect", "pose", "track"}
    assert ids == [[0]] * 6
    video.reset()
    assert video(spot_image())[0].track_id == 0


def test_torch_backend_matches_onnx_export(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import torch

    from lgmpose.export.batched import export_checkpoint
    from lgmpose.models import create_model
    from lgmpose.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "m.pt", create_model("lgm_pose"),
                           meta={"codec": {"name": "msra", "sigma": 2.0}, "dataset": "coco"})
    onnx_path = export_checkpoint(ckpt, tmp_path / "m.onnx")
    image = spot_image()
    boxes = [[100, 20, 150, 200], [0, 0, 320, 240]]
    a = PoseEstimator(ckpt, backend="torch")(image, boxes=boxes)
    b = PoseEstimator(onnx_path)(image, boxes=boxes)
    for pa, pb in zip(a, b):
        assert np.abs(pa.keypoints - pb.keypoints).max() < 1e-2
        assert np.abs(pa.scores - pb.scores).max() < 1e-4


def test_bundled_model_if_present(shared_data):
    if not bundled_weights().is_file():
        pytest.skip("no bundled model in this checkout")
    est = PoseEstimator(detector="whole_image")
    people = est(str(shared_data / "media" / "messi5.jpg"))
    assert len(people) == 1 and people[0].keypoints.shape == (est.metainfo.num_keypoints, 2)


def test_bundled_onnx_matches_bundled_checkpoint(shared_data):
    """The bundled ONNX file is an export of the bundled checkpoint, not a stale one."""
    pytest.importorskip("torch")
    if not (bundled_weights("onnxruntime").is_file() and bundled_weights("torch").is_file()):
        pytest.skip("bundled weights absent")
    import cv2

    image = cv2.imread(str(shared_data / "media" / "messi5.jpg"))
    boxes = [[120, 20, 170, 300], [0, 0, 548, 342]]
    a = PoseEstimator(backend="onnxruntime")(image, boxes=boxes)
    b = PoseEstimator(backend="torch")(image, boxes=boxes)
    for pa, pb in zip(a, b):
        assert np.abs(pa.keypoints - pb.keypoints).max() < 0.05
        assert np.abs(pa.scores - pb.scores).max() < 1e-3


def test_keypoint_count_must_match_the_keypoint_set(tmp_path):
    path = bright_spot_pose_model(tmp_path / "k5.onnx", num_keypoints=5)
    with pytest.raises(LgmposeError, match="predicts 5 keypoints"):
        PoseEstimator(path)


def test_cuda_request_without_a_cuda_runtime_says_so(spot_model):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(LgmposeError, match="no CUDA provider"):
        PoseEstimator(spot_model, device="cuda")
    with pytest.raises(LgmposeError, match="unknown"):
        PoseEstimator(spot_model, device="tpu")


def test_export_at_another_input_size_decodes_at_that_size():
    # A checkpoint trained at 256x192 and exported at 384x288 keeps its codec settings, not its
    # heatmap size: the decoder must follow the exported input (96x72 heatmaps).
    from lgmpose.runtimes.model_info import ModelInfo

    meta = {"input_size": [384, 288], "heatmap_stride": 4,
            "codec": {"name": "msra", "input_size": [256, 192], "heatmap_size": [64, 48]}}
    info = ModelInfo.from_meta(meta)
    assert info.codec["heatmap_size"] == [96, 72]
    from lgmpose.codecs import build_codec

    codec = build_codec(info.codec.get("name", "msra"), input_size=info.input_size,
                        heatmap_size=info.codec["heatmap_size"])
    heatmaps = np.zeros((1, 1, 96, 72), np.float32)
    heatmaps[0, 0, 48, 36] = 1.0
    keypoints, _ = codec.decode(heatmaps)
    np.testing.assert_allclose(keypoints[0, 0], [144.0, 192.0], atol=1.0)
    with pytest.raises(LgmposeError, match="96x72"):
        build_codec("msra", input_size=(256, 192)).decode(heatmaps)


def test_person_score_is_the_evaluation_instance_score():
    from lgmpose.inference.estimator import Person

    person = Person(box=np.array([0, 0, 10, 10.0]), keypoints=np.zeros((4, 2)),
                    scores=np.array([0.9, 0.7, 0.1, 0.0]), box_score=0.5)
    assert person.score == pytest.approx(0.5 * (0.9 + 0.7) / 2)
    assert person.to_coco(1)["score"] == pytest.approx(0.4)


def test_det_thr_reaches_the_detector_under_its_old_name_too(spot_model):
    assert PoseEstimator(spot_model, detector="motion", det_thr=0.7).detector.det_thr == 0.7
    with pytest.warns(DeprecationWarning, match="det_thr"):
        est = PoseEstimator(spot_model, detector="motion", det_score_thr=0.6)
    assert est.detector.det_thr == 0.6
