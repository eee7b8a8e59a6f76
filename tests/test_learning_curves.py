import json

from lgmpose.tools.learning_curves import main, read_curve


def _run(tmp_path, name, aps):
    work = tmp_path / name
    work.mkdir()
    (work / "config.yaml").write_text("train:\n  batch_size: 8\n")
    lines = [{"epoch": e + 1, "iters": 10, **({"val/AP": ap} if ap is not None else {})}
             for e, ap in enumerate(aps)]
    (work / "log.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return work


def test_points_are_crops_seen_at_each_validation(tmp_path):
    work = _run(tmp_path, "a", [None, 0.1, None, 0.3])
    assert read_curve(work) == [(160, 0.1), (320, 0.3)]


def test_a_continuing_run_starts_after_the_given_crops(tmp_path, capsys):
    work = _run(tmp_path, "b", [0.2])
    assert main([f"second={work}@1000"]) == 0
    assert "| second | 1,080 | 0.2000 |" in capsys.readouterr().out
    assert main([f"second={work}@many"]) == 2
    assert "crop count" in capsys.readouterr().err
