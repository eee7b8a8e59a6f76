import json

import yaml

from lgmpose.cli import main


def test_direct_options(shared_data, capsys):
    root = shared_data / "coco-mini"
    assert main(["bench-data", "--ann", str(root / "annotations" / "person_keypoints_val2017.json"),
                 "--images", str(root / "val2017"), "--workers", "0", "--samples", "16",
                 "--batch-size", "8", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["persons"] == 68 and report["runs"][0]["samples"] == 16
    assert report["runs"][0]["samples_per_s"] > 0


def test_config_data_section(shared_data, tmp_path, capsys):
    config = {
        "data": {"dataset": "mpii", "metainfo": "mpii", "root": str(shared_data / "mmpose-samples"),
                 "train": {"ann_file": "mpii/test_mpii.json", "img_dir": "mpii"},
                 "input_size": [256, 256], "heatmap_size": [64, 64], "workers": 1,
                 "aug": {"flip_prob": 0.5, "half_body_prob": 0.0, "rot_factor": 30.0}},
        "codec": {"name": "udp", "sigma": 2.0},
    }
    path = tmp_path / "mpii.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["bench-data", str(path), "--samples", "8", "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    assert "mpii train (5 persons)" in out and "workers  1" in out and "samples/s" in out


def test_missing_inputs(capsys, tmp_path):
    assert main(["bench-data"]) == 2
    assert "--ann FILE --images DIR" in capsys.readouterr().err
    assert main(["bench-data", "--ann", str(tmp_path / "a.json"), "--images", str(tmp_path)]) == 2
    assert "a.json" in capsys.readouterr().err


def test_shipped_config_with_several_training_sets(shared_data, capsys):
    # coco_mini_256x192 trains on two annotation files; bench-data loads what training loads.
    assert main(["bench-data", "coco_mini_256x192", "--data-root", str(shared_data),
                 "--workers", "0", "--samples", "8", "--batch-size", "4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["persons"] == 86 + 12 and report["augment"] is True
