"""The bad inputs where users lost work or trust: an output folder that cannot be made, a video cut
short, an unreadable picture in a folder, a reused --out, a gigantic picture, keypoint scores over
1, empty folders left by errors, zero threads. Each gets one line naming the problem, a non-zero
exit and nothing partial that looks complete."""
from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference_fakes import bright_spot_pose_model, moving_spot_video, spot_image
from lgmpose.cli import main


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(bright_spot_pose_model(tmp_path_factory.mktemp("m") / "spot.onnx"))


def _predict(model, *args):
    return main(["predict", *map(str, args), "--weights", model, "--detector", "whole_image",
                 "--no-progress"])


def _one_error_line(capsys, *words):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    for word in words:
        assert word in err[0], err[0]
    return err[0]


def test_output_folder_that_cannot_be_made_fails_before_inference(model, tmp_path, capsys,
                                                                    monkeypatch):
    picture = tmp_path / "a.png"
    cv2.imwrite(str(picture), spot_image())
    blocker = tmp_path / "file"
    blocker.write_text("x")
    calls = []
    from lgmpose.inference import estimator as estimator_module

    monkeypatch.setattr(estimator_module.PoseEstimator, "estimate",
                        lambda *a, **k: calls.append(1))
    assert _predict(model, picture, "--out", blocker / "sub" / "out") == 2
    _one_error_line(capsys, "--out", str(blocker))
    assert calls == []


def test_unwritable_output_folder_is_one_line(model, tmp_path, capsys, monkeypatch):
    picture = tmp_path / "a.png"
    cv2.imwrite(str(picture), spot_image())

    def refuse(self, *args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    assert _predict(model, picture, "--out", tmp_path / "new" / "out") == 2
    _one_error_line(capsys, "cannot create the folder", "new")


def test_export_and_train_name_an_impossible_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["export", "lgm_pose", "--random-weights", "--output",
                 str(blocker / "m.onnx")])
    assert code == 2
    _one_error_line(capsys, "--output", str(blocker))
    config = Path(__file__).resolve().parents[1] / "configs" / "coco_mini_256x192.yaml"
    code = main(["train", str(config), "--work-dir", str(blocker / "run")])
    assert code == 2
    _one_error_line(capsys, "--work-dir", str(blocker))


def _cut_video(path, frames=30, keep=0.5):
    moving_spot_video(path, frames=frames)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    announced = int(cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT))
    return announced


def test_video_cut_short_is_reported_in_the_summary_json_and_exit_status(model, tmp_path,
                                                                          capsys):
    clip = tmp_path / "clip.avi"
    announced = _cut_video(clip)
    assert announced == 30  # the header still announces every frame
    out = tmp_path / "out"
    assert _predict(model, clip, "--out", out) == 1
    captured = capsys.readouterr()
    assert f"of {announced} announced frame(s) (ended early)" in captured.out
    assert f"of the {announced} frames its header announces" in captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ended_early"] is True
    assert summary["frames_announced"] == announced
    assert 0 < summary["frames"] < announced


def test_whole_video_is_not_flagged(model, tmp_path, capsys):
    clip = moving_spot_video(tmp_path / "clip.avi", frames=10)
    out = tmp_path / "out"
    assert _predict(model, clip, "--out", out) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == summary["frames_announced"] == 10
    assert summary["ended_early"] is False


def test_folder_skips_and_counts_an_unreadable_picture(model, tmp_path, capsys):
    src = tmp_path / "pics"
    src.mkdir()
    for i in range(3):
        cv2.imwrite(str(src / f"{i}.png"), spot_image(spot=(60 + 10 * i, 80)))
    (src / "3.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "out"
    assert _predict(model, src, "--out", out) == 1
    captured = capsys.readouterr()
    assert "1 unreadable picture(s) skipped" in captured.out
    assert "3.jpg" in captured.err and "skipped 1 of 4 pictures" in captured.err
    results = json.loads((out / "results.json").read_text())
    assert {r["file_name"] for r in results} == {"0.png", "1.png", "2.png"}
    summary = json.loads((out / "summary.json").read_text())
    assert [s["file"] for s in summary["skipped"]] == ["3.jpg"]
    assert summary["frames"] == 3


def test_folder_of_only_unreadable_pictures_is_an_error_and_leaves_nothing(model, tmp_path,
                                                                           capsys):
    src = tmp_path / "pics"
    src.mkdir()
    (src / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "out"
    assert _predict(model, src, "--out", out) == 2
    assert "none of its 1 pictures could be read" in capsys.readouterr().err
    assert not out.exists()


def test_reused_out_keeps_no_stale_pictures(model, tmp_path, capsys):
    src = tmp_path / "pics"
    src.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(src / name), spot_image())
    out = tmp_path / "out"
    assert _predict(model, src, "--out", out) == 0
    (src / "b.png").unlink()
    (out / "mine.txt").write_text("a user's own file")
    assert _predict(model, src, "--out", out) == 0
    assert "removed 1 file(s)" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "mine.txt", "results.json",
                                                     "summary.json"]


def _png_header_only(width, height):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def test_gigantic_picture_is_refused_from_its_header(model, tmp_path, capsys):
    picture = tmp_path / "huge.png"
    picture.write_bytes(_png_header_only(20000, 20000))
    out = tmp_path / "out"
    assert _predict(model, picture, "--out", out) == 2
    _one_error_line(capsys, "20000x20000", "--max-megapixels", str(picture))
    assert not out.exists()


def test_keypoint_scores_are_probabilities(model, tmp_path, monkeypatch):
    from lgmpose.inference.estimator import PoseEstimator

    estimator = PoseEstimator(model, detector="whole_image")
    decode = estimator.codec.decode
    monkeypatch.setattr(estimator.codec, "decode",
                        lambda heatmaps: (decode(heatmaps)[0], 1.6 * decode(heatmaps)[1] + 0.1))
    people = estimator(spot_image())
    assert people and all(0.0 <= s <= 1.0 for p in people for s in p.scores)
    assert all(0.0 <= s <= 1.0 for s in people[0].to_coco(0)["keypoints"][2::3])


def test_errors_and_interrupts_leave_no_empty_output_folder(model, tmp_path, capsys):
    clip = moving_spot_video(tmp_path / "clip.avi", frames=4)
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([[1000, 1000, 10, 10]]))  # outside the video
    out = tmp_path / "new" / "out"
    assert _predict(model, clip, "--out", out, "--boxes", boxes) == 2
    assert "outside" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("option", ["--threads", "--det-every", "--max-megapixels"])
def test_zero_is_refused(model, tmp_path, capsys, option):
    picture = tmp_path / "a.png"
    cv2.imwrite(str(picture), spot_image())
    with pytest.raises(SystemExit) as exit_:
        _predict(model, picture, "--out", tmp_path / "out", option, "0")
    assert exit_.value.code == 2
    assert option in capsys.readouterr().err
