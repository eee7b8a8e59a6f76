"""The soak of ``lgmpose serve`` (a short one): every kind of request gets its one expected
answer, hung-up uploads leave nothing counted in flight, and a SIGTERM with requests in flight
ends them cleanly and the process with status 0."""
from __future__ import annotations

import argparse
import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("python_multipart", reason="python-multipart not installed")

from lgmpose.cli import main as cli_main  # noqa: E402
from lgmpose.serve.soak import request_kinds, soak_from_args  # noqa: E402


def test_request_mix_covers_every_answer():
    kinds = request_kinds(1.0)
    assert sum(k.share for k in kinds) == pytest.approx(1.0)
    assert {k.expected for k in kinds} == {200, 400, 413, 415}


def test_short_soak_answers_as_expected_and_stops_cleanly(tmp_path, capsys):
    out = tmp_path / "soak.json"
    args = argparse.Namespace(requests=120, clients=4, max_seconds=300.0, hang_ups=4,
                              max_mb=0.5, seed=1, json_out=str(out))
    status = soak_from_args(args, ["--threads", "1"])
    report = json.loads(out.read_text())
    printed = capsys.readouterr().out
    assert "SIGTERM with" in printed and "unexpected answers: 0" in printed
    assert status == 0, printed
    assert report["requests_sent"] == 120 and not report["stopped_by_time"]
    for name, row in report["by_kind"].items():
        assert row["unexpected"] == 0, (name, row)
    assert report["hang_ups_mid_upload"] == 4
    assert report["health_after"]["in_flight"] == 0
    term = report["sigterm"]
    assert term["exit_status"] == 0 and term["all_clean"], term
    assert set(report["rss_mb"]) >= {"start", "middle", "end"}


def test_soak_options_are_checked(capsys):
    assert cli_main(["serve", "--soak", "--requests", "0"]) == 2
    assert "--requests" in capsys.readouterr().err
