import json

import pytest

from lgmpose.cli import main as cli
from lgmpose.errors import LgmposeError
from lgmpose.plots.learning_curves import main, read_curve


def _run(tmp_path, name, aps, seconds=60.0):
    work = tmp_path / name
    work.mkdir()
    (work / "config.yaml").write_text("train:\n  batch_size: 8\n")
    lines = [{"epoch": e + 1, "iters": 10, "epoch_time_s": seconds,
              **({"val/AP": ap} if ap is not None else {})} for e, ap in enumerate(aps)]
    (work / "log.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return work


def test_points_are_crops_seen_at_each_validation(tmp_path):
    work = _run(tmp_path, "a", [None, 0.1, None, 0.3])
    assert read_curve(work) == [(160, 0.1), (320, 0.3)]


def test_minutes_axis_sums_the_epochs_training_time(tmp_path):
    work = _run(tmp_path, "a", [None, 0.1, None, 0.3], seconds=90.0)
    assert read_curve(work, x="minutes") == [(3.0, 0.1), (6.0, 0.3)]


def test_a_continuing_run_starts_after_the_given_crops(tmp_path, capsys):
    work = _run(tmp_path, "b", [0.2])
    assert main([f"second={work}@1000"]) == 0
    assert "| second | 1,080 | 0.2000 |" in capsys.readouterr().out
    assert main([f"second={work}@many"]) == 2
    assert "crop count" in capsys.readouterr().err


def test_the_cli_command_draws_a_minutes_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    a, b = _run(tmp_path, "a", [0.1, 0.2]), _run(tmp_path, "b", [0.3], seconds=30.0)
    png = tmp_path / "curves.png"
    assert cli(["curves", f"small={a}", f"wide={b}", "--x", "minutes", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "| run | training minutes | AP |" in out
    assert "| small | 2.0 | 0.2000 |" in out and "| wide | 0.5 | 0.3000 |" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_broken_log_is_named(tmp_path, capsys):
    work = _run(tmp_path, "a", [0.1])
    (work / "log.jsonl").write_text('{"epoch": 1, "iters": 3}\nnot json\n')
    with pytest.raises(LgmposeError, match=r"log\.jsonl' line 2: not JSON"):
        read_curve(work)
    assert cli(["curves", str(tmp_path / "missing")]) == 2
    assert "is not a training work dir" in capsys.readouterr().err

def test_every_curve_is_drawn_past_twenty(tmp_path, monkeypatch):
    # tab20 has 20 colours; the 21st curve was once dropped without a word
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from lgmpose.plots.learning_curves import plot_curves

    drawn = {}
    real_savefig = Figure.savefig

    def savefig(fig, *args, **kwargs):
        lines = fig.axes[0].get_lines()
        drawn["labels"] = [line.get_label() for line in lines]
        drawn["styles"] = {(line.get_color(), line.get_marker()) for line in lines}
        return real_savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    curves = {f"run {i}": [(1000.0 * i, 0.01 * i)] for i in range(23)}
    plot_curves(curves, "AP", "crops", tmp_path / "many.png")
    assert drawn["labels"] == list(curves)
    assert len(drawn["styles"]) == 23          # no two curves look alike
