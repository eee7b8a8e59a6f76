from pathlib import Path

import pytest
import yaml

from lgmpose.engine.config import CONFIG_DIR, dump_config, load_config
from lgmpose.engine.config_types import Config, parse_config
from lgmpose.errors import LgmposeError

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments" / "configs"


def test_every_config_parses_and_round_trips():
    files = sorted(CONFIG_DIR.glob("*.yaml")) + sorted(EXPERIMENTS.glob("*.yaml"))
    for path in files:
        typed = load_config(path)
        assert isinstance(typed, Config)
        plain = typed.to_dict()
        assert parse_config(plain) == typed, path.name
        # the file format: plain YAML types only, sections in the order of DEFAULTS
        assert yaml.safe_load(dump_config(typed)) == plain, path.name
        assert list(plain) == ["model", "data", "codec", "train", "test", "meta"]


def test_sections_are_attributes():
    typed = load_config("coco_384x288")
    assert typed.data.input_size == (384, 288) and typed.data.heatmap_size == (96, 72)
    assert typed.codec.sigma == 3.0 and typed.model.name == "lgm_pose"
    assert typed.train.lr_steps == (170, 200) and typed.test.flip is True
    with pytest.raises(AttributeError):
        typed.train.lr = 1.0  # frozen


def test_to_dict_is_a_copy():
    typed = load_config("mpii_256x256")
    plain = typed.to_dict()
    plain["data"]["train"]["split"] = "changed"
    plain["model"]["width"] = 2.0
    assert "split" not in typed.data.train and "width" not in typed.model.options


@pytest.mark.parametrize("section, key, value, words", [
    ("train", "lr", "fast", "train.lr must be a number"),
    ("train", "amp", 1, "train.amp must be true or false"),
    ("test", "batch_size", 2.5, "test.batch_size must be an integer"),
    ("train", "learning_rate", 0.1, "unknown key train.learning_rate"),
    ("data", "input_size", [256], r"data.input_size must be \[height, width\]"),
])
def test_wrong_types_and_unknown_keys_are_refused(section, key, value, words):
    cfg = load_config("coco_256x192").to_dict()
    cfg[section][key] = value
    with pytest.raises(LgmposeError, match=words):
        parse_config(cfg)
