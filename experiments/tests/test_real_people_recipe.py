"""The bundled model's recipe on its real data: the committed label files load as the training and
validation sets the config names, and a few iterations of the softmax / cross-entropy recipe run."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from lgmpose.engine import builders
from lgmpose.engine.config import load_config
from lgmpose.engine.config_types import replace

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "experiments" / "configs"
pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture
def recipe(shared_data, monkeypatch):
    monkeypatch.chdir(REPO)        # the label files are named ./labels/... in the config
    cfg = load_config(CONFIGS / "real_people_256x192.yaml")
    return cfg, str(shared_data)


def _labels(name):
    import gzip

    with gzip.open(REPO / "labels" / name, "rt") as handle:
        return json.load(handle)


def test_label_files_build_the_training_and_validation_sets(recipe):
    cfg, root = recipe
    metainfo, codec = builders.build_metainfo(cfg), builders.build_codec(cfg)
    train_set = builders.build_train_dataset(cfg, root, codec, metainfo)
    assert [len(p) for p in train_set.parts] == [8540, 2098, 75]
    val = builders.build_val_dataset(cfg, root, codec, metainfo)
    assert len(val) == 447
    sample = train_set.get_sample(0, np.random.default_rng(0))
    assert sample["image"].shape == (3, 256, 192) and sample["heatmaps"].shape == (17, 64, 48)
    # LSPET has no face points of its own: the teacher's are there for most people
    assert sample["target_weight"].sum() >= 12


def test_validation_people_are_not_training_people(recipe):
    def ids(name):
        return {im["file_name"] for im in _labels(name)["images"]}

    assert not ids("lspet_train.json.gz") & ids("lspet_val.json.gz")
    assert all(int(name[2:7]) % 20 == 0 for name in ids("lspet_val.json.gz"))


def test_bystander_labels_are_other_people_of_training_pictures_only():
    """Stage 7's extra people: the pictures are the training files' own (no validation picture),
    and no bystander is the person the original file labels there."""
    from lgmpose.detectors.boxes import box_iou, xywh_to_xyxy
    from lgmpose.labels.pseudo_label import KNOWN_IOU

    for others, original in (("lspet_train_others.json.gz", "lspet_train_pairfix.json.gz"),
                             ("lspet_train_others_h15.json.gz", "lspet_train_pairfix.json.gz"),
                             ("ccp_others.json.gz", "ccp.json.gz")):
        new, old = _labels(others), _labels(original)
        names = {im["id"]: im["file_name"] for im in old["images"]}
        assert {im["id"]: im["file_name"] for im in new["images"]}.items() <= names.items()
        assert len(new["annotations"]) > 500
        boxes: dict[int, list] = {}
        for ann in old["annotations"]:
            boxes.setdefault(ann["image_id"], []).append(ann["bbox"])
        for ann in new["annotations"]:
            assert ann["num_keypoints"] >= 6
            if ann["image_id"] in boxes:
                iou = box_iou(xywh_to_xyxy(ann["bbox"]), xywh_to_xyxy(boxes[ann["image_id"]]))
                assert iou.max() < KNOWN_IOU
    for others in ("lspet_train_others.json.gz", "lspet_train_others_h15.json.gz"):
        assert not any(int(im["file_name"][2:7]) % 20 == 0 for im in _labels(others)["images"])


def test_stage8_bystanders_hold_no_partial_box_around_the_labelled_person():
    """The stage 8 file was made with the keypoint rule of ``--others-of``: no new person's
    keypoints lie on the labelled person's (the stage 7 file has 142 such repeats)."""
    from lgmpose.labels.entries import Person
    from lgmpose.labels.pseudo_label import _repeats_known

    labelled = {}
    for ann in _labels("lspet_train_pairfix.json.gz")["annotations"]:
        kps = np.asarray(ann["keypoints"], np.float32).reshape(-1, 3)
        labelled[ann["image_id"]] = [Person(np.asarray(ann["bbox"], np.float32), kps[:, :2],
                                            kps[:, 2] > 0)]

    def repeats(name):
        return sum(_repeats_known(ann, labelled.get(ann["image_id"]))
                   for ann in _labels(name)["annotations"])

    assert repeats("lspet_train_others.json.gz") > 100
    assert repeats("lspet_train_others_h15.json.gz") == 0


def test_stage7_adds_the_bystanders_and_the_video_to_stage6s_sources():
    cfg = load_config(CONFIGS / "real_people_256x192_stage7.yaml")
    base = load_config(CONFIGS / "real_people_256x192_stage6.yaml")
    files = [src["ann_file"] for src in cfg.data.train]
    assert files[:3] == [src["ann_file"] for src in base.data.train]
    assert files[3:] == ["./labels/lspet_train_others.json.gz", "./labels/ccp_others.json.gz",
                         "./labels/vtest_every4.json.gz"]
    for name in files:
        assert (REPO / name).is_file(), name
    assert cfg.data.aug["person_occlusion_prob"] == 0.3


def test_stage8_doubles_the_coco_like_people_of_stage7():
    cfg = load_config(CONFIGS / "real_people_256x192_stage8.yaml")
    base = load_config(CONFIGS / "real_people_256x192_stage7.yaml")
    sources = {src["ann_file"]: src for src in cfg.data.train}
    before = {src["ann_file"]: src for src in base.data.train}
    assert set(before) - set(sources) == {"./labels/lspet_train_others.json.gz",
                                          "./labels/vtest_every4.json.gz"}
    assert set(sources) - set(before) == {"./labels/lspet_train_others_h15.json.gz",
                                          "./labels/vtest_every2.json.gz"}
    for name in sources:
        assert (REPO / name).is_file(), name
    for name in set(sources) & set(before):
        assert sources[name] == before[name]
    # every 2nd frame includes stage 7's every 4th, with the same number of people on those
    every2, every4 = _labels("vtest_every2.json.gz"), _labels("vtest_every4.json.gz")

    def people_per_frame(data):
        names = {im["id"]: im["file_name"] for im in data["images"]}
        counts: dict[str, int] = {}
        for ann in data["annotations"]:
            counts[names[ann["image_id"]]] = counts.get(names[ann["image_id"]], 0) + 1
        return names.values(), counts

    frames2, counts2 = people_per_frame(every2)
    frames4, counts4 = people_per_frame(every4)
    assert len(frames2) == 2 * len(frames4) and set(frames4) <= set(frames2)
    assert {name: counts2.get(name, 0) for name in counts4} == counts4
    assert len(_labels("lspet_train_others_h15.json.gz")["annotations"]) > \
        2 * len(_labels("lspet_train_others.json.gz")["annotations"])


def test_stage9_bystanders_are_relabelled_with_the_off_box_rule():
    """Stage 9 swaps stage 8's bystander files for ones made with the rule that drops a teacher
    answer off its detector box; those hold no such answer, stage 8's still do."""
    from lgmpose.labels.merge import share_on_box
    from lgmpose.labels.pseudo_label import ON_BOX_MARGIN, ON_BOX_SHARE

    cfg = load_config(CONFIGS / "real_people_256x192_stage9.yaml")
    base = load_config(CONFIGS / "real_people_256x192_stage8.yaml")
    files = [src["ann_file"] for src in cfg.data.train]
    swapped = {
        "./labels/lspet_train_others_h15.json.gz": "./labels/lspet_train_others_h15_d35.json.gz",
        "./labels/ccp_others.json.gz": "./labels/ccp_others_d35.json.gz"}
    assert files == [swapped.get(src["ann_file"], src["ann_file"]) for src in base.data.train]

    def off_box(name):
        count = 0
        for ann in _labels(name)["annotations"]:
            kps = np.asarray(ann["keypoints"], np.float32).reshape(-1, 3)
            count += share_on_box(kps[:, :2], kps[:, 2] > 0, ann["bbox"], ON_BOX_MARGIN) < \
                ON_BOX_SHARE
        return count

    for old, new in swapped.items():
        assert (REPO / new).is_file()
        assert off_box(old.removeprefix("./labels/")) > 50
        assert off_box(new.removeprefix("./labels/")) == 0
    assert len(_labels("lspet_train_others_h15_d35.json.gz")["annotations"]) > 6000


def test_a_few_iterations_of_the_recipe_run(recipe, tmp_path):
    from lgmpose.engine.train import train

    cfg, root = recipe
    cfg = replace(cfg, data=replace(cfg.data, workers=0),
                  train=replace(cfg.train, epochs=1, max_iters_per_epoch=2, batch_size=4,
                                val_interval=0, warmup_iters=1))
    summary = train(cfg, tmp_path / "run", data_root=root, progress=False)
    record = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])
    # cross-entropy over a 64x48 map starts near log(3072) = 8.03
    assert 6.0 < record["loss"] < 9.0 and record["iters"] == 2
    assert summary["model"].model_config["heatmap_norm"] == "softmax"
    assert os.path.isfile(tmp_path / "run" / "last.pt")
