from pathlib import Path

import pytest
import yaml

from lgmpose.engine.config import (CONFIG_DIR, DEFAULTS, apply_overrides, load_config,
                                   parse_value, save_config)
from lgmpose.engine.config_types import replace
from lgmpose.errors import LgmposeError

REQUIRED = ["coco_256x192", "coco_384x288", "mpii_256x256",
            "lite_hrnet_18_coco_256x192", "mobilenetv2_sb_coco_256x192",
            "lite_hrnet_18_mpii_256x256", "mobilenetv2_sb_mpii_256x256"]


@pytest.mark.parametrize("text, value", [
    ("3", 3), ("2e-3", 2e-3), ("1.5", 1.5), ("true", True), ("null", None),
    ("[170, 200]", [170, 200]), ("gt", "gt"), ("a/b.json", "a/b.json"), ("", ""),
])
def test_parse_value_types(text, value):
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("name", REQUIRED)
def test_shipped_configs_follow_the_protocol(name):
    cfg = load_config(name)
    t = cfg.train
    assert t.optimizer == "adam" and t.lr == pytest.approx(2e-3)
    assert t.warmup_iters == 500 and t.warmup_ratio == pytest.approx(1e-3)
    assert t.lr_steps == (170, 200) and t.epochs == 210
    assert cfg.test.flip is True
    if "mpii" in name:
        assert t.batch_size == 32 and cfg.data.input_size == (256, 256)
        assert cfg.data.metainfo == "mpii"
    elif "384x288" in name:
        assert cfg.data.heatmap_size == (96, 72)
    else:
        assert t.batch_size == 64 and cfg.codec.sigma == 2.0
        assert cfg.data.input_size == (256, 192) and cfg.data.heatmap_size == (64, 48)
    expected_model = "lgm_pose" if name.startswith(("coco", "mpii")) else \
        name.split("_coco")[0].split("_mpii")[0]
    assert cfg.model.name == expected_model


def test_base_inheritance_and_overrides(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("train: {epochs: 7, lr: 1e-3}\ndata: {input_size: [64, 48]}\n")
    child = tmp_path / "child.yaml"
    child.write_text("_base_: base.yaml\ntrain: {epochs: 9}\n")
    cfg = load_config(child, ["train.lr=5e-4", "train.lr_steps=[1, 2]", "model.width=0.5",
                              "train.epochs=3"])
    assert cfg.train.epochs == 3
    assert cfg.train.lr == pytest.approx(5e-4)
    assert cfg.train.lr_steps == (1, 2)
    assert cfg.train.batch_size == 64             # from the defaults
    assert cfg.data.input_size == (64, 48)        # from the base
    assert cfg.model.options["width"] == 0.5      # model keys are free-form
    # an int given where a float is expected is widened
    assert apply_overrides(cfg.to_dict(), ["train.lr=1"])["train"]["lr"] == 1.0


@pytest.mark.parametrize("override, words", [
    ("train.epoch=3", "unknown key"),
    ("train.epochs=abc", "expected a number"),
    ("train.amp=3", "true/false"),
    ("train.lr_steps=5", "list"),
    ("noequals", "key=value"),
    ("train=3", "section"),
])
def test_bad_overrides_are_refused(override, words):
    with pytest.raises(LgmposeError, match=words):
        load_config("coco_256x192", [override])


def test_missing_and_broken_configs(tmp_path):
    with pytest.raises(LgmposeError, match="no such file"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {input_size: 256}\n")
    with pytest.raises(LgmposeError, match="input_size"):
        load_config(bad)
    loop = tmp_path / "loop.yaml"
    loop.write_text("_base_: loop.yaml\n")
    with pytest.raises(LgmposeError, match="loops"):
        load_config(loop)


@pytest.mark.parametrize("text, words", [
    ("train: {learning_rate: 0.1}\n", r"unknown key train\.learning_rate \(known here: .*lr,"),
    ("trian: {epochs: 3}\n", "unknown section 'trian'"),
    ("train: {lr: fast}\n", r"train\.lr must be a number, got 'fast'"),
    ("train: {amp: 1}\n", r"train\.amp must be true or false, got 1"),
    ("test: {batch_size: 2.5}\n", r"test\.batch_size must be an integer, got 2\.5"),
    ("train: {epochs: 0}\n", r"train\.epochs must be a positive integer, got 0"),
    ("codec: {sigma: wide}\n", r"codec\.sigma must be a number"),
    ("train: 3\n", r"train must be a section"),
    ("model: {name: 3}\n", r"model\.name is missing"),
])
def test_a_config_file_with_an_unknown_key_or_a_wrong_type_is_refused(tmp_path, text, words):
    """A config file is parsed once, by load_config: the error names the file and the key."""
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(LgmposeError, match=rf"^config '.*bad\.yaml': {words}"):
        load_config(path)


def test_lgmpose_train_names_the_unknown_key_before_it_starts(tmp_path, capsys):
    from lgmpose.cli import main

    path = tmp_path / "bad.yaml"
    path.write_text("_base_: coco_256x192.yaml\ntrain: {learning_rate: 0.1}\n")
    work = tmp_path / "run"
    assert main(["train", str(path), "--work-dir", str(work), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lgmpose train: error: config ") and err.count("\n") == 0
    assert "unknown key train.learning_rate" in err
    assert main(["train", "coco_256x192", "--set", "train.amp=yes please", "--work-dir",
                 str(work), "--no-progress"]) == 2
    assert "--set train.amp: expected true/false" in capsys.readouterr().err
    assert not work.exists()


def test_saved_config_reloads_identically(tmp_path):
    cfg = load_config("mpii_256x256", ["train.epochs=5"])
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again.meta == {"config_file": "config.yaml"}
    assert replace(again, meta=cfg.meta) == cfg
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["train"]["epochs"] == 5


def test_every_config_file_loads():
    names = sorted(p.stem for p in Path(CONFIG_DIR).glob("*.yaml"))
    assert set(REQUIRED) <= set(names)
    for name in names:
        load_config(name)


def _base_depth(path: Path) -> int:
    bases = yaml.safe_load(path.read_text()).get("_base_", [])
    bases = [bases] if isinstance(bases, str) else bases
    return max((1 + _base_depth(path.parent / base) for base in bases), default=0)


def test_shipped_configs_are_at_most_two_bases_deep():
    """What ships is what a user starts from: every file readable with at most two others."""
    depths = {p.stem: _base_depth(p) for p in Path(CONFIG_DIR).glob("*.yaml")}
    assert max(depths.values()) <= 2, depths
    assert depths["bundled_256x192"] == 0      # the bundled model's recipe, flat


def test_a_base_name_not_beside_the_config_is_a_shipped_config(tmp_path):
    """Configs kept outside the package (experiments/configs) build on the shipped ones by name;
    a file beside the config comes first."""
    child = tmp_path / "child.yaml"
    child.write_text("_base_: coco_256x192.yaml\ntrain: {epochs: 9}\n")
    cfg = load_config(child)
    assert cfg.train.epochs == 9 and cfg.train.warmup_iters == 500
    (tmp_path / "coco_256x192.yaml").write_text("train: {warmup_iters: 7}\n")
    assert load_config(child).train.warmup_iters == 7
    missing = tmp_path / "missing.yaml"
    missing.write_text("_base_: sub/coco_256x192.yaml\n")
    with pytest.raises(LgmposeError, match="cannot read"):
        load_config(missing)


def test_an_unknown_name_lists_the_shipped_configs():
    with pytest.raises(LgmposeError, match="coco_256x192.*by path"):
        load_config("real_people_256x192_stage18")


def test_dataset_source_options_can_be_added():
    cfg = load_config("mpii_256x256", ["data.train.split=train", "data.val.split=val"])
    assert cfg.data.train["split"] == "train" and cfg.data.val["split"] == "val"
    with pytest.raises(LgmposeError, match="unknown key"):
        load_config("mpii_256x256", ["data.nosuch=1"])


def test_renamed_threshold_keys_are_still_read(tmp_path):
    """Configs saved by earlier runs spell the thresholds `data.det_score_thr` and
    `test.vis_thr`; they load as `data.det_thr` and `test.rescore_thr`."""
    old = tmp_path / "old.yaml"
    old.write_text("data: {det_score_thr: 0.4}\ntest: {vis_thr: 0.25}\n")
    cfg = load_config(old)
    assert cfg.data.det_thr == 0.4 and "det_score_thr" not in cfg.to_dict()["data"]
    assert cfg.test.rescore_thr == 0.25 and "vis_thr" not in cfg.to_dict()["test"]
    assert load_config(old, ["test.vis_thr=0.1"]).test.rescore_thr == 0.1
    assert load_config("coco_256x192").test.rescore_thr == 0.2



def test_the_heatmap_size_is_derived_from_the_input_size(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("data: {input_size: [384, 288]}\n")
    assert load_config(config).data.heatmap_size == (96, 72)
    # older configs state it: accepted when it is the derived size, refused otherwise
    config.write_text("data: {input_size: [256, 256], heatmap_size: [64, 64]}\n")
    assert load_config(config).data.heatmap_size == (64, 64)
    config.write_text("data: {input_size: [256, 256], heatmap_size: [32, 32]}\n")
    with pytest.raises(LgmposeError, match="heatmap_size.*follows the input size"):
        load_config(config)


def test_the_base_config_states_only_what_differs_from_the_defaults():
    def same_leaves(stated, defaults, prefix=""):
        for key, value in stated.items():
            if isinstance(value, dict) and isinstance(defaults.get(key), dict):
                yield from same_leaves(value, defaults[key], prefix + key + ".")
            elif key in defaults and defaults[key] == value:
                yield prefix + key

    stated = yaml.safe_load((CONFIG_DIR / "coco_256x192.yaml").read_text())
    assert list(same_leaves(stated, DEFAULTS)) == []
