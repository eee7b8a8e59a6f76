"""``facing:`` on a training source keeps the people turned that way (drawn more often when the
source is listed twice)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from lgmpose.engine import builders
from lgmpose.engine.config import load_config
from lgmpose.engine.config_types import replace
from lgmpose.errors import LgmposeError
from synthetic_coco import write_config, write_dataset



def _turn_away(annotation):
    points = np.asarray(annotation["keypoints"], float).reshape(17, 3)
    x0, _, w, _ = annotation["bbox"]
    labelled = points[:, 2] > 0
    points[labelled, 0] = 2 * x0 + w - points[labelled, 0]
    annotation["keypoints"] = points.reshape(-1).round(2).tolist()


@pytest.fixture
def turned(tmp_path):
    """The synthetic set with every other person turned away: the root, the ids of those turned
    away, and the ids of those whose shoulders and hips are all labelled (whose facing can be
    told)."""
    root = write_dataset(tmp_path / "data", num_images=5, persons_per_image=2)
    path = root / "annotations" / "train.json"
    data = json.loads(path.read_text())
    for annotation in data["annotations"][::2]:
        _turn_away(annotation)
    path.write_text(json.dumps(data))
    told = {a["id"] for a in data["annotations"]
            if all(a["keypoints"][3 * k + 2] > 0 for k in (5, 6, 11, 12))}
    return root, {a["id"] for a in data["annotations"][::2]}, told


def _config(tmp_path, root, *facings):
    path = write_config(tmp_path / "c.yaml", root)
    raw = yaml.safe_load(path.read_text())
    base = raw["data"]["train"]
    raw["data"]["train"] = [dict(base, **({"facing": f} if f else {})) for f in facings]
    path.write_text(yaml.safe_dump(raw))
    return load_config(str(path))


def _ids(dataset):
    return {int(r["ann_id"]) for r in dataset.records}


def test_facing_keeps_the_people_turned_that_way(tmp_path, turned):
    root, away, told = turned
    from lgmpose.codecs import build_codec
    from lgmpose.data.metainfo import load_metainfo

    cfg = _config(tmp_path, root, None, "away", "towards")
    codec = build_codec("msra", input_size=(64, 64), heatmap_size=(16, 16))
    whole, back, front = builders.build_train_dataset(cfg, None, codec, load_metainfo("coco")).parts
    everyone = _ids(whole)
    assert len(everyone) == 10 and 0 < len(told & away) < len(told)
    # a person whose shoulder or hip is unlabelled cannot be told and is in neither
    assert _ids(back) == told & away
    assert _ids(front) == told - away


def test_a_bad_facing_value_is_refused_with_the_source(tmp_path, turned):
    root = turned[0]
    with pytest.raises(LgmposeError, match=r"facing 'sideways' in 'annotations/train.json'"):
        from lgmpose.engine.config_datasets import sources
        sources(_config(tmp_path, root, "sideways"), "train")


def test_a_facing_filter_that_keeps_nobody_says_so(tmp_path):
    root = write_dataset(tmp_path / "data", num_images=2, persons_per_image=1)
    from lgmpose.codecs import build_codec
    from lgmpose.data.metainfo import load_metainfo

    cfg = _config(tmp_path, root, "away")
    codec = build_codec("msra", input_size=(64, 64), heatmap_size=(16, 16))
    with pytest.raises(LgmposeError, match="no person faces away"):
        builders.build_train_dataset(cfg, None, codec, load_metainfo("coco"))


def test_a_run_over_several_sources_lists_each_with_its_facing_and_weight(tmp_path, turned, capsys):
    from lgmpose.engine.train import train

    root, away, told = turned
    cfg = _config(tmp_path, root, None, "away")
    whole, back = cfg.data.train
    cfg = replace(cfg, data=replace(cfg.data, train=[whole, {**back, "weight": 2}]),
                  train=replace(cfg.train, epochs=1, max_iters_per_epoch=1, val_interval=0))
    train(cfg, tmp_path / "run", progress=False)
    err = capsys.readouterr().err
    assert "annotations/train.json: 10 persons x 1" in err
    assert f"annotations/train.json (facing away): {len(told & away)} persons x 2" in err
