"""The experiment configs: every one loads by path (its ``_base_`` chain resolving beside it or to
the package's configs), the package's flat recipe of the bundled model is exactly the last stage's
chain, and the ablation configs build the networks the training history compares."""
from __future__ import annotations

from pathlib import Path

import yaml

from lgmpose.engine.config import CONFIG_DIR, load_config
from lgmpose.engine.config_types import Config, replace

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _without_meta(cfg: Config) -> Config:
    return replace(cfg, meta={})


def test_every_experiment_config_loads_by_path():
    paths = sorted(CONFIGS.glob("*.yaml"))
    assert len(paths) >= 39
    for path in paths:
        assert load_config(path).meta["config_file"] == path.name
    assert not {p.name for p in paths} & {p.name for p in CONFIG_DIR.glob("*.yaml")}


def test_the_shipped_recipe_is_the_last_stage_flattened():
    """``lgmpose/configs/bundled_256x192.yaml`` states every value of stage 29's chain
    (``everyday_256x192_stage29.yaml`` on ``everyday_256x192.yaml`` on ``coco_256x192.yaml`` on
    the defaults), no more, no less."""
    flat = load_config("bundled_256x192")
    chain = load_config(CONFIGS / "everyday_256x192_stage29.yaml")
    assert _without_meta(flat) == _without_meta(chain)
    assert "_base_" not in yaml.safe_load((CONFIG_DIR / "bundled_256x192.yaml").read_text())


def test_ablation_configs_build_the_networks_the_docs_compare():
    from lgmpose.engine import builders

    params = {"ablation_lgm_pose": 368_271, "ablation_lgm_design": 684_327,
              "ablation_lgm_wide": 930_023, "ablation_lite_hrnet_18": 1_130_769,
              "ablation_mobilenetv2_sb": 9_569_809}
    recipes = set()
    for name, expected in params.items():
        cfg = load_config(CONFIGS / f"{name}.yaml")
        model = builders.build_model(cfg, builders.build_metainfo(cfg))
        assert sum(p.numel() for p in model.parameters()) == expected, name
        assert model.model_config["heatmap_norm"] == "softmax", name
        t = cfg.train
        recipes.add((t.loss, t.optimizer, t.lr, t.lr_policy, t.epochs, t.batch_size,
                     str(cfg.data.train), str(cfg.data.aug)))
    assert len(recipes) == 1   # only the network and the number of iterations differ
