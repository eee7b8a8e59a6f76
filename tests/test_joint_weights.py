"""``data.joint_weights``: per-keypoint loss weights of the training targets, from the config."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from lgmpose.data.metainfo import load_metainfo
from lgmpose.engine import builders
from lgmpose.engine.config import load_config
from lgmpose.errors import LgmposeError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_coco import write_config, write_dataset  # noqa: E402


def _target_weights(tmp_path: Path, joint_weights) -> np.ndarray:
    data = write_dataset(tmp_path / "data", num_images=1, persons_per_image=1)
    overrides = [] if joint_weights is None else [f"data.joint_weights={joint_weights}"]
    cfg = load_config(write_config(tmp_path / "cfg.yaml", data), overrides)
    metainfo = builders.build_metainfo(cfg)
    codec = builders.build_codec(cfg)
    dataset = builders.build_train_dataset(cfg, None, codec, metainfo)
    return dataset.get_sample(0, np.random.default_rng(0))["target_weight"].reshape(-1)


def test_default_weighs_every_visible_keypoint_one(tmp_path):
    assert set(np.unique(_target_weights(tmp_path, None))) <= {0.0, 1.0}


def test_a_list_multiplies_the_visible_keypoints_weights(tmp_path):
    face_twice = [2.0] * 5 + [1.0] * 12
    plain = _target_weights(tmp_path / "a", None)
    weighted = _target_weights(tmp_path / "b", face_twice)
    assert plain[:5].sum() > 0, "the synthetic person shows no face point"
    np.testing.assert_allclose(weighted, plain * np.asarray(face_twice))


def test_metainfo_uses_the_datasets_own_joint_weights(tmp_path):
    plain = _target_weights(tmp_path / "a", None)
    weighted = _target_weights(tmp_path / "b", "metainfo")
    coco = load_metainfo("coco").joint_weights
    np.testing.assert_allclose(weighted, plain * coco)
    assert weighted.max() == pytest.approx(1.5)   # wrists and ankles, as MMPose weighs them


@pytest.mark.parametrize("bad", [[1.0] * 16, [1.0] * 16 + [-1.0], "heavy"])
def test_bad_joint_weights_are_refused_naming_the_key(tmp_path, bad):
    with pytest.raises(LgmposeError, match="data.joint_weights"):
        _target_weights(tmp_path, bad)
