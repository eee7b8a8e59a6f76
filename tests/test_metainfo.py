import numpy as np
import pytest
import yaml

from lgmpose.data.metainfo import load_metainfo
from lgmpose.errors import LgmposeError


def test_coco_metainfo():
    meta = load_metainfo("coco")
    assert meta.num_keypoints == 17 and meta.name == "coco"
    assert meta.keypoint_names[0] == "nose"
    assert meta.flip_indices == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    np.testing.assert_allclose(meta.sigmas[:3], [0.026, 0.025, 0.025], rtol=1e-6)
    assert meta.sigmas.dtype == np.float32 and meta.joint_weights.shape == (17,)
    assert len(meta.skeleton) == 19 and len(meta.skeleton_colors) == 19
    assert meta.upper_body_ids == list(range(11)) and meta.lower_body_ids == list(range(11, 17))
    assert len(meta.keypoint_colors) == 17


def test_mpii_metainfo():
    meta = load_metainfo("mpii")
    assert meta.num_keypoints == 16
    assert meta.flip_indices == [5, 4, 3, 2, 1, 0, 6, 7, 8, 9, 15, 14, 13, 12, 11, 10]
    assert meta.keypoint_names[6] == "pelvis" and meta.keypoint_names[9] == "head_top"
    assert set(meta.upper_body_ids) | set(meta.lower_body_ids) == set(range(16))


def test_flip_indices_are_an_involution():
    for name in ("coco", "mpii"):
        meta = load_metainfo(name)
        flip = np.array(meta.flip_indices)
        assert np.array_equal(flip[flip], np.arange(meta.num_keypoints))


def _write(tmp_path, doc):
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


CUSTOM = {
    "name": "three",
    "keypoints": [{"name": "head", "type": "upper"}, "left_hand", "right_hand"],
    "flip_pairs": [["left_hand", "right_hand"]],
    "skeleton": [["head", "left_hand"], {"link": [0, 2], "color": [255, 0, 0]}],
    "sigmas": [0.05, 0.06, 0.06],
}


def test_custom_metainfo(tmp_path):
    meta = load_metainfo(_write(tmp_path, CUSTOM))
    assert meta.num_keypoints == 3 and meta.flip_indices == [0, 2, 1]
    assert meta.skeleton == [(0, 1), (0, 2)] and meta.skeleton_colors[1] == (255, 0, 0)
    assert meta.joint_weights.tolist() == [1.0, 1.0, 1.0]
    assert load_metainfo(meta.to_dict()).flip_indices == meta.flip_indices


@pytest.mark.parametrize("change, message", [
    ({"sigmas": [0.05, 0.06]}, "'sigmas' must have one value per keypoint: 3 keypoints, got 2"),
    ({"sigmas": None}, "'sigmas' is missing"),
    ({"joint_weights": [1, 1, 1, 1]}, "'joint_weights' must have one value per keypoint"),
    ({"flip_pairs": [["left_hand", "right_foot"]]}, "unknown keypoint 'right_foot'"),
    ({"flip_pairs": [[1, 5]]}, "the file has 3 keypoints"),
    ({"flip_pairs": [[1, 2], [2, 0]]}, "at most one pair"),
    ({"skeleton": [[0, 7]]}, "skeleton link"),
])
def test_invalid_metainfo_is_refused(tmp_path, change, message):
    doc = dict(CUSTOM, **change)
    if doc["sigmas"] is None:
        del doc["sigmas"]
    with pytest.raises(LgmposeError, match="custom.yaml") as info:
        load_metainfo(_write(tmp_path, doc))
    assert message in str(info.value)


def test_unknown_name():
    with pytest.raises(LgmposeError, match="not a built-in name"):
        load_metainfo("no_such_dataset")
