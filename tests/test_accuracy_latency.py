import json

import pytest

from lgmpose.errors import LgmposeError
from lgmpose.plots.accuracy_latency import accuracies, latency_ratios, main, pair_up


def _bench(tmp_path, name, ratios):
    path = tmp_path / name
    path.write_text(json.dumps([{"model": m, "ratio_vs_peer": r, "peer": "movenet_int8"}
                                for m, r in ratios.items()] + [{"model": "torch_row"}]))
    return str(path)


def _accuracy(tmp_path, rows, kind="coco", **dataset):
    path = tmp_path / "acc.json"
    path.write_text(json.dumps({"dataset": {"kind": kind, **dataset}, "rows": rows}))
    return str(path)


def test_ratio_is_the_median_over_runs_and_rows_without_a_ratio_are_ignored(tmp_path):
    files = [_bench(tmp_path, f"b{i}.json", {"ours": r, "movenet_int8": 1.0})
             for i, r in enumerate([0.5, 0.9, 0.6])]
    ratios, peer = latency_ratios(files)
    assert ratios == {"ours": 0.6, "movenet_int8": 1.0} and peer == "movenet_int8"


def test_models_are_paired_by_name_or_alias_and_the_rest_listed(tmp_path):
    scores, label = accuracies(_accuracy(tmp_path, [{"name": "ours", "AP": 0.3},
                                                    {"name": "movenet_file", "AP": 0.4},
                                                    {"name": "thunder", "AP": 0.5}]))
    assert "AP" in label
    points, alone = pair_up({"ours": 0.5, "movenet_int8": 1.0, "hrnet": 3.0}, scores,
                            {"movenet_file": "movenet_int8"})
    assert sorted(points) == [("movenet_int8", 1.0, 0.4), ("ours", 0.5, 0.3)]
    assert alone == ["thunder (accuracy only)", "hrnet (latency only)"]


def test_lsp_reports_use_pck(tmp_path):
    scores, label = accuracies(_accuracy(tmp_path, [{"name": "ours", "PCK": 44.1}], kind="lsp"))
    assert scores == {"ours": 44.1} and label == "LSP PCK@0.2"
    # the label states the threshold the report was scored at
    _, label = accuracies(_accuracy(tmp_path, [{"name": "ours", "PCK": 60.1}], kind="lsp",
                                    threshold=0.5))
    assert label == "LSP PCK@0.5"


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(LgmposeError, match="not a `lgmpose bench --json` file"):
        latency_ratios([_accuracy(tmp_path, [])])
    assert main(["--bench", str(tmp_path / "missing.json"), "--accuracy", "x.json"]) == 2
    assert "missing.json" in capsys.readouterr().err


def test_plot_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    bench = _bench(tmp_path, "b.json", {"ours": 0.5, "movenet_int8": 1.0})
    acc = _accuracy(tmp_path, [{"name": "ours", "AP": 0.3}, {"name": "movenet_int8", "AP": 0.35}])
    out = tmp_path / "plot.png"
    assert main(["--bench", bench, "--accuracy", acc, "--plot", str(out)]) == 0
    assert out.stat().st_size > 1000
