"""LSP / LSPET as COCO-17: both mat layouts on a tiny fixture written here, the split rule, the
COCO export, mixed training sources through the builders, bad files, and the real LSPET."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.io import savemat

from lgmpose.data.lsp import LSP_TO_COCO, LspDataset, in_split, load_lsp, lsp_pck, lsp_to_coco
from lgmpose.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from lgmpose.errors import LgmposeError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_coco import write_config, write_dataset  # noqa: E402

N = 20            # entries; image 20 is the only one in the held-out split
MISSING = 3       # the entry without an image
H, W = 120, 100
# a person facing the camera, LSP joint order (x, y)
POSE = np.array([
    [40, 105], [41, 85], [42, 65], [58, 65], [59, 85], [60, 105],    # r ankle .. l ankle
    [28, 62], [32, 48], [40, 35], [60, 35], [68, 48], [72, 62],      # r wrist .. l wrist
    [50, 30], [50, 12],                                              # neck, head top
], dtype=np.float64)
L_WRIST, R_WRIST, L_ELBOW, R_KNEE = 11, 6, 10, 1   # LSP indices
COCO_L_WRIST, COCO_R_WRIST, COCO_L_ELBOW, COCO_R_KNEE = 9, 10, 7, 14
RED, GREEN = (0, 0, 255), (0, 255, 0)              # BGR
LOGGER = "lgmpose.data.lsp"


def _pose(n: int) -> np.ndarray:
    return POSE + [(n % 3 - 1) * 5.0, 0.0]


def _write(root: Path, layout: str) -> tuple[Path, Path]:
    """``root/joints.mat`` in the LSPET (14 x 3 x N, visible flag) or LSP (3 x 14 x N, occlusion
    flag) layout and ``root/images`` (every image but number MISSING)."""
    images = root / "images"
    images.mkdir(parents=True)
    joints = np.zeros((N, 14, 3))
    for i in range(N):
        number = i + 1
        pose = _pose(number)
        if layout == "lspet":
            flag = np.ones(14)
            flag[L_ELBOW] = 0                      # unlabelled: junk position, as in LSPET
            pose = pose.copy()
            pose[L_ELBOW] = [-40.5, -12.25]
        else:
            flag = np.zeros(14)
            flag[R_KNEE] = 1                       # occluded but labelled
        joints[i, :, :2], joints[i, :, 2] = pose, flag
        if number == MISSING:
            continue
        canvas = np.full((H, W, 3), 30, np.uint8)
        cv2.circle(canvas, tuple(int(v) for v in pose[L_WRIST]), 4, RED, -1)
        cv2.circle(canvas, tuple(int(v) for v in pose[R_WRIST]), 4, GREEN, -1)
        name = f"im{number:05d}.jpg" if layout == "lspet" else f"im{number:04d}.jpg"
        cv2.imwrite(str(images / name), canvas, [cv2.IMWRITE_JPEG_QUALITY, 100])
    array = joints.transpose(1, 2, 0) if layout == "lspet" else joints.transpose(2, 1, 0)
    mat = root / "joints.mat"
    savemat(str(mat), {"joints": array})
    return mat, images


@pytest.fixture(params=["lspet", "lsp"])
def lsp_set(request, tmp_path):
    mat, images = _write(tmp_path / request.param, request.param)
    return request.param, mat, images


def _rgb_at(sample: dict, point) -> np.ndarray:
    x, y = (int(round(v)) for v in point)
    pixel = sample["image"][:, y, x]
    return pixel * np.asarray(IMAGENET_STD) + np.asarray(IMAGENET_MEAN)


def test_layouts_mapping_and_missing_image_counted_once(lsp_set, caplog):
    layout, mat, images = lsp_set
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        records = load_lsp(mat, images)
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert messages == [f"{layout.upper()}: 1 of {N} entries have no image in {images}; skipped"]
    assert records.layout == layout and (records.total, records.missing) == (N, 1)
    assert len(records) == N - 1 and MISSING not in [r["image_id"] for r in records]
    train = load_lsp(mat, images, split="train")
    assert (train.total, train.missing, len(train)) == (N - 1, 1, N - 2)
    first = records[0]
    assert first["image_id"] == 1 and first["image_file"] == images / first["image_file"].name
    pose = _pose(1)
    for lsp_index, coco_index in enumerate(LSP_TO_COCO):
        if coco_index < 0 or (layout == "lspet" and lsp_index == L_ELBOW):
            continue
        np.testing.assert_allclose(first["keypoints17"][coco_index], pose[lsp_index])
        assert first["visible17"][coco_index] == 1
    assert not first["visible17"][:5].any()          # no face points
    if layout == "lspet":                           # visible flag 0: unlabelled, junk dropped
        assert first["visible17"][COCO_L_ELBOW] == 0
        np.testing.assert_array_equal(first["keypoints17"][COCO_L_ELBOW], 0)
    else:                                           # occluded: still labelled
        assert first["visible17"][COCO_R_KNEE] == 1
    assert first["visible17"].sum() == (11 if layout == "lspet" else 12)
    # the box holds every labelled joint (head top and neck included) with a margin
    x, y, w, h = first["bbox"]
    labelled = pose[first["labelled14"]]
    assert (labelled[:, 0] > x).all() and (labelled[:, 0] < x + w).all()
    assert (labelled[:, 1] > y).all() and (labelled[:, 1] < y + h).all()
    assert y < pose[13, 1] - 5                      # room above the head top


def test_sample_puts_the_joints_at_their_coco_index_in_the_crop(lsp_set):
    layout, mat, images = lsp_set
    dataset = LspDataset(mat, images, input_size=(128, 96))
    assert len(dataset) == N - 1 and dataset.num_missing == 1
    sample = dataset[0]
    assert sample["image"].shape == (3, 128, 96) and sample["heatmaps"].shape == (17, 32, 24)
    assert sample["image_id"] == 1 and sample["ann_id"] == 1
    # the red disc is the left wrist, the green one the right wrist
    red = _rgb_at(sample, sample["keypoints"][COCO_L_WRIST])
    green = _rgb_at(sample, sample["keypoints"][COCO_R_WRIST])
    assert red[0] > 180 and red[1] < 80 and red[2] < 80, red
    assert green[1] > 180 and green[0] < 80 and green[2] < 80, green
    weight = sample["target_weight"]
    np.testing.assert_array_equal(weight[:5], 0)
    assert weight[5:].sum() == (11 if layout == "lspet" else 12)
    if layout == "lspet":
        assert weight[COCO_L_ELBOW] == 0
    else:
        assert weight[COCO_R_KNEE] == 1
    # training samples work too (augmentation, flip of the COCO pairs)
    train = LspDataset(mat, images, input_size=(128, 96), train=True,
                       aug={"flip_prob": 1.0, "half_body_prob": 0.0, "rot_prob": 0.0,
                            "scale_factor": 0.0})
    flipped = train[0]
    assert flipped["flipped"]
    # mirrored: the person's left wrist is now the green disc
    mirrored = _rgb_at(flipped, flipped["keypoints"][COCO_L_WRIST])
    assert mirrored[1] > 180 and mirrored[0] < 80, mirrored


def test_split_rule(lsp_set, tmp_path):
    _, mat, images = lsp_set
    assert [in_split(n, "val") for n in (19, 20, 40, 41)] == [False, True, True, False]
    assert in_split(7, "train") and in_split(7, None) and in_split(20, "all")
    val = LspDataset(mat, images, split="val", codec=None)
    train = LspDataset(mat, images, split="train", codec=None)
    everything = LspDataset(mat, images, split="all", codec=None)
    assert [r["image_id"] for r in val.records] == [20]
    assert 20 not in [r["image_id"] for r in train.records]
    assert len(train) + len(val) == len(everything) == N - 1
    # the rule does not depend on which images are present
    (images / next(images.glob("im*20.jpg")).name).unlink()
    assert len(LspDataset(mat, images, split="val", codec=None)) == 0
    assert len(LspDataset(mat, images, split="train", codec=None)) == len(train)
    # indices: entries of the file (0-based), combined with the split
    assert [r["image_id"] for r in LspDataset(mat, images, indices=[0, 1, 2, 5],
                                              codec=None).records] == [1, 2, 6]
    with pytest.raises(LgmposeError, match="split"):
        LspDataset(mat, images, split="test")


def test_lsp_to_coco_loads_with_pycocotools(lsp_set, tmp_path):
    from pycocotools.coco import COCO

    from lgmpose.data.coco import CocoKeypointDataset

    _, mat, images = lsp_set
    out = lsp_to_coco(mat, images, tmp_path / "out" / "lsp.json")
    assert out == tmp_path / "out" / "lsp.json"
    coco = COCO(str(out))
    assert len(coco.getImgIds()) == len(coco.getAnnIds()) == N - 1
    assert coco.imgs[1]["width"] == W and coco.imgs[1]["height"] == H
    ann = coco.loadAnns(coco.getAnnIds(imgIds=[1]))[0]
    keypoints = np.array(ann["keypoints"]).reshape(17, 3)
    assert set(keypoints[:, 2]) <= {0, 2} and ann["num_keypoints"] == (keypoints[:, 2] > 0).sum()
    np.testing.assert_allclose(keypoints[COCO_L_WRIST, :2], _pose(1)[L_WRIST], atol=0.01)
    assert coco.cats[1]["name"] == "person" and len(coco.cats[1]["keypoints"]) == 17
    assert len(coco.cats[1]["skeleton"]) > 0
    # the COCO dataset reads it back to the same keypoints
    back = CocoKeypointDataset(out, images, codec=None)
    direct = LspDataset(mat, images, codec=None)
    assert len(back) == len(direct)
    np.testing.assert_allclose(back.records[0]["keypoints"], direct.records[0]["keypoints"],
                               atol=0.01)
    val = json.loads(lsp_to_coco(mat, images, tmp_path / "val.json", split="val").read_text())
    assert [image["id"] for image in val["images"]] == [20]


def test_pck_of_the_ground_truth_and_of_a_shift():
    keypoints = np.zeros((17, 2))
    for lsp_index, coco_index in enumerate(LSP_TO_COCO):
        if coco_index >= 0:
            keypoints[coco_index] = _pose(1)[lsp_index]
    records = [{"keypoints": keypoints, "keypoints_visible": np.r_[np.zeros(5), np.ones(12)]}]
    gt = np.stack([r["keypoints"] for r in records])
    assert lsp_pck(gt, records)["PCK"] == 100.0
    torso = np.linalg.norm(gt[0, 5] - gt[0, 12])   # both diagonals are equally long here
    shifted = gt + [0.0, 0.3 * torso]
    result = lsp_pck(shifted, records)
    assert result["PCK"] == 0.0 and result["persons"] == 1 and result["excluded"] == 0


def test_mixed_coco_and_lsp_sources_build(tmp_path):
    from lgmpose.engine import builders
    from lgmpose.engine.config import load_config
    from lgmpose.engine.config_types import replace

    data = write_dataset(tmp_path / "coco")
    _write(tmp_path / "coco" / "lspet", "lspet")
    loaded = load_config(write_config(tmp_path / "cfg.yaml", data))

    def with_data(**changes):
        return replace(loaded, data=replace(loaded.data, **changes))

    coco_source = dict(loaded.data.train)
    lsp_train = {"dataset": "lsp", "mat_file": "lspet/joints.mat", "img_dir": "lspet/images",
                 "split": "train"}
    cfg = with_data(train=[coco_source, lsp_train])
    metainfo, codec = builders.build_metainfo(cfg), builders.build_codec(cfg)
    dataset = builders.build_train_dataset(cfg, None, codec, metainfo)
    coco_part, lsp_part = dataset.parts
    assert type(lsp_part).__name__ == "LspDataset" and len(lsp_part) == N - 2
    assert len(dataset) == len(coco_part) + N - 2
    sample = dataset.get_sample(len(dataset) - 1, np.random.default_rng(0))
    assert sample["heatmaps"].shape == (17, 16, 16) and sample["index"] == len(dataset) - 1
    meta = builders.checkpoint_meta(cfg, metainfo, codec)
    assert meta["train_sources"][1] == "lspet/joints.mat"
    # an lsp validation set: PCK of the torso
    cfg = with_data(train=[coco_source, lsp_train],
                    val={"dataset": "lsp", "mat_file": "lspet/joints.mat",
                         "img_dir": "lspet/images", "split": "val"})
    assert builders.main_metric(cfg) == "PCK" and builders.boxes_label(cfg) == "GT boxes"
    val = builders.build_val_dataset(cfg, None, codec, metainfo)
    results = [{"index": i, "keypoints": r["keypoints"]} for i, r in enumerate(val.records)]
    assert builders.validation_metrics(cfg, val, results, metainfo, None, "gt")["PCK"] == 100.0
    with pytest.raises(LgmposeError, match="COCO only"):
        builders.build_val_dataset(cfg, None, codec, metainfo, boxes=str(tmp_path / "cfg.yaml"))
    # an lsp source needs mat_file, not ann_file
    cfg = with_data(train=[coco_source, {"dataset": "lsp", "img_dir": "lspet/images"}])
    with pytest.raises(LgmposeError, match="mat_file"):
        builders.build_train_dataset(cfg, None, codec, metainfo)
    cfg = with_data(train=[{"dataset": "lsp", "mat_file": "nowhere.mat"}])
    with pytest.raises(LgmposeError, match="nowhere.mat"):
        builders.build_train_dataset(cfg, None, codec, metainfo)
    cfg = with_data(train=[{"dataset": "leeds", "mat_file": "lspet/joints.mat"}])
    with pytest.raises(LgmposeError, match="leeds"):
        builders.build_train_dataset(cfg, None, codec, metainfo)


def test_bad_mat_files(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    cases = {
        "missing.mat": ("does not exist", None),
        "garbage.mat": ("not a readable MATLAB file", b"this is not a mat file at all" * 10),
        "other.mat": ("no variable 'joints'", {"points": np.zeros((14, 3, 2))}),
        "shape.mat": (r"shape \(14, 2, 5\)", {"joints": np.zeros((14, 2, 5))}),
        "text.mat": ("not a numeric array", {"joints": "fourteen joints"}),
    }
    for name, (problem, content) in cases.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            savemat(str(path), content)
        with pytest.raises(LgmposeError, match=problem) as info:
            LspDataset(path, images)
        assert name in str(info.value)
    mat, _ = _write(tmp_path / "good", "lspet")
    with pytest.raises(LgmposeError, match="nowhere"):
        load_lsp(mat, tmp_path / "nowhere")
    with pytest.raises(LgmposeError, match="17 keypoints|COCO-17"):
        LspDataset(mat, tmp_path / "good" / "images", metainfo="mpii")


def test_real_lspet(shared_data, caplog):
    root = shared_data / "lspet"
    if not (root / "joints.mat").is_file():
        pytest.skip("LSPET is not in the shared data")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        records = load_lsp(root / "joints.mat", root / "images")
    assert records.layout == "lspet" and len(records) == 9000
    assert (records.total, records.missing) == (10000, 1000)
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(messages) == 1 and "1000 of 10000" in messages[0]
    present = {int(p.stem[2:]) for p in (root / "images").glob("im*.jpg")}
    assert {r["image_id"] for r in records} == present
    val = LspDataset(root / "joints.mat", root / "images", split="val", codec=None)
    assert {r["image_id"] for r in val.records} == {n for n in present if n % 20 == 0}
    sample = val[0]
    assert sample["image"].shape == (3, 256, 192) and sample["keypoints_visible"][:5].sum() == 0
