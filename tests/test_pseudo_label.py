"""Pseudo-labelling: the merge rules, the COCO-format output, resume, and a real teacher run."""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from lgmpose.data.metainfo import load_metainfo
from lgmpose.errors import LgmposeError
from lgmpose.labels import box_from_keypoints, merge_labels
from lgmpose.labels.entries import (Entry, Person, coco_entries, other_people_entries,
                                    video_entries)
from lgmpose.labels.pseudo_label import pseudo_label

COCO = load_metainfo("coco")


def _standing_person(x0=100.0, y0=50.0, scale=1.0):
    """COCO-17 keypoints of an upright person facing the camera (their left is image right)."""
    pts = {0: (50, 10), 1: (54, 6), 2: (46, 6), 3: (58, 8), 4: (42, 8), 5: (65, 30), 6: (35, 30),
           7: (70, 55), 8: (30, 55), 9: (72, 80), 10: (28, 80), 11: (60, 90), 12: (40, 90),
           13: (61, 130), 14: (39, 130), 15: (62, 170), 16: (38, 170)}
    return np.array([[x0 + scale * x, y0 + scale * y] for x, y in
                     (pts[i] for i in range(17))], np.float32)


def test_ground_truth_kept_teacher_fills_the_rest_below_threshold_dropped():
    teacher = _standing_person() + 1.5
    scores = np.full(17, 0.8, np.float32)
    scores[[3, 4]] = 0.1                      # ears: teacher not confident
    gt = _standing_person()
    labelled = np.zeros(17, bool)
    labelled[5:] = True                       # body joints labelled, face not (like LSPET)
    merged = merge_labels(gt, labelled, teacher, scores, COCO.flip_pairs, kpt_thr=0.3, size=170)
    np.testing.assert_allclose(merged.keypoints[5:], gt[5:])          # GT kept as it is
    np.testing.assert_allclose(merged.keypoints[:3], teacher[:3])     # nose, eyes from teacher
    assert merged.labelled.tolist() == [True] * 3 + [False] * 2 + [True] * 12
    assert merged.from_teacher.tolist() == [True] * 3 + [False] * 14
    np.testing.assert_allclose(merged.scores[5:], 1.0)
    np.testing.assert_allclose(merged.keypoints[3:5], 0.0)
    assert not merged.swapped


def test_labels_with_every_pair_swapped_are_swapped_back():
    teacher = _standing_person()
    scores = np.full(17, 0.9, np.float32)
    order = np.arange(17)
    for a, b in COCO.flip_pairs:
        order[a], order[b] = b, a
    gt = teacher[order] + 2.0                 # the labeller mixed up left and right throughout
    labelled = np.ones(17, bool)
    labelled[:5] = False
    merged = merge_labels(gt, labelled, teacher, scores, COCO.flip_pairs, size=170)
    assert merged.swapped and merged.pairs_checked == 6
    np.testing.assert_allclose(merged.keypoints[5:], teacher[5:] + 2.0)


def test_a_single_crossed_pair_takes_the_confident_teachers_left_and_right():
    teacher = _standing_person()
    scores = np.full(17, 0.9, np.float32)
    gt = teacher.copy() + 1.0
    gt[[9, 10]] = gt[[10, 9]]                 # only the wrists cross the teacher
    labelled = np.ones(17, bool)
    merged = merge_labels(gt, labelled, teacher, scores, COCO.flip_pairs, size=170,
                          fix_pairs=True)
    assert not merged.swapped                 # not the whole person: rule 3 does not fire
    assert merged.pairs_swapped == 1
    np.testing.assert_allclose(merged.keypoints, teacher + 1.0)   # positions are the labels'
    # the rule is off by default (curated labels are trusted), and needs a confident teacher
    kept = merge_labels(gt, labelled, teacher, scores, COCO.flip_pairs, size=170)
    np.testing.assert_allclose(kept.keypoints, gt)
    unsure = scores.copy()
    unsure[9] = 0.35                          # above kpt_thr, below the pair rule's 0.4
    kept = merge_labels(gt, labelled, teacher, unsure, COCO.flip_pairs, size=170,
                        fix_pairs=True)
    assert kept.pairs_swapped == 0
    np.testing.assert_allclose(kept.keypoints, gt)


def test_remerge_applies_the_rules_to_a_stored_file_and_is_idempotent(tmp_path):
    from lgmpose.labels.pseudo_label import remerge

    teacher = _standing_person()
    gt = teacher + 1.0
    gt[[13, 14]] = gt[[14, 13]]               # knees crossed, as an older file kept them
    triples = np.concatenate([gt, np.full((17, 1), 2.0)], 1)
    triples[:5] = [teacher[0, 0], teacher[0, 1], 2.0]   # face: from the teacher
    scores = [0.9] * 5 + [1.0] * 12
    ann = {"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0, "bbox": [130, 40, 50, 190],
           "area": 9500.0, "num_keypoints": 17, "keypoints": triples.reshape(-1).tolist(),
           "keypoint_scores": scores, "from_ground_truth": 12, "lr_swapped": False,
           "teacher_keypoints": np.concatenate([teacher, np.full((17, 1), 0.9)], 1)
           .reshape(-1).tolist()}
    data = {"info": {"description": "old"}, "images": [{"id": 7, "file_name": "a.jpg"}],
            "annotations": [ann], "categories": []}
    src = tmp_path / "old.json"
    src.write_text(json.dumps(data))
    once, twice = tmp_path / "once.json", tmp_path / "twice.json"
    summary = remerge(src, once, fix_pairs=True)
    assert summary["persons"] == 1 and summary["pairs_swapped"] == 1
    fixed = np.asarray(json.loads(once.read_text())["annotations"][0]["keypoints"]).reshape(17, 3)
    np.testing.assert_allclose(fixed[13:15, :2], teacher[13:15] + 1.0, atol=0.01)
    remerge(once, twice, fix_pairs=True)
    again = json.loads(twice.read_text())["annotations"][0]
    np.testing.assert_allclose(again["keypoints"], fixed.reshape(-1))
    assert again["pairs_swapped"] == 1        # counted once, not again


def test_rescale_box_about_its_centre_and_shifted_down():
    from lgmpose.errors import LgmposeError
    from lgmpose.labels.pseudo_label import rescale_box

    # centre (110, 150) -> (110, 150 + 0.05 * 200); size 40 x 200 -> 20 x 180
    assert rescale_box([90, 50, 40, 200], 0.5, 0.9, 0.05) == [100.0, 70.0, 20.0, 180.0]
    assert rescale_box([90, 50, 40, 200], 1, 1, 0) == [90.0, 50.0, 40.0, 200.0]
    with pytest.raises(LgmposeError, match="positive"):
        rescale_box([0, 0, 10, 10], 0, 1, 0)


def test_remerge_rescales_boxes_and_keeps_keypoints_and_area(tmp_path):
    from lgmpose.labels.pseudo_label import remerge

    teacher = _standing_person()
    triples = np.concatenate([teacher, np.full((17, 1), 2.0)], 1)
    ann = {"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0, "bbox": [130, 40, 50, 190],
           "area": 9500.0, "num_keypoints": 17, "keypoints": triples.reshape(-1).tolist(),
           "keypoint_scores": [1.0] * 17, "from_ground_truth": 17, "lr_swapped": False,
           "teacher_keypoints": np.concatenate([teacher, np.full((17, 1), 0.9)], 1)
           .reshape(-1).tolist()}
    src, out = tmp_path / "old.json", tmp_path / "new.json"
    src.write_text(json.dumps({"images": [{"id": 7, "file_name": "a.jpg"}], "categories": [],
                               "annotations": [ann]}))
    remerge(src, out, box_rescale=(0.945, 0.908, 0.039))
    data = json.loads(out.read_text())
    new = data["annotations"][0]
    cy = 40 + 95 + 0.039 * 190
    np.testing.assert_allclose(new["bbox"], [155 - 0.945 * 25, cy - 0.908 * 95, 0.945 * 50,
                                             0.908 * 190], atol=0.01)
    assert new["area"] == 9500.0
    np.testing.assert_allclose(new["keypoints"], triples.reshape(-1), atol=0.01)
    assert "boxes rescaled" in data["info"]["description"]


def test_remerge_refuses_a_file_without_teacher_answers(tmp_path):
    from lgmpose.errors import LgmposeError
    from lgmpose.labels.pseudo_label import remerge

    src = tmp_path / "plain.json"
    src.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}], "categories": [],
                               "annotations": [{"id": 1, "image_id": 1, "bbox": [0, 0, 9, 9],
                                                "keypoints": [0] * 51}]}))
    with pytest.raises(LgmposeError, match="plain.json.*teacher_keypoints"):
        remerge(src, tmp_path / "out.json")


def test_box_from_body_keypoints_adds_head_and_feet_margins():
    kps = _standing_person(x0=0, y0=0)
    labelled = np.ones(17, bool)
    box = box_from_keypoints(kps, labelled)
    # body extent: x 28..72 (w 44), y 30..170 (h 140)
    np.testing.assert_allclose(box, [28 - 0.15 * 44, 30 - 0.26 * 140, 44 * 1.3, 140 * 1.39],
                               rtol=1e-5)
    clipped = box_from_keypoints(kps, labelled, image_size=(160, 60))
    assert clipped[0] >= 0 and clipped[1] >= 0
    assert clipped[0] + clipped[2] <= 59 and clipped[1] + clipped[3] <= 159
    assert box_from_keypoints(kps, np.eye(17, dtype=bool)[0]) is None


def _fake_teacher(truth):
    def teacher(image, box):
        return truth.copy(), np.full(17, 0.9, np.float32)
    return teacher


def _write_images(folder, n):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i:03d}.jpg"), np.full((240, 200, 3), 60 + i, np.uint8))


def test_output_is_coco_format_and_an_interrupted_run_resumes(tmp_path):
    from pycocotools.coco import COCO as CocoApi

    _write_images(tmp_path / "img", 4)
    (tmp_path / "img" / "002.jpg").write_bytes(b"not a jpeg")
    truth = _standing_person(x0=20, y0=20)
    gt = truth.copy()
    labelled = np.ones(17, bool)
    labelled[:5] = False
    entries = [Entry(tmp_path / "img" / f"{i:03d}.jpg", f"{i:03d}.jpg", i + 1,
                     [Person(np.array([20, 20, 100, 180], np.float32), gt, labelled)])
               for i in range(4)]
    out = tmp_path / "labels.json"

    class Interrupt(Exception):
        pass

    calls = {"n": 0}

    def flaky_teacher(image, box):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Interrupt
        return truth.copy(), np.full(17, 0.9, np.float32)

    with pytest.raises(Interrupt):
        pseudo_label(entries, flaky_teacher, out, progress=False)
    assert not out.exists()                                   # nothing half-written
    summary = pseudo_label(entries, flaky_teacher, out, resume=True, progress=False)
    assert calls["n"] == 4                                    # image 1 not labelled twice
    assert summary["images"] == 3 and summary["persons"] == 3 and summary["skipped_images"] == 1
    assert "002.jpg" in summary["skipped_files"][0]
    api = CocoApi(str(out))
    ann = api.loadAnns(api.getAnnIds())[0]
    kps = np.asarray(ann["keypoints"]).reshape(17, 3)
    assert (kps[:, 2] == 2).all() and ann["num_keypoints"] == 17
    np.testing.assert_allclose(kps[:5, :2], truth[:5], atol=0.01)
    assert ann["keypoint_scores"][:5] == [0.9] * 5 and ann["keypoint_scores"][5:] == [1.0] * 12
    assert not (tmp_path / "labels.json.partial.jsonl").exists()


def test_other_people_of_a_label_file_skip_the_people_it_holds(tmp_path):
    """A detection overlapping a labelled person, or one whose keypoints land on theirs (a box
    around part of them), is that person; the others are labelled, under the label file's own
    image ids and names."""
    _write_images(tmp_path / "img", 2)
    labelled_box = [20.0, 20.0, 100.0, 180.0]
    labelled = _standing_person(x0=20, y0=20)
    triples = np.concatenate([labelled, np.full((17, 1), 2.0)], axis=1)
    (tmp_path / "old.json").write_text(json.dumps({
        "images": [{"id": 7, "file_name": "000.jpg"}, {"id": 9, "file_name": "001.jpg"}],
        "annotations": [{"id": 1, "image_id": 7, "bbox": labelled_box,
                         "keypoints": triples.reshape(-1).tolist()}],
        "categories": [{"id": 1, "name": "person"}]}))
    entries = list(other_people_entries(tmp_path / "old.json", tmp_path / "img"))
    assert [(e.image_id, e.file_name) for e in entries] == [(7, "000.jpg"), (9, "001.jpg")]
    assert entries[0].known[0].box.tolist() == labelled_box and entries[1].known == []
    np.testing.assert_allclose(entries[0].known[0].keypoints, labelled)

    def detector(image):
        # the labelled person again (a slightly larger box, and a thin tall box around their
        # joints only: IoU 0.38) and a second person beside them
        return (np.array([[15, 18, 110, 190], [47, 0, 44, 240], [130, 40, 60, 150]], np.float32),
                np.array([0.9, 0.9, 0.8], np.float32))

    other = _standing_person(x0=140, y0=45, scale=0.8)

    def teacher(image, box):
        return (other if box[0] >= 125 else labelled).copy(), np.full(17, 0.9, np.float32)

    out = tmp_path / "others.json"
    summary = pseudo_label(entries, teacher, out, detector=detector, progress=False)
    result = json.loads(out.read_text())
    per_image = {}
    for a in result["annotations"]:
        per_image.setdefault(a["image_id"], []).append(a["bbox"])
    assert per_image[7] == [[130.0, 40.0, 60.0, 150.0]]       # only the new person
    assert len(per_image[9]) == 3                               # nobody known there
    assert summary["persons"] == 4 and summary["dropped_persons"] == 1


def test_a_teacher_answer_off_the_detectors_box_is_dropped(tmp_path):
    """On a box around a half-hidden person the teacher may answer with a more visible neighbour;
    such a teacher-only label (under 80% of its keypoints on its box) is dropped, here and when a
    stored file is re-merged. Ground-truth people keep their labels whatever the teacher says."""
    from lgmpose.labels.pseudo_label import remerge

    _write_images(tmp_path / "img", 1)
    person = _standing_person(x0=20, y0=20)
    neighbour = _standing_person(x0=110, y0=20)            # overlaps the box's right half only

    def detector(image):
        return np.array([[20, 20, 100, 180]], np.float32), np.array([0.9], np.float32)

    entry = Entry(tmp_path / "img" / "000.jpg", "000.jpg", 1)
    for answer, kept in ((person, 1), (neighbour, 0)):
        out = tmp_path / f"labels_{kept}.json"
        summary = pseudo_label([entry], _fake_teacher(answer), out, detector=detector,
                               progress=False)
        assert (summary["persons"], summary["dropped_persons"]) == (kept, 1 - kept)
    labelled = np.ones(17, bool)
    with_truth = Entry(entry.image_file, "000.jpg", 1,
                       [Person(np.array([20, 20, 100, 180], np.float32), person, labelled)])
    assert pseudo_label([with_truth], _fake_teacher(neighbour), tmp_path / "gt.json",
                        progress=False)["persons"] == 1
    # a file written before the rule: re-merging drops the off-box person, keeps the other
    kept = json.loads((tmp_path / "labels_1.json").read_text())
    off = dict(kept["annotations"][0], id=2,
               keypoints=np.concatenate([neighbour, np.full((17, 1), 2.0)], 1).reshape(-1).tolist(),
               teacher_keypoints=np.concatenate([neighbour, np.full((17, 1), 0.9)], 1)
               .reshape(-1).tolist())
    kept["annotations"].append(off)
    (tmp_path / "old.json").write_text(json.dumps(kept))
    summary = remerge(tmp_path / "old.json", tmp_path / "new.json")
    assert (summary["persons"], summary["dropped_persons"]) == (1, 1)


def test_video_frames_are_written_and_labelled(tmp_path):
    video = tmp_path / "walk.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for i in range(7):
        writer.write(np.full((120, 160, 3), 30 * i, np.uint8))
    writer.release()
    entries = list(video_entries(video, tmp_path / "frames", every=3))
    assert [e.file_name for e in entries] == ["walk_000000.jpg", "walk_000003.jpg",
                                              "walk_000006.jpg"]
    assert [e.image_id for e in entries] == [1, 4, 7]
    frame = cv2.imread(str(entries[1].image_file))
    assert frame.shape == (120, 160, 3) and abs(float(frame.mean()) - 90) < 3
    stamp = entries[0].image_file.stat().st_mtime_ns
    assert len(list(video_entries(video, tmp_path / "frames", every=3))) == 3
    assert entries[0].image_file.stat().st_mtime_ns == stamp     # kept, not written again
    with pytest.raises(LgmposeError, match="every"):
        list(video_entries(video, tmp_path / "frames", every=0))
    with pytest.raises(LgmposeError, match="not a video"):
        list(video_entries(entries[0].image_file, tmp_path / "frames"))


def test_coco_source_keeps_gt_boxes(shared_data):
    ann = shared_data / "coco-mini/annotations/person_keypoints_train2017.json"
    entries = list(coco_entries(ann, shared_data / "coco-mini/train2017"))
    assert len(entries) >= 20
    person = entries[0].persons[0]
    assert person.keep_box and person.keypoints.shape == (17, 2)


def test_cli_with_movenet_lightning_teacher(shared_data, tmp_path):
    """The real TFLite teacher on a few real COCO people: its face keypoints land near the truth."""
    pytest.importorskip("ai_edge_litert")
    teacher = shared_data / "peers/movenet_singlepose_lightning_int8.tflite"
    src = json.loads((shared_data / "coco-mini/annotations/person_keypoints_train2017.json")
                     .read_text())
    keep = sorted({a["image_id"] for a in src["annotations"]
                   if a["num_keypoints"] >= 10 and not a["iscrowd"]})[:6]
    src["images"] = [im for im in src["images"] if im["id"] in keep]
    src["annotations"] = [a for a in src["annotations"] if a["image_id"] in keep]
    # hide the face points of the ground truth: the teacher must fill them
    truth = {}
    for a in src["annotations"]:
        kps = np.asarray(a["keypoints"], np.float32).reshape(17, 3)
        truth[a["id"]] = kps.copy()
        kps[:5] = 0
        a["keypoints"] = kps.reshape(-1).tolist()
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(src))
    out = tmp_path / "pl.json"
    proc = subprocess.run([sys.executable, "-m", "lgmpose", "pseudo-label", "--teacher",
                           str(teacher), "--coco", str(ann), "--images",
                           str(shared_data / "coco-mini/train2017"), "--out", str(out),
                           "--no-progress", "--min-keypoints", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["info"]["images"] == 6
    boxes = {tuple(np.round(a["bbox"], 1)): a["id"] for a in src["annotations"]}
    errors = []
    for a in result["annotations"]:
        kps = np.asarray(a["keypoints"]).reshape(17, 3)
        hidden = truth[boxes[tuple(np.round(a["bbox"], 1))]]     # GT boxes are kept
        np.testing.assert_allclose(kps[5:][hidden[5:, 2] > 0, :2],
                                   hidden[5:][hidden[5:, 2] > 0, :2], atol=0.01)
        both = (kps[:5, 2] > 0) & (hidden[:5, 2] > 0)
        size = max(a["bbox"][2], a["bbox"][3])
        errors += list(np.linalg.norm(kps[:5][both, :2] - hidden[:5][both, :2], axis=1) / size)
    assert len(errors) >= 10                                   # face points were filled ...
    assert np.median(errors) < 0.05                            # ... close to the hidden truth


def test_cli_labels_a_videos_pedestrians(shared_data, tmp_path):
    """`--video`: the frames are written where the labels say, and the detector's people get the
    teacher's keypoints inside their boxes."""
    pytest.importorskip("ai_edge_litert")
    teacher = shared_data / "peers/movenet_singlepose_lightning_int8.tflite"
    out, frames = tmp_path / "video.json", tmp_path / "frames"
    proc = subprocess.run([sys.executable, "-m", "lgmpose", "pseudo-label", "--teacher",
                           str(teacher), "--video", str(shared_data / "media/vtest.avi"),
                           "--every", "200", "--images", str(frames), "--detector", "nanodet",
                           "--min-height", "0.1", "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert [im["file_name"] for im in result["images"]] == [
        f"vtest_{i:06d}.jpg" for i in (0, 200, 400, 600)]
    assert all((frames / im["file_name"]).is_file() for im in result["images"])
    assert len(result["annotations"]) >= 4                   # several pedestrians per frame
    for ann in result["annotations"]:
        x, y, w, h = ann["bbox"]
        kps = np.asarray(ann["keypoints"]).reshape(17, 3)
        inside = kps[kps[:, 2] > 0, :2]
        assert len(inside) >= 6
        assert ((inside >= [x - 0.25 * w, y - 0.25 * h]) &
                (inside <= [x + 1.25 * w, y + 1.25 * h])).all()


def test_cli_needs_a_teacher_except_to_remerge(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lgmpose", "pseudo-label", "--coco", "a.json",
                           "--out", str(tmp_path / "x.json")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "--teacher and --images are needed" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "lgmpose", "pseudo-label", "--remerge",
                           str(tmp_path / "missing.json.gz"), "--out", str(tmp_path / "x.json")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "missing.json.gz" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "lgmpose", "pseudo-label", "--coco", "a.json",
                           "--box-rescale", "1", "1", "0", "--out", str(tmp_path / "x.json")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "only applies with --remerge" in proc.stderr


def _mpii_record(name: str, validation: bool, joints16: np.ndarray) -> dict:
    """An MPII person record (1-based pixels, unlabelled joints at 0, 0)."""
    joint_self = [[float(x) + 1, float(y) + 1, 1.0] for x, y in joints16]
    for j, (x, y) in enumerate(joints16):
        if x == 0 and y == 0:
            joint_self[j] = [0.0, 0.0, 0.0]
    return {"img_paths": name, "isValidation": float(validation), "objpos": [100, 100],
            "scale_provided": 1.0, "joint_self": joint_self}


def test_mpii_people_map_their_body_joints_to_coco_and_keep_the_split(tmp_path):
    from lgmpose.labels.entries import mpii_entries

    person = _standing_person()
    # MPII order: r ankle, r knee, r hip, l hip, l knee, l ankle, pelvis, thorax, upper neck,
    # head top, r wrist, r elbow, r shoulder, l shoulder, l elbow, l wrist
    coco_of = [16, 14, 12, 11, 13, 15, None, None, None, None, 10, 8, 6, 5, 7, 9]
    joints = np.array([person[c] if c is not None else (0, 0) for c in coco_of], np.float32)
    joints[8], joints[9] = (150, 35), (150, 5)                 # upper neck, head top
    joints[15] = (0, 0)                                        # left wrist not annotated
    _write_images(tmp_path / "img", 1)
    (tmp_path / "img" / "000000001.jpg").write_bytes((tmp_path / "img" / "000.jpg").read_bytes())
    records = [_mpii_record("000000001.jpg", False, joints),
               _mpii_record("000000001.jpg", True, joints),
               _mpii_record("000000002.jpg", False, joints)]      # its picture is absent
    (tmp_path / "mpii.json").write_text(json.dumps(records))
    with pytest.warns(UserWarning, match="1 pictures"):
        train = list(mpii_entries(tmp_path / "mpii.json", tmp_path / "img", "train"))
    assert [(e.file_name, e.image_id, len(e.persons)) for e in train] == [("000000001.jpg", 1, 1)]
    got = train[0].persons[0]
    expected = np.zeros(17, bool)
    expected[5:] = True
    expected[9] = False                                        # the left wrist
    np.testing.assert_array_equal(got.labelled, expected)
    np.testing.assert_allclose(got.keypoints[expected], person[expected], atol=1e-4)
    assert not got.keep_box
    x, y, w, h = got.box
    assert y < 5 and y + h > person[:, 1].max()                # the head top is in the box
    with pytest.warns(UserWarning):
        both = list(mpii_entries(tmp_path / "mpii.json", tmp_path / "img"))
    assert len(both[0].persons) == 2
    with pytest.raises(LgmposeError, match="split"):
        list(mpii_entries(tmp_path / "mpii.json", tmp_path / "img", "test"))
    (tmp_path / "bad.json").write_text(json.dumps([{"img_paths": "000000001.jpg"}]))
    with pytest.raises(LgmposeError, match="bad.json.*record 0"):
        list(mpii_entries(tmp_path / "bad.json", tmp_path / "img"))
