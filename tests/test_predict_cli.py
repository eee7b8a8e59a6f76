"""`lgmpose predict` and `lgmpose demo` end to end: outputs, COCO results, stage timings, and one
clear line with exit status 2 (and no output file) for each kind of bad input."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from inference_fakes import bright_spot_pose_model, moving_spot_video, spot_image
from lgmpose.cli import main
from lgmpose.detectors.factory import litert_available
from lgmpose.inference.estimator import bundled_weights
from lgmpose.scoring import rescore


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(bright_spot_pose_model(tmp_path_factory.mktemp("m") / "spot.onnx"))


def _predict(*args):
    return main(["predict", *map(str, args), "--no-progress"])


def test_folder_of_images(model, tmp_path, capsys):
    src = tmp_path / "pics"
    src.mkdir()
    cv2.imwrite(str(src / "000000000042.png"), spot_image(spot=(100, 100)))
    cv2.imwrite(str(src / "b.jpg"), spot_image(spot=(50, 60)))
    (src / "readme.txt").write_text("not a picture")
    out = tmp_path / "out"
    assert _predict(src, "--out", out, "--weights", model, "--detector", "whole_image") == 0
    printed = capsys.readouterr().out
    assert "fps end to end" in printed
    for stage in ("decode", "detect", "pose", "track", "draw", "encode"):
        assert stage in printed
    assert sorted(p.name for p in out.iterdir()) == ["000000000042.png", "b.jpg", "results.json",
                                                     "summary.json"]
    results = json.loads((out / "results.json").read_text())
    assert [r["image_id"] for r in results] == [42, 1]
    assert all(len(r["keypoints"]) == 17 * 3 and r["category_id"] == 1 for r in results)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_json_to_stdout_and_boxes_file(model, tmp_path, capsys):
    image = tmp_path / "one.png"
    cv2.imwrite(str(image), spot_image(spot=(200, 80)))
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"one.png": [[150, 30, 100, 100], [0, 0, 60, 60]]}))
    assert _predict(image, "--out", tmp_path / "o", "--weights", model, "--boxes", boxes,
                    "--json") == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 2
    kpts = np.array(results[0]["keypoints"]).reshape(17, 3)
    assert np.abs(kpts[:, :2] - [200, 80]).max() < 6
    # without the pose quality a score is the published protocol's, which is never lower
    assert _predict(image, "--out", tmp_path / "o2", "--weights", model, "--boxes", boxes,
                    "--json", "--no-pose-quality") == 0
    plain = json.loads(capsys.readouterr().out)
    for with_quality, without in zip(results, plain):
        assert without["keypoints"] == with_quality["keypoints"]
        scores = np.array(without["keypoints"]).reshape(17, 3)[:, 2]
        assert without["score"] == pytest.approx(float(rescore(scores, 1.0)), rel=1e-3)
        assert with_quality["score"] <= without["score"]
    assert results[0]["score"] < plain[0]["score"]


def test_video_gets_tracks_and_an_annotated_video(model, tmp_path, capsys):
    video = moving_spot_video(tmp_path / "clip.avi", frames=12)
    out = tmp_path / "out"
    assert _predict(video, "--out", out, "--weights", model, "--detector", "whole_image",
                    "--det-every", "4") == 0
    assert "12 frame(s)" in capsys.readouterr().out
    assert (out / "clip.mp4").stat().st_size > 0
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    results = json.loads((out / "results.json").read_text())
    assert [r["frame"] for r in results] == list(range(12))
    assert {r["track_id"] for r in results} == {0}


def test_vtest_segment_with_motion_detector(model, shared_data, tmp_path, capsys):
    out = tmp_path / "out"
    assert _predict(shared_data / "media" / "vtest.avi", "--out", out, "--weights", model,
                    "--detector", "motion", "--max-frames", "40") == 0
    assert "40 frame(s)" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results and all("track_id" in r for r in results)
    assert len({r["track_id"] for r in results}) >= 2     # several walkers


def _fails(capsys, *args) -> str:
    assert _predict(*args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("lgmpose predict: error:")
    return err


def test_bad_inputs(model, tmp_path, capsys):
    out = tmp_path / "out"
    common = ("--out", out, "--weights", model, "--detector", "whole_image")
    assert "no such file" in _fails(capsys, tmp_path / "absent.jpg", *common)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    assert "bad.jpg" in _fails(capsys, bad, *common)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "contains no images" in _fails(capsys, empty, *common)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    assert "broken.mp4" in _fails(capsys, broken, *common)
    assert "camera 97" in _fails(capsys, "97", *common)
    assert not out.exists()


def test_bad_boxes_and_models_leave_no_output(model, tmp_path, capsys):
    image = tmp_path / "one.png"
    cv2.imwrite(str(image), spot_image())
    out = tmp_path / "out"
    for boxes, message in (([[10, 10, 0, 20]], "zero area"), ([[900, 900, 10, 10]], "outside")):
        path = tmp_path / "boxes.json"
        path.write_text(json.dumps(boxes))
        assert message in _fails(capsys, image, "--out", out, "--weights", model, "--boxes", path)
    video = moving_spot_video(tmp_path / "clip.avi", frames=3)
    path.write_text(json.dumps([[10, 10, 0, 20]]))
    assert "zero area" in _fails(capsys, video, "--out", out, "--weights", model, "--boxes", path)
    assert not out.exists() or not any(out.iterdir())
    wrong = tmp_path / "model.onnx"
    wrong.write_text("nope")
    assert "model.onnx" in _fails(capsys, image, "--out", out, "--weights", wrong)
    assert "unknown model file type" in _fails(capsys, image, "--out", out, "--weights", image)


@pytest.mark.skipif(not (bundled_weights().is_file() and litert_available()),
                    reason="bundled pose model or ai-edge-litert absent")
def test_demo_writes_and_says_where(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    printed = capsys.readouterr().out
    assert str(tmp_path / "demo") in printed
    names = {p.name for p in (tmp_path / "demo").iterdir()}
    assert {"messi5.jpg", "results.json"} <= names


def test_coco_detection_results_as_boxes(model, shared_data, tmp_path):
    coco = shared_data / "mmpose-samples" / "coco"
    dets = json.loads((coco / "test_coco_det_AP_H_56.json").read_text())
    out = tmp_path / "out"
    assert _predict(coco, "--out", out, "--weights", model, "--boxes",
                    coco / "test_coco_det_AP_H_56.json", "--det-thr", "0.5") == 0
    results = json.loads((out / "results.json").read_text())
    expected = sum(1 for d in dets if d["score"] >= 0.5)
    assert len(results) == expected
    assert {r["image_id"] for r in results} <= {d["image_id"] for d in dets}


def test_show_without_a_gui_and_a_foreign_checkpoint(model, tmp_path, capsys):
    image = tmp_path / "one.png"
    cv2.imwrite(str(image), spot_image())
    out = tmp_path / "out"
    try:
        has_gui = "GUI" in cv2.getBuildInformation() and "NONE" not in \
            cv2.getBuildInformation().split("GUI:")[1].splitlines()[0]
    except IndexError:
        has_gui = False
    if not has_gui:
        assert "--show" in _fails(capsys, image, "--out", out, "--weights", model, "--show")
        assert not out.exists()
    pytest.importorskip("torch")
    fake = tmp_path / "fake.pt"
    fake.write_text("not a checkpoint")
    assert "fake.pt" in _fails(capsys, image, "--out", out, "--weights", fake)
    assert not out.exists()


def test_interrupted_video_leaves_no_partial_file(model, tmp_path, monkeypatch):
    from lgmpose.video import pipeline as video_module
    from lgmpose.video.predict import PredictOptions, run_predict

    clip = moving_spot_video(tmp_path / "clip.avi", frames=8)
    original = video_module.VideoPipeline.__call__
    calls = []

    def interrupt_after_three(self, image, timestamp=None):
        calls.append(1)
        if len(calls) > 3:
            raise KeyboardInterrupt
        return original(self, image, timestamp)

    monkeypatch.setattr(video_module.VideoPipeline, "__call__", interrupt_after_three)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_predict(str(clip), PredictOptions(out_dir=out, weights=model,
                                              detector="whole_image", progress=False))
    assert not out.exists() or list(out.iterdir()) == []


def test_refuses_to_overwrite_the_input_pictures(model, tmp_path, capsys):
    image = tmp_path / "one.png"
    cv2.imwrite(str(image), spot_image())
    before = image.read_bytes()
    assert "overwrite" in _fails(capsys, image, "--out", tmp_path, "--weights", model)
    assert image.read_bytes() == before


def test_refuses_to_overwrite_the_input_video(model, tmp_path, capsys):
    clip = moving_spot_video(tmp_path / "clip.avi", frames=3)
    mp4 = tmp_path / "clip.mp4"
    clip.rename(mp4)
    before = mp4.read_bytes()
    assert "overwrite" in _fails(capsys, mp4, "--out", tmp_path, "--weights", model)
    assert mp4.read_bytes() == before


def test_progress_bar_shows_frames_per_second(model, tmp_path, capsys):
    from lgmpose.video.predict import PredictOptions, run_predict

    clip = moving_spot_video(tmp_path / "clip.avi", frames=5)
    run_predict(str(clip), PredictOptions(out_dir=tmp_path / "out", weights=model,
                                          detector="whole_image", progress=True))
    assert "frame/s" in capsys.readouterr().err


def _refused(capsys, *args) -> str:
    """Like `_fails`, for an argument argparse refuses (it exits rather than returning 2)."""
    with pytest.raises(SystemExit) as exited:
        _predict(*args)
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("lgmpose predict: error:"), err
    return err


def test_out_naming_an_existing_file(model, tmp_path, capsys):
    image = tmp_path / "one.png"
    cv2.imwrite(str(image), spot_image())
    taken = tmp_path / "taken"
    taken.write_text("mine")
    common = ("--weights", model, "--detector", "whole_image")
    assert "is an existing file, not a folder" in _fails(capsys, image, "--out", taken, *common)
    assert "is a file, not a folder" in _fails(capsys, image, "--out", taken / "sub", *common)
    assert taken.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.png", "taken"]


@pytest.mark.parametrize("args, message", [
    (("--max-frames", "-5"), "--max-frames: '-5': must be a positive integer"),
    (("--max-frames", "0"), "--max-frames: '0'"),
    (("--kpt-thr", "5"), "--kpt-thr: '5': a score threshold must be in [0, 1]"),
    (("--kpt-thr", "-1"), "--kpt-thr: '-1'"),
    (("--kpt-thr", "nan"), "--kpt-thr: 'nan'"),
    (("--det-thr", "1.5"), "--det-thr: '1.5': a score threshold must be in [0, 1]"),
    (("--det-thr", "high"), "--det-thr: 'high' is not a number"),
])
def test_out_of_range_numbers_are_refused(model, tmp_path, capsys, args, message):
    image = tmp_path / "one.png"
    cv2.imwrite(str(image), spot_image())
    out = tmp_path / "out"
    assert message in _refused(capsys, image, "--out", out, "--weights", model, *args)
    assert not out.exists()


def test_thresholds_are_checked_by_the_library_too(model, tmp_path):
    from lgmpose.errors import LgmposeError
    from lgmpose.video.predict import PredictOptions, run_predict

    image = tmp_path / "one.png"
    cv2.imwrite(str(image), spot_image())
    for options, message in (({"kpt_thr": 5}, "kpt_thr 5"), ({"det_thr": -0.1}, "det_thr -0.1"),
                             ({"max_frames": -5}, "max_frames -5")):
        with pytest.raises(LgmposeError, match=message):
            run_predict(str(image), PredictOptions(out_dir=tmp_path / "out", weights=model,
                                                   **options))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content, message", [
    ({"boxes": 5}, "entry 'boxes' must be a list of [x, y, w, h] boxes, got 5"),
    ({"one.png": [[1, 2, 3]]}, "entry 'one.png' must be a list of [x, y, w, h] boxes"),
    ({"boxes": [[150, 30, 100, 100]]}, "none of its keys (boxes) is an input picture"),
    ([5, 6], "the list must be a list of [x, y, w, h] boxes"),
    ([{"image_id": 1, "bbox": 5}], "entry 0: 'bbox' must be [x, y, w, h], got 5"),
    ([{"image_id": 1, "bbox": [1, 2, 3, 4], "score": "high"}], "'score' must be a number"),
    ("boxes", "expected a list of boxes, a mapping or COCO detection results"),
])
def test_boxes_file_of_the_wrong_shape_is_named(model, tmp_path, capsys, content, message):
    image = tmp_path / "one.png"
    cv2.imwrite(str(image), spot_image())
    boxes = tmp_path / "my_boxes.json"
    boxes.write_text(json.dumps(content))
    out = tmp_path / "out"
    err = _fails(capsys, image, "--out", out, "--weights", model, "--boxes", boxes)
    assert f"boxes file '{boxes}'" in err and message in err
    assert not out.exists()


def test_boxes_keyed_by_stem_or_single_box_still_work(model, tmp_path, capsys):
    image = tmp_path / "one.png"
    cv2.imwrite(str(image), spot_image())
    boxes = tmp_path / "boxes.json"
    for content in ({"one": [[150, 30, 100, 100]]}, [150, 30, 100, 100]):
        boxes.write_text(json.dumps(content))
        assert _predict(image, "--out", tmp_path / "o", "--weights", model, "--boxes", boxes,
                        "--json") == 0
        assert len(json.loads(capsys.readouterr().out)) == 1


def test_pose_model_of_the_wrong_shape_is_named(tmp_path, capsys):
    image = tmp_path / "one.png"
    cv2.imwrite(str(image), spot_image())
    tiny = bright_spot_pose_model(tmp_path / "tiny.onnx", input_size=(4, 4), metadata=False)
    err = _fails(capsys, image, "--out", tmp_path / "out", "--weights", tiny, "--detector",
                 "whole_image")
    assert f"pose model '{tiny}': not a pose model of the expected form" in err
    assert "4x4 is not a multiple of 32" in err
    assert not (tmp_path / "out").exists()


def test_sigterm_during_a_video_leaves_no_temporary_file(model, tmp_path):
    clip = moving_spot_video(tmp_path / "clip.avi", frames=8)
    out = tmp_path / "out"
    # Stall on the third frame (the temporary .mp4 exists by then) until the signal comes.
    code = textwrap.dedent(f"""
        import sys, time
        from lgmpose.video import pipeline as video
        original = video.VideoPipeline.__call__
        calls = []
        def stall(self, image, timestamp=None):
            calls.append(1)
            if len(calls) == 3:
                print("stalled", flush=True)
                time.sleep(60)
            return original(self, image, timestamp)
        video.VideoPipeline.__call__ = stall
        from lgmpose.cli import main
        sys.exit(main(["predict", {str(clip)!r}, "--out", {str(out)!r}, "--weights", {model!r},
                       "--detector", "whole_image", "--no-progress"]))
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "stalled", proc.stderr.read()
        assert [p.name for p in out.iterdir() if p.name.startswith(".clip.")], "no temporary file"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.strip() == "lgmpose predict: terminated"
    assert not out.exists()  # the folder this run made is removed with its temporary file
