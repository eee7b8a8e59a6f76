import json

import pytest

from lgmpose.cli import main


def test_dark_reaches_the_required_ap_on_the_val_subset(shared_data, capsys):
    ann = shared_data / "coco-val2017-subset" / "person_keypoints_val2017_subset.json"
    assert main(["codec-check", "--ann", str(ann), "--codec", "dark", "--input-size", "256x192",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["persons"] == 1354
    assert result["AP"] >= 0.97
    assert set(result) >= {"AP", "AP50", "AP75", "APM", "APL", "AR"}


def test_table_for_several_codecs(shared_data, capsys):
    ann = shared_data / "coco-mini" / "annotations" / "person_keypoints_val2017.json"
    assert main(["codec-check", "--ann", str(ann), "--codec", "msra,udp"]) == 0
    out = capsys.readouterr().out
    assert "msra" in out and "udp" in out and "64x48" in out


def test_bad_input_is_one_line_error(tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    assert main(["codec-check", "--ann", str(path)]) == 2
    assert "broken.json" in capsys.readouterr().err
    assert main(["codec-check", "--ann", str(tmp_path / "missing.json")]) == 2
    with pytest.raises(SystemExit):
        main(["codec-check", "--ann", str(path), "--input-size", "256"])
